"""Take it home (issue 13, item 5): the reproduction notebook and the adapter's model card.

- the model card (adapter/README.md) has the Hub fields (library_name peft, base_model, tags) and the run's
  hyperparameters, trainable parameter count, loss curve and held-out score;
- `python -m workbench notebook RUN --out FILE.ipynb` writes a valid notebook with pinned versions, the seed, the
  inlined data and the documented MAX_STEPS variable;
- the generated notebook, executed by a real Jupyter kernel (nbclient) with MAX_STEPS=2 on a tiny model and tiny
  data, trains and scores (slow).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _make_run(runs_dir: Path, model: str, limit: int = 8, method_overrides: dict | None = None) -> Path:
    spec = yaml.safe_load((ROOT / "presets/recipes/lora-quick.yaml").read_text())
    spec["name"] = "take-home"
    spec["model"]["name"] = model
    spec["data"].update(limit=limit, max_length=96)
    spec["train"].update(max_steps=30, batch_size=2, warmup_steps=0, device="cpu", seed=7)
    spec["adapter"].update(method_overrides or {})
    d = runs_dir / "20260101-000000-abcdef"
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump(spec))
    return d


def _fake_finished(d: Path) -> None:
    """What a finished, scored run leaves behind (without training: the card reads only these files)."""
    from workbench.core.runstore.status import update_status
    update_status(d, status="done", run_id=d.name, step=30, max_steps=30, trainable_params=460_800,
                  total_params=134_975_808, train_loss=1.2345, eval_loss=0.9876)
    (d / "log.jsonl").write_text("".join(json.dumps({"step": s, "loss": 3.0 - s / 20}) + "\n" for s in range(1, 31))
                                 + json.dumps({"step": 30, "eval_loss": 0.9876}) + "\n")
    (d / "metrics.json").write_text(json.dumps({"metric": "json_match", "score": 0.62, "eval_loss": 0.51,
                                                "n_scored": 50, "n_loss": 50}))
    (d / "adapter").mkdir()
    (d / "adapter" / "adapter_config.json").write_text("{}")


def test_model_card_has_the_hub_fields_and_the_run(runs_dir):
    from huggingface_hub import ModelCard

    from workbench.core.export.model_card import write_model_card
    d = _make_run(runs_dir, "smollm2-135m-instruct")
    assert write_model_card(d) is None  # no adapter yet: no card
    _fake_finished(d)
    path = write_model_card(d)
    assert path == d / "adapter" / "README.md"
    card = ModelCard.load(path)
    assert card.data.library_name == "peft"
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert {"peft", "lora", "peft-workbench"} <= set(card.data.tags)
    assert card.data.pipeline_tag == "text-generation"
    text = card.text
    assert "## Hyperparameters" in text and "| rank r | `8` |" in text and "| lora_alpha | `16` |" in text
    assert "| target_modules | `['q_proj', 'v_proj']` |" in text and "| seed | `7` |" in text
    assert "**460,800** trainable of 134,975,808 parameters (0.341%)" in text
    assert "| step | training loss |" in text and "| 1 | 2.9500 |" in text and "| 30 | 1.5000 |" in text
    assert text.count("| 30 | 1.5000 |") == 1 and "| 30 | 0.9876 |" in text  # thinned curve, last step + held-out
    assert "| json_match | 0.620 | 50 |" in text
    assert "## Intended use" in text and "PeftModel.from_pretrained" in text


def test_model_card_of_a_local_tiny_model_has_no_fake_base_model(runs_dir, tiny_llama_dir):
    from huggingface_hub import ModelCard

    from workbench.core.export.model_card import write_model_card
    d = _make_run(runs_dir, tiny_llama_dir)
    _fake_finished(d)
    card = ModelCard.load(write_model_card(d))
    assert card.data.base_model is None and card.data.library_name == "peft"
    assert "Not scored" not in card.text  # metrics.json is there


def test_cli_writes_a_valid_notebook_with_the_run_inlined(runs_dir, tmp_path, capsys):
    import nbformat

    from workbench.cli import main
    d = _make_run(runs_dir, "smollm2-135m-instruct", limit=None)
    out = tmp_path / "nb" / "run.ipynb"
    assert main(["notebook", str(d), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    nb = nbformat.read(str(out), as_version=4)
    nbformat.validate(nb)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert 'MAX_STEPS = int(os.environ.get("WORKBENCH_NB_MAX_STEPS", 30))' in code
    assert "SEED = 7" in code and "LoraConfig(" in code and "r=8" in code and "target_modules=['q_proj', 'v_proj']" in code
    import peft
    import transformers
    assert f"'peft': '{peft.__version__}'" in code and f"'transformers': '{transformers.__version__}'" in code
    train = json.loads(code.split("TRAIN = ", 1)[1].split("\n", 1)[0])
    assert len(train) == 480 and train[0]["messages"][0]["role"] == "user"  # the shipped dataset, inlined
    assert "smollm2-135m-instruct" in code and "HuggingFaceTB/SmolLM2-135M-Instruct" in code
    assert "converts the GGUF" in text and "WORKBENCH_NB_MAX_STEPS" in text
    assert "def json_match" in code  # the dataset's metric, as a plain function
    # a run id under the runs folder works too; a missing run is one clear error line
    assert main(["notebook", d.name, "--out", str(tmp_path / "b.ipynb")]) == 0
    assert main(["notebook", "no-such-run"]) == 2
    assert "no-such-run" in capsys.readouterr().err


@pytest.mark.slow
def test_the_generated_notebook_trains_and_scores(runs_dir, tmp_path, tiny_llama_dir, monkeypatch):
    """Executed by a real kernel with MAX_STEPS=2 and 2 held-out prompts: it trains, evaluates both variants
    with the dataset metric and saves the adapter."""
    import nbformat
    from nbclient import NotebookClient

    from workbench.core.export.notebook import build_notebook
    d = _make_run(runs_dir, tiny_llama_dir, limit=4)
    nb = build_notebook(d)
    monkeypatch.setenv("WORKBENCH_NB_MAX_STEPS", "2")
    monkeypatch.setenv("WORKBENCH_NB_EVAL_LIMIT", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    work = tmp_path / "exec"
    work.mkdir()
    NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    nbformat.write(nb, str(work / "executed.ipynb"))
    outputs = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    result = json.loads(next(line for out in outputs for line in out.splitlines() if line.startswith('{"steps"')))
    assert result["steps"] == 2 and result["metric"] == "json_match"
    assert 0.0 <= result["base_score"] <= 1.0 and 0.0 <= result["adapter_score"] <= 1.0
    assert result["train_loss"] > 0
    joined = "\n".join(outputs)
    assert "4 training examples, 50 held-out examples" in joined
    assert "json_match on 2 held-out examples: base" in joined and "step  loss" in joined
    assert (work / "adapter" / "adapter_config.json").is_file()


def test_download_notebook_buttons_serve_only_this_sessions_runs(runs_dir):
    import gradio as gr

    from workbench.core.runstore import run_dirs as R
    from workbench.spec.settings import RunSpec
    from workbench.ui.handlers import takehome
    spec = RunSpec.from_yaml((ROOT / "presets/recipes/lora-quick.yaml").read_text())
    rid = R.create_run(spec, owner="me")
    path = Path(takehome.run_notebook(rid, "me"))
    assert path.name == f"reproduce-{rid}.ipynb" and path.is_file()
    with pytest.raises(gr.Error, match="another session"):
        takehome.run_notebook(rid, "someone-else")
    with pytest.raises(gr.Error, match="No run selected"):
        takehome.run_notebook("", "me")
    adapter = R.safe_run_dir(rid) / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    assert Path(takehome.adapter_notebook(str(adapter), "me")).is_file()  # Compare tab: the adapter's run
    with pytest.raises(gr.Error, match="not one of this session"):
        takehome.adapter_notebook(str(adapter), "someone-else")
    with pytest.raises(gr.Error, match="Pick an adapter"):
        takehome.adapter_notebook("", "me")


def test_the_notebooks_answers_for_a_prompt_learning_adapter_match_the_workbench(tiny_llama_dir, tmp_path):
    """The notebook's answer() (greedy by forward for prompt-learning adapters) gives what the Compare tab gives,
    for the adapter and for the base under disable_adapter()."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.core.adapter_factory import make_adapter
    from workbench.core.generation import answers as A
    from workbench.core.generation import variants as G
    from workbench.core.export.notebook import _EVAL
    adapter = make_adapter(tiny_llama_dir, tmp_path / "pt", "prompt_tuning")
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), adapter).eval()
    ns = {"torch": torch, "model": model, "tokenizer": tok, "USE_CHAT_TEMPLATE": True}
    exec(_EVAL.split("heldout = ")[0], ns)  # the notebook's helper functions
    vm = G.get_variants(tiny_llama_dir, [adapter])
    settings = A.GenSettings(max_new_tokens=6)
    text = vm.render("Write one word about the sea.")
    assert ns["answer"](text, 6) == A.generate(vm, "Write one word about the sea.", adapter, settings).text.strip()
    with model.disable_adapter():
        assert ns["answer"](text, 6) == A.generate(vm, "Write one word about the sea.", "base", settings).text.strip()

"""What a run costs the model: ``forgetting`` on general text (core/evaluation/forgetting.py) and ``adapter_mb``.

Tiny random Llama (2 layers, hidden 64, the SmolLM2 tokenizer): an untrained LoRA (B = 0) forgets exactly nothing,
a run trained hard on two examples of one repeated word forgets, and both numbers reach the run's status, its
forgetting.json, the experiment rows and the report."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.core.evaluation import forgetting as F
from workbench.core.runstore import run_dirs as runs
from workbench.spec.settings import RunSpec

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def short_text(tmp_path, monkeypatch):
    """The first two paragraphs of the general text stand in for all of it (the same code path, a tenth of the
    cost); a text of its own also keeps the base-loss cache of other tests out."""
    path = tmp_path / "general.txt"
    path.write_text("\n\n".join(F.general_text().strip().split("\n\n")[:2]) + "\n", encoding="utf-8")
    monkeypatch.setattr(F, "GENERAL_TEXT", path)
    return path


@pytest.fixture()
def knows_the_text(tmp_path, tokenizer, tiny_config_factory, short_text):
    """A tiny Llama fully trained on the (short) general text first: its base loss there is low, so training on
    anything else raises it (a base near its minimum on the text: any change of the model costs)."""
    import torch
    from transformers import AutoModelForCausalLM
    torch.manual_seed(0)
    cfg = tiny_config_factory("llama", vocab_size=len(tokenizer))
    cfg.pad_token_id, cfg.eos_token_id = tokenizer.pad_token_id, tokenizer.eos_token_id
    model = AutoModelForCausalLM.from_config(cfg)
    ids = torch.tensor(F.chunks(tokenizer)[:1])
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(15):
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad()
    d = tmp_path / "knows-the-text"
    model.save_pretrained(d)
    tokenizer.save_pretrained(d)
    return str(d)


def test_the_general_text_is_shipped_with_its_licence(tokenizer):
    readme = (F.GENERAL_TEXT.parent / "README.md").read_text(encoding="utf-8")
    assert "CC0-1.0" in readme and "written for this project" in readme
    paragraphs = F.general_text().strip().split("\n\n")
    assert 30 <= len(paragraphs) <= 40
    chunks = F.chunks(tokenizer)
    assert sum(len(c) for c in chunks) == F.MAX_TOKENS and max(len(c) for c in chunks) == F.CHUNK_TOKENS
    whole = []
    for para in paragraphs:  # the text itself is longer: only its beginning is scored
        whole += tokenizer(para.strip() + "\n\n", add_special_tokens=False)["input_ids"]
    assert 2000 <= len(whole) <= 4000


def test_identity_adapter_forgets_nothing_and_the_base_loss_is_cached(tiny_llama_dir, short_text):
    import peft
    import torch

    from workbench.core.model.loading import load_model
    model, tok = load_model(tiny_llama_dir, device="cpu")
    pm = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))  # B = 0: the base
    first = F.measure(pm, tok, tiny_llama_dir)
    assert first.tokens > 100 and first.base_loss > 5  # a random model: about ln(49152) = 10.8 nats
    assert abs(first.forgetting) < 1e-6 and not first.base_cached and first.reason is None
    with torch.no_grad():  # now the adapter moves the model: the base loss comes from the cache
        for layer in pm.base_model.model.model.layers:
            layer.self_attn.v_proj.lora_B["default"].weight.fill_(0.05)
    second = F.measure(pm, tok, tiny_llama_dir)
    assert second.base_cached and second.base_loss == first.base_loss and second.tokens == first.tokens
    assert second.forgetting == pytest.approx(second.adapted_loss - second.base_loss) and abs(second.forgetting) > 1e-4
    # a whole model (full fine-tuning) is measured against the cached base loss: untrained, it forgets nothing
    plain, _ = load_model(tiny_llama_dir, device="cpu")
    same = F.measure(plain, tok, tiny_llama_dir)
    assert same.base_cached and same.reason is None and same.forgetting == pytest.approx(0, abs=1e-6)
    F._BASE_LOSSES.clear()  # and without the cache, its base is the model cache's copy of the base
    with torch.no_grad():
        plain.model.layers[0].mlp.down_proj.weight.mul_(3)
    moved = F.measure(plain, tok, tiny_llama_dir)
    assert not moved.base_cached and moved.base_loss == pytest.approx(first.base_loss) and moved.forgetting != 0

def test_prompt_learning_adapters_are_scored_on_the_text_tokens_only(tiny_llama_dir, short_text):
    import peft

    from workbench.core.model.loading import load_model
    model, tok = load_model(tiny_llama_dir, device="cpu")
    pm = peft.get_peft_model(model, peft.PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    r = F.measure(pm, tok, tiny_llama_dir)
    assert r.tokens == sum(len(c) - 1 for c in F.chunks(tok)) and r.forgetting == pytest.approx(
        r.adapted_loss - r.base_loss) and 5 < r.adapted_loss < 20


def _overfit_spec(model_dir: str, data: Path) -> RunSpec:
    return RunSpec.from_dict({
        "model": {"name": model_dir}, "adapter": {"method": "lora", "r": 8, "dropout": 0.0},
        "data": {"name": str(data), "max_length": 64, "use_chat_template": False, "train_on_prompt": True},
        "train": {"max_steps": 6, "learning_rate": 5e-2, "batch_size": 2, "warmup_steps": 0,
                  "lr_scheduler": "constant", "save_steps": 100, "eval_at_end": False, "device": "cpu",
                  "group_by_length": False, "score_prompts": 0}})


def test_a_run_trained_to_overfit_forgets_and_records_its_costs(knows_the_text, runs_dir, tmp_path):
    from workbench.core.experiments.report import csv_text, report_text
    from workbench.core.experiments.results import BaseRow, ExperimentResult, RunRow, fill_from_run
    from workbench.core.training import trainer as train
    data = tmp_path / "zebra.jsonl"
    rows = [{"prompt": "Say it.", "response": " ".join(["zebra"] * 20)},
            {"prompt": "Again.", "response": " ".join(["zebra"] * 20)}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    d = runs.safe_run_dir(runs.create_run(_overfit_spec(knows_the_text, data)))
    st = train.execute(d).status
    assert st.status == "done"
    detail = F.read(d)
    assert detail["base_loss"] < 6, detail  # the base knows the text...
    assert st.forgetting is not None and st.forgetting > 0.1, detail  # ...and the zebra run made it worse at it
    assert detail["forgetting"] == st.forgetting and detail["reason"] is None
    assert detail["adapted_loss"] - detail["base_loss"] == pytest.approx(st.forgetting)
    assert detail["text_sha256"] == F.text_digest()
    adapter = d / "adapter"
    size = sum(p.stat().st_size for p in adapter.rglob("*") if p.is_file() and p.name != "README.md")
    assert (adapter / "README.md").is_file() and st.adapter_mb == pytest.approx(size / 1e6, abs=1e-6)
    assert st.adapter_mb > 0

    row = fill_from_run(RunRow(run_id=d.name, label="zebra", method="lora", r=8, num_virtual_tokens=None,
                               target_modules=None, trainable=0, percent=0.0), d)
    assert (row.forgetting, row.adapter_mb) == (st.forgetting, st.adapter_mb)
    result = ExperimentResult(experiment_id="x", name="x", directory=tmp_path, status="done", rows=[row],
                              base=BaseRow(metric="exact_match", score=0.1, eval_loss=2.0))
    header = csv_text(result).splitlines()[0].split(",")
    assert "forgetting" in header and "adapter_mb" in header
    assert result.base.to_json()["forgetting"] == 0.0
    report = report_text(result)
    assert f"{st.forgetting:+.3f}" in report and "Forgetting" in report and "score_vs_forgetting.html" in report


def test_score_vs_forgetting_chart():
    from workbench.messages import translator
    from workbench.plots_experiments import forgetting_chart
    rows = [{"label": "a", "method": "lora", "score": 0.5, "forgetting": 0.2, "metric": "json_match"},
            {"label": "b", "method": "lora", "score": 0.7, "forgetting": -0.1, "metric": "json_match"},
            {"label": "c", "method": "lora", "score": None, "forgetting": 0.3, "metric": None}]  # not scored: left out
    fig = forgetting_chart(rows, {"score": 0.3})
    points = {t.name: (t.x[0], t.y[0]) for t in fig.data}
    assert points == {"a": (0.2, 0.5), "b": (-0.1, 0.7), "base model": (0.0, 0.3)}
    assert "forgetting" in fig.layout.xaxis.title.text
    zh = forgetting_chart(rows, {"score": 0.3}, tr=translator("zh-CN"))
    assert "遗忘度" in zh.layout.xaxis.title.text and "基础模型" in {t.name for t in zh.data}
    empty = forgetting_chart([])
    assert not empty.data and empty.layout.annotations

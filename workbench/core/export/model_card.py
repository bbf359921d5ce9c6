"""The model card of a run's adapter: ``<run>/adapter/README.md``, following the Hugging Face Hub conventions.

YAML front matter (``huggingface_hub.ModelCardData``): ``library_name: peft``, ``base_model``, ``tags``,
``pipeline_tag``; then the hyperparameters, the trainable parameter count, the loss curve (a markdown table of
steps), the held-out scores when the run was scored (``metrics.json`` / status ``metric``, ``score``), how to load
it, and its intended use. ``write_model_card(run_dir)`` is called when a run saves its adapter (it replaces the
generic card ``PeftModel.save_pretrained`` writes); it never raises into training: ``write_model_card_safely``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from workbench.spec import methods
from workbench.spec.settings import RunSpec
from workbench.core.runstore.status import read_status

EMBEDDED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
MAX_CURVE_ROWS = 20


def base_model_id(spec: RunSpec) -> str | None:
    """The Hub id of the base model (the embedded model is SmolLM2-135M-Instruct); None for a local folder."""
    from workbench.core.model.errors import ModelError
    from workbench.core.model.loading import resolve
    try:
        ref = resolve(spec.model.name)
    except ModelError:
        return None
    if ref.kind == "embedded":
        return ref.path or EMBEDDED_HUB_ID
    if ref.kind == "hub":
        return ref.path
    if ref.kind == "local":
        try:
            cfg = json.loads((Path(ref.path) / "config.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        name = cfg.get("_name_or_path") or ""
        return name if name.count("/") == 1 and not Path(name).exists() else None
    return None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def loss_table(log_rows: list[dict[str, Any]], max_rows: int = MAX_CURVE_ROWS) -> str:
    """The training loss curve as a markdown table (evenly thinned to ``max_rows``; the last step always kept)."""
    losses = [r for r in log_rows if r.get("loss") is not None]
    if not losses:
        return "_No loss was logged._"
    stride = max(1, -(-len(losses) // max_rows))
    keep = losses[::stride]
    if keep[-1] is not losses[-1]:
        keep.append(losses[-1])
    lines = ["| step | training loss |", "|---:|---:|"]
    lines += [f"| {r['step']} | {float(r['loss']):.4f} |" for r in keep]
    evals = [r for r in log_rows if r.get("eval_loss") is not None]
    if evals:
        lines += ["", "| step | held-out loss |", "|---:|---:|"]
        lines += [f"| {r['step']} | {float(r['eval_loss']):.4f} |" for r in evals]
    return "\n".join(lines)


def _hyperparameters(spec: RunSpec) -> list[tuple[str, Any]]:
    a, t, d = spec.adapter, spec.train, spec.data
    card_rows = methods.get(a.method).card_rows  # the method's own rows (its family file writes them)
    rows: list[tuple[str, Any]] = [("method", a.method)] + (card_rows(a) if card_rows else [])
    rows += [("learning rate", t.learning_rate), ("lr scheduler", t.lr_scheduler), ("warmup steps", t.warmup_steps),
             ("max steps", t.max_steps), ("batch size", t.batch_size), ("gradient accumulation", t.grad_accum),
             ("weight decay", t.weight_decay), ("seed", t.seed), ("precision", t.precision),
             ("dataset", d.name), ("max length (tokens)", d.max_length), ("loss on prompt", d.train_on_prompt),
             ("chat template", d.use_chat_template)]
    if d.limit:
        rows.append(("training examples used", d.limit))
    return rows


def build_model_card(run_dir: str | Path):
    """The ``huggingface_hub.ModelCard`` of the run in ``run_dir`` (config.yaml, status.json, log.jsonl, metrics.json)."""
    from huggingface_hub import ModelCard, ModelCardData

    from workbench.core.runstore.run_dirs import read_log_dir
    run_dir = Path(run_dir)
    spec = RunSpec.load(run_dir / "config.yaml")
    st = read_status(run_dir)
    base = base_model_id(spec)
    method = spec.adapter.method
    whole = methods.get(method).full_model  # full fine-tuning: a whole transformers model, no PEFT
    tags = ([] if whole else ["peft"]) + ["peft-workbench", *methods.get(method).card_tags, method, "transformers",
                                          "text-generation"]
    data = ModelCardData(library_name="transformers" if whole else "peft", base_model=base,
                         tags=list(dict.fromkeys(tags)), pipeline_tag="text-generation",
                         model_name=f"{spec.name or run_dir.name} ({method})")

    title = spec.name or run_dir.name
    what = "fully fine-tuned model" if whole else f"{method} adapter"
    lines = [f"# {title}: a {what} for {base or spec.model.name}", "",
             f"Trained with the PEFT Workbench (run `{run_dir.name}`) on **{spec.data.name}**: "
             f"{st.step} of {st.max_steps or spec.train.max_steps} optimizer steps, status **{st.status}**"
             + (f" ({st.stop_reason})" if st.stop_reason else "") + ".", ""]
    if st.trainable_params:
        total = st.total_params or 0
        pct = 100 * st.trainable_params / total if total else 0.0
        lines += ["## Trainable parameters", "",
                  f"**{st.trainable_params:,}** trainable of {total:,} parameters ({pct:.3f}%).", ""]
    lines += ["## Hyperparameters", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | `{v}` |" for k, v in _hyperparameters(spec)]
    lines += ["", "## Training loss", "", loss_table(read_log_dir(run_dir)), ""]
    if st.train_loss is not None or st.eval_loss is not None:
        lines += [f"Final training loss: {st.train_loss:.4f}." if st.train_loss is not None else "",
                  f"Held-out loss: {st.eval_loss:.4f}." if st.eval_loss is not None else "", ""]
    scores = _read_json(run_dir / "metrics.json")
    metric = (scores or {}).get("metric") or st.metric
    score = (scores or {}).get("score", st.score)
    lines += ["## Held-out evaluation", ""]
    if metric and score is not None:
        n = (scores or {}).get("n_scored")
        lines += ["| metric | score | examples |", "|---|---:|---:|",
                  f"| {metric} | {float(score):.3f} | {n if n is not None else '?'} |"]
        if (scores or {}).get("eval_loss") is not None:
            lines += ["", f"Held-out loss (answer tokens): {float(scores['eval_loss']):.4f}."]
    else:
        lines += ["_Not scored yet: score the run in the workbench (Compare tab) to add the task metric here._"]
    if whole:
        use = ["from transformers import AutoModelForCausalLM, AutoTokenizer", "",
               "model = AutoModelForCausalLM.from_pretrained(\"path/to/this/model\")",
               "tokenizer = AutoTokenizer.from_pretrained(\"path/to/this/model\")"]
    else:
        use = ["from peft import PeftModel", "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
               f"base = AutoModelForCausalLM.from_pretrained({(base or spec.model.name)!r})",
               f"tokenizer = AutoTokenizer.from_pretrained({(base or spec.model.name)!r})",
               "model = PeftModel.from_pretrained(base, \"path/to/this/adapter\")"]
    lines += ["", "## How to use", "", "```python", *use, "```", "",
              "## Intended use", "",
              f"A teaching artefact: a small adapter trained in a few minutes to show what {method} fine-tuning "
              f"changes on the task **{spec.data.name}**. Use it to study parameter-efficient fine-tuning and to "
              "compare it with the base model; it is not meant for production. It inherits the base model's "
              "limitations and biases, and the held-out score above is measured on a small held-out set.", "",
              "## Framework versions", ""]
    lines += [f"- {name} {ver}" for name, ver in _versions().items()]
    content = f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n"
    return ModelCard(content)


def _versions() -> dict[str, str]:
    from workbench.core.export.notebook import PINNED, versions
    out = versions(("peft",) + tuple(p for p in PINNED if p != "peft"))
    out["python"] = sys.version.split()[0]
    return out


def write_model_card(run_dir: str | Path) -> Path | None:
    """Write ``<run>/adapter/README.md``; returns its path (None when the run has no adapter yet). A full fine-tuning
    run's folder is a whole model (``config.json``): its card says how to load that."""
    adapter = Path(run_dir) / "adapter"
    if not (adapter / "adapter_config.json").is_file() and not (adapter / "config.json").is_file():
        return None
    path = adapter / "README.md"
    build_model_card(run_dir).save(str(path))
    return path


def write_model_card_safely(run_dir: str | Path) -> Path | None:
    """write_model_card for the training path: a card problem is printed, never raised (the adapter matters more)."""
    try:
        return write_model_card(run_dir)
    except Exception as e:  # noqa: BLE001 - the card is a nicety; training must not fail because of it
        print(f"model card not written: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return None

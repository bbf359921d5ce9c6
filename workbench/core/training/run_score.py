"""Every run measures itself: the dataset's task metric and the held-out loss of a finished run.

``score_run(run_dir, limit)`` loads the run's adapter on its base model, answers the first ``limit`` held-out
prompts greedily (scored with the dataset's metric, ``task_metrics.metric_for``) and computes the held-out loss over
the held-out examples (all, or the first ``data.heldout_limit``; teacher forced, the answer tokens only: the same tokens that carry loss in training, so it
compares with the training curve's eval loss). The result goes to ``<run>/metrics.json`` and ``metric`` / ``score``
in the run status. ``score_base(model, data, limit)`` gives the same numbers for the base model alone (the row
every experiment compares against).

Cost on the embedded model (2 cores): generation dominates (~0.3-0.6 s per prompt in one batch of 16 on a quiet
machine); the loss over the 50 held-out examples is a few seconds (the vocabulary head only at the answer tokens).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.spec.settings import DataSpec, RunSpec

METRICS_FILE = "metrics.json"
DEFAULT_BATCH = 16
"""Held-out prompts generated together (left padding). The same for every run, so scores stay comparable; 16 is
the default number of prompts a run scores (``train.score_prompts``), so that is one batch."""


@dataclass
class RunScore:
    """A held-out measurement of one variant (a run's adapter, or the base model)."""
    metric: str
    """Name of the task metric (json_match, label_match, exact_match)."""
    score: float
    """Mean metric over the first ``n_scored`` held-out prompts, in [0, 1]."""
    eval_loss: float
    """Mean NLL per answer token over the first ``n_loss`` held-out examples (ln of the perplexity)."""
    n_scored: int
    n_loss: int
    seconds: float
    predictions: list[dict[str, Any]] = field(default_factory=list, repr=False)
    """{"prediction", "reference", "score"} per scored prompt."""


def _score(vm, variant: str, data: DataSpec, limit: int | None, batch_size: int) -> RunScore:
    from workbench.core.data.datasets import encode, render_prompt
    from workbench.core.evaluation.heldout import heldout, perplexity, reference
    from workbench.core.generation.answers import GenSettings, generate_texts
    from workbench.core.data.task_metrics import metric_for
    t0 = time.time()
    everything = heldout(data)
    examples = everything[:limit] if limit else everything
    tok = vm.tokenizer
    refs = [reference(e) for e in examples]
    longest = max(len(tok(r, add_special_tokens=False)["input_ids"]) for r in refs)
    settings = GenSettings(max_new_tokens=min(256, longest + 8), use_chat_template=data.use_chat_template)
    texts = [render_prompt(e, tok, data.use_chat_template) for e in examples]
    preds = [r.text for r in generate_texts(vm, texts, variant, settings, batch_size=batch_size)]
    metric = metric_for(data.name)
    scores = [metric.score(p, r) for p, r in zip(preds, refs)]
    loss_set = everything[:data.heldout_limit] if data.heldout_limit else everything
    encoded = [encode(e, tok, data.max_length, False, data.use_chat_template) for e in loss_set]
    loss = math.log(perplexity(vm, variant, encoded))
    return RunScore(metric=metric.name, score=sum(scores) / len(scores), eval_loss=loss, n_scored=len(examples),
                    n_loss=len(loss_set), seconds=round(time.time() - t0, 2),
                    predictions=[{"prediction": p, "reference": r, "score": s} for p, r, s in zip(preds, refs, scores)])


def score_base(model_name: str, data: DataSpec, limit: int | None = None, batch_size: int = DEFAULT_BATCH) -> RunScore:
    """The base model's task metric and held-out loss (the shared, cached base; nothing is loaded twice)."""
    from workbench.core.generation.variants import BASE, get_variants
    return _score(get_variants(model_name, []), BASE, data, limit, batch_size)


def score_run(run_dir: str | Path, limit: int | None = None, batch_size: int = DEFAULT_BATCH) -> RunScore:
    """Score a finished run's adapter on held-out data; writes ``metrics.json`` and metric/score in the status.

    A run trained on a 4-bit base (QLoRA) is scored on that 4-bit base (what it was trained on: its score) and
    also on the full-precision base (``full_precision_base`` in metrics.json; the Compare tab loads adapters on
    the full-precision base, which hides what quantisation costs)."""
    from workbench.spec import methods
    from workbench.core.generation.variants import get_variants, release_user
    run_dir = Path(run_dir)
    spec = RunSpec.load(run_dir / "config.yaml")
    adapter = run_dir / "adapter"
    full = methods.get(spec.adapter.method).full_model  # a whole checkpoint: scored as a model of its own
    if not (adapter / ("config.json" if full else "adapter_config.json")).is_file():
        raise WorkbenchError("experiments.no_adapter", run_id=run_dir.name)
    user = f"score-run:{run_dir.resolve()}"  # a private cache entry, dropped again below
    try:
        from workbench.core.generation.variants import BASE
        vm = get_variants(str(adapter), [], user=user) if full else get_variants(spec.model.name, [str(adapter)],
                                                                                  user=user)
        result = _score(vm, BASE if full else str(adapter), spec.data, limit, batch_size)
    finally:
        release_user(user)
    extra: dict[str, Any] = {}
    if methods.get(spec.adapter.method).quantized:
        full = result
        try:
            result = _score(_four_bit_variants(spec, adapter), str(adapter), spec.data, limit, batch_size)
            extra["base_precision"] = "4-bit"
        except Exception as e:  # bitsandbytes missing or failing here: keep the full-precision score, say why
            result, extra["four_bit_error"] = full, f"{type(e).__name__}: {e}"[:300]
        extra["full_precision_base"] = {"score": full.score, "eval_loss": full.eval_loss}
    from workbench.core.runstore.status import read_status
    st = read_status(run_dir)  # what the run cost, measured when it ended (trainer.execute)
    extra.update(forgetting=st.forgetting, adapter_mb=st.adapter_mb)
    write_metrics(run_dir, result, limit=limit, batch_size=batch_size, base_model=spec.model.name, **extra)
    return result


def _four_bit_variants(spec: RunSpec, adapter: Path):
    """A VariantModel whose base is loaded in 4-bit with the run's quantisation settings (not cached)."""
    from functools import partial

    from workbench.core.generation.variants import VariantModel
    from workbench.core.model.loading import load_model
    a = spec.adapter
    loader = partial(load_model, dtype=spec.model.dtype, quantize_4bit=True, bnb_4bit_quant_type=a.bnb_4bit_quant_type,
                     bnb_4bit_use_double_quant=a.bnb_4bit_use_double_quant,
                     bnb_4bit_compute_dtype=a.bnb_4bit_compute_dtype)

    class FourBitVariants(VariantModel):
        def _new_group(self, label, info, name, load_model):  # the run's 4-bit base instead of full precision
            return super()._new_group(label, info, name, loader)

    return FourBitVariants(spec.model.name, [str(adapter)])


def write_metrics(run_dir: Path, result: RunScore, **extra: Any) -> None:
    """``metrics.json`` (the full measurement) plus ``metric`` / ``score`` in status.json."""
    from workbench.core.runstore.status import update_status, write_json_atomic
    write_json_atomic(Path(run_dir) / METRICS_FILE, {**asdict(result), **extra, "scored_at": time.time()})
    update_status(run_dir, metric=result.metric, score=result.score)
    from workbench.core.export.model_card import write_model_card_safely
    write_model_card_safely(run_dir)  # the adapter's README.md gains the held-out score


def read_metrics(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's ``metrics.json`` (None when it was never scored)."""
    try:
        return json.loads((Path(run_dir) / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def score_after_training(run_dir: str | Path, spec: RunSpec):
    """Every run measures itself: when a run ends ``done``, score its adapter on ``train.score_prompts`` held-out
    prompts (0 = off) and return the updated RunStatus; None when nothing was scored. A dataset without held-out
    prompt/response pairs, or any scoring failure, never fails the run: the reason goes to train.log (stderr)."""
    import sys
    from workbench.core.runstore.status import read_status
    if spec.train.score_prompts <= 0:
        return None
    try:
        score_run(run_dir, limit=spec.train.score_prompts)
    except Exception as e:  # noqa: BLE001 - the run itself succeeded; say why it has no score
        print(f"held-out scoring skipped: {type(e).__name__}: {e}", file=sys.stderr)
        return None
    return read_status(Path(run_dir))

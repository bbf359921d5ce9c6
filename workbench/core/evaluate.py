"""Held-out evaluation: the base model and each adapter on the test split of one dataset.

For every variant:

- ``score`` — greedy answers to the held-out prompts, scored against the references with the dataset's
  metric (``metrics.metric_for``) and averaged;
- ``perplexity`` — exp(mean negative log-likelihood of the reference answer's tokens given the prompt),
  pooled over all answer tokens of all examples. The tokens that count are exactly the ones that carry
  loss in training (``data.encode`` with ``train_on_prompt=False``: the answer and its end-of-turn
  token), so it is comparable with the training eval loss: perplexity = exp(eval loss).

Generation runs one prompt at a time by default (``batch_size=1``), which reproduces exactly what the
Generate tab shows. Batches with left padding are faster, but padded matmuls round differently and can in
principle flip a greedy near-tie. Measured here (SmolLM2-135M-Instruct, fp32, CPU, 32 new tokens, first 16
test prompts of each shipped dataset, batch 8 vs one by one): 48/48 answers identical; 1-4x faster on a
busy 2-core machine (less when answers are short, since a batch runs until its longest answer ends). Pass
``batch_size`` to trade exactness for speed (bf16 on GPU is more prone to flips). Perplexity is always
computed in batches (right padding only changes rounding, at the 1e-6 level).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import WorkbenchError
from ..settings import DataSpec
from .generate import BASE, GenSettings, generate_texts, get_variants, sequence_logprobs


class EvalError(WorkbenchError):
    """The evaluation cannot run (no held-out examples with answers, ...)."""


@dataclass
class EvalRow:
    variant: str
    """"base" or the adapter folder."""
    metric: str
    """Name of the task metric (exact_match, json_match, label_match, ...)."""
    score: float
    """Mean metric over the held-out examples, in [0, 1]."""
    perplexity: float
    """exp(mean NLL of the reference answer tokens given the prompt); lower is better."""
    n: int
    """How many held-out examples were scored."""
    predictions: list[str] = field(default_factory=list, repr=False)
    """The generated answers, in example order (for showing side by side)."""


def reference(example) -> str | None:
    """The reference answer of an example: its final assistant turn (None for plain-text examples)."""
    turns = example.chat()
    if turns and turns[-1]["role"] == "assistant":
        return turns[-1]["content"]
    return None


def _spec(dataset) -> DataSpec:
    if isinstance(dataset, DataSpec):
        return dataset
    if not isinstance(dataset, str) or not dataset.strip():
        raise EvalError("compare.no_dataset")
    return DataSpec(name=dataset.strip())


def heldout(spec: DataSpec, limit: int | None = None) -> list:
    """The held-out examples that have a reference answer (the first ``limit`` of them)."""
    from .data import load_examples
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise EvalError("compare.positive_int", name="limit", value=limit)
    examples = [e for e in load_examples(spec, "test") if reference(e) is not None]
    if not examples:
        raise EvalError("compare.no_heldout", name=spec.name)
    return examples[:limit] if limit else examples


def perplexity(vm, variant: str, encoded: list[dict], batch_size: int = 8) -> float:
    """exp(total NLL / total loss tokens) of ``encoded`` (``data.encode`` outputs) under one variant."""
    import torch
    total, count = 0.0, 0
    pad = vm.tokenizer.pad_token_id or 0
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start:start + batch_size]
        width = max(len(e["input_ids"]) for e in chunk)
        ids = torch.tensor([e["input_ids"] + [pad] * (width - len(e["input_ids"])) for e in chunk])
        mask = torch.tensor([[1] * len(e["input_ids"]) + [0] * (width - len(e["input_ids"])) for e in chunk])
        labels = torch.tensor([e["labels"] + [-100] * (width - len(e["labels"])) for e in chunk])
        with vm.activate(variant) as model, torch.no_grad():
            logp = sequence_logprobs(model, ids.to(vm.device), mask.to(vm.device)).cpu()
        keep = labels[:, 1:] != -100
        total += float(-(logp[keep]).double().sum())
        count += int(keep.sum())
    if count == 0:
        raise EvalError("compare.all_truncated")
    return math.exp(total / count)


def evaluate(model_name: str, adapter_dirs, dataset, limit: int | None = None,
             settings: GenSettings | None = None, progress=None, batch_size: int = 1,
             user: str | None = None) -> list[EvalRow]:
    """Score "base" and every adapter on the held-out split of ``dataset`` (DataSpec, shipped name or path).

    ``settings`` defaults to greedy decoding with room for the longest reference (+8 tokens, at most 256).
    ``progress(fraction, message)`` is called as variants finish. ``user``: see ``generate.get_variants``.
    """
    from .data import encode, render_prompt
    from .metrics import metric_for
    spec = _spec(dataset)
    examples = heldout(spec, limit)
    metric = metric_for(spec.name)
    vm = get_variants(model_name, list(adapter_dirs or []), progress=progress, user=user)
    tok = vm.tokenizer
    refs = [reference(e) for e in examples]
    if settings is None:
        longest = max(len(tok(r, add_special_tokens=False)["input_ids"]) for r in refs)
        settings = GenSettings(max_new_tokens=min(256, longest + 8), use_chat_template=spec.use_chat_template)
    texts = [render_prompt(e, tok, spec.use_chat_template) for e in examples]
    encoded = [encode(e, tok, spec.max_length, False, spec.use_chat_template) for e in examples]
    rows: list[EvalRow] = []
    variants = [BASE] + vm.adapter_dirs
    for i, variant in enumerate(variants):
        if progress:
            progress(i / len(variants), f"Evaluating {variant} on {len(examples)} examples...")
        preds = [r.text for r in generate_texts(vm, texts, variant, settings, batch_size=batch_size)]
        score = sum(metric.score(p, r) for p, r in zip(preds, refs)) / len(refs)
        ppl = perplexity(vm, variant, encoded)
        rows.append(EvalRow(variant, metric.name, float(score), float(ppl), len(examples), preds))
    if progress:
        progress(1.0, "Evaluation done.")
    return rows

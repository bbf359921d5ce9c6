"""Held-out evaluation: the base model and each adapter on the test split of one dataset.

For every variant:

- ``score`` — greedy answers to the held-out prompts, scored against the references with the dataset's
  metric (``task_metrics.metric_for``) and averaged;
- ``perplexity`` — exp(mean negative log-likelihood of the reference answer's tokens given the prompt),
  pooled over all answer tokens of all examples. The tokens that count are exactly the ones that carry
  loss in training (``datasets.encode`` with ``train_on_prompt=False``: the answer and its end-of-turn
  token), so it is comparable with the training eval loss: perplexity = exp(eval loss).

Generation is batched by default (up to ``DEFAULT_BATCH`` sequences per ``generate`` call, fewer when their KV
cache would pass ``KV_BUDGET_MB``: ``default_batch``): every held-out
prompt of every variant is submitted at once to the model's scheduler (``scheduler.generate_many``), prompts of
similar length together, left padding, KV cache, each sequence stopping at its own end of turn; the base and
LoRA adapters share batches through PEFT's mixed-adapter batches, other adapter types get batches of their own.
``batch_size=1`` is the exact one-by-one mode (``workbench eval --one-by-one``): what the Generate tab shows.
Padded, mixed batches round differently from one prompt alone and can in principle flip a greedy near-tie;
tests/core/test_evaluate.py checks that both modes give the same scores on the first 16 held-out prompts of
every shipped dataset (embedded model, base + a LoRA adapter).

Perplexity: where the batch decodes continuously (greedy, plain vocabulary head: ``decoding``), each reference
answer is scored in the same forward pass that prefills its prompt, so the prompts run through the model once
(``answer(..., score_ids)``); everything else (the one-by-one mode, prompt-learning adapters, ...) gets a batched
forward pass of its own (``nll_sum``: right padding, examples sorted by length). Both give the same numbers up to
float rounding (within 1e-5 relative; tests/core/test_evaluate.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from workbench.errors import WorkbenchError
from workbench.spec.settings import DataSpec
from workbench.core.generation.answers import GenResult, GenSettings, generate_texts, sequence_logprobs
from workbench.core.generation.batching import BASE
from workbench.core.generation.variants import get_variants


DEFAULT_BATCH = 128
"""Most sequences (prompts x variants) generated together by default. On a 2-core CPU the embedded model's
decoding is compute-bound from about 16 rows on, yet fewer, fuller steps still win: 50 prompts x 2 variants took
53.6 s in batches of 16 and 31.2 s in batches of 50; with continuous batching (``decoding``) 31.3 s with 64 rows at
a time and 29.2 s in one batch of 100. See BENCHMARKS.md."""
PPL_BATCH_TOKENS = 8192
"""Padded positions per perplexity forward pass. Larger batches share the prompt prefix more and run fuller matmuls:
the embedded model's perplexity of 50 held-out examples took 12.2 s in batches of 8, 9.8 s of 16, 8.1 s of 50
(2-core CPU; see BENCHMARKS.md). Only answer positions go through the vocabulary head, in chunks (``selected_loss``).
"""
PPL_FULL_BATCH_TOKENS = 1024
"""The same where the forward computes the logits of every position (prompt-learning adapters, other heads):
1024 positions x a 49k vocabulary are 200 MB of float32 logits."""
KV_BUDGET_MB = 1024
"""Memory the default batch's KV cache may take (larger models get fewer rows per batch)."""


def default_batch(vm, tokens: int) -> int:
    """``DEFAULT_BATCH``, or fewer rows so that their KV cache (``tokens`` positions each) stays in ``KV_BUDGET_MB``."""
    model = vm.base_models()[0]
    cfg = model.config
    cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    heads = getattr(cfg, "num_attention_heads", None) or 1
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    head_dim = getattr(cfg, "head_dim", None) or (getattr(cfg, "hidden_size", 0) // heads)
    layers = getattr(cfg, "num_hidden_layers", None) or 1
    width = max(2, next(model.parameters()).element_size())  # 4-bit weights compute in 16-bit
    per_row = 2 * layers * kv_heads * head_dim * width * max(1, tokens)
    if per_row <= 0:
        return DEFAULT_BATCH
    return max(1, min(DEFAULT_BATCH, int(KV_BUDGET_MB * 2**20 // per_row)))


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
    from workbench.core.data.datasets import load_examples
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise EvalError("compare.positive_int", name="limit", value=limit)
    examples = [e for e in load_examples(spec, "test") if reference(e) is not None]
    if not examples:
        raise EvalError("compare.no_heldout", name=spec.name)
    return examples[:limit] if limit else examples


def perplexity(vm, variant: str, encoded: list[dict], batch_tokens: int | None = None) -> float:
    """exp(total NLL / total loss tokens) of ``encoded`` (``datasets.encode`` outputs) under one variant (``nll_sum``)."""
    total, count = nll_sum(vm, variant, encoded, batch_tokens)
    if count == 0:
        raise EvalError("compare.all_truncated")
    return math.exp(total / count)


def nll_sum(vm, variant: str, encoded: list[dict], batch_tokens: int | None = None) -> tuple[float, int]:
    """(total NLL, loss tokens) of ``encoded`` (``datasets.encode`` outputs) under one variant.

    Where the fast loss is exact (``selected_loss.unsupported_reason`` is None: a plain-head architecture, no virtual
    tokens) the vocabulary head runs only at the answer tokens (``selected_loss.selected_loss``: the same numbers, a
    fraction of the head's work); everything else (prompt-learning adapters, other heads) takes the full forward."""
    import torch

    from workbench.core.kernels.selected_loss import selected_loss, unsupported_reason
    total, count = 0.0, 0
    pad = vm.tokenizer.pad_token_id or 0
    with vm.activate(variant) as model:
        full = unsupported_reason(model) is not None
    budget = batch_tokens or (PPL_FULL_BATCH_TOKENS if full else PPL_BATCH_TOKENS)
    for chunk in _length_batches(encoded, budget):
        width = max(len(e["input_ids"]) for e in chunk)
        ids = torch.tensor([e["input_ids"] + [pad] * (width - len(e["input_ids"])) for e in chunk])
        mask = torch.tensor([[1] * len(e["input_ids"]) + [0] * (width - len(e["input_ids"])) for e in chunk])
        labels = torch.tensor([e["labels"] + [-100] * (width - len(e["labels"])) for e in chunk])
        keep = labels[:, 1:] != -100
        with vm.activate(variant) as model, torch.no_grad():
            if full:
                logp = sequence_logprobs(model, ids.to(vm.device), mask.to(vm.device)).cpu()
                total += float(-(logp[keep]).double().sum())
            else:  # the vocabulary head only at the answer tokens (selected_loss); summed, not averaged
                total += float(selected_loss(model, ids.to(vm.device), mask.to(vm.device), labels.to(vm.device),
                                             num_items_in_batch=1))
        count += int(keep.sum())
    return total, count


def _perplexity(vm, variant: str, encoded: list[dict], results: list) -> float:
    """The perplexity of one variant, from the NLL its results carry (scored in the prefill) and a forward pass
    (``nll_sum``) for the examples whose results carry none."""
    total = sum(r.nll for r in results if r.nll is not None)
    count = sum(r.nll_tokens for r in results if r.nll is not None)
    rest = [e for e, r in zip(encoded, results) if r.nll is None]
    if rest:
        t, c = nll_sum(vm, variant, rest)
        total, count = total + t, count + c
    if count == 0:
        raise EvalError("compare.all_truncated")
    return math.exp(total / count)


def _length_batches(encoded: list[dict], budget: int) -> list[list[dict]]:
    """``encoded`` sorted by length and cut into batches of at most ``budget`` padded positions (at least one row)."""
    out: list[list[dict]] = []
    for e in sorted(encoded, key=lambda e: len(e["input_ids"])):
        if out and len(e["input_ids"]) * (len(out[-1]) + 1) <= budget:
            out[-1].append(e)
        else:
            out.append([e])
    return out


def predict(vm, texts: list[str], variants: list[str], settings: GenSettings,
            batch_size: int | None) -> dict[str, list[str]]:
    """Answers of every variant to every rendered text: {variant: [answer per text]} (see ``answer``)."""
    return {v: [r.text for r in results] for v, results in answer(vm, texts, variants, settings, batch_size).items()}


def answer(vm, texts: list[str], variants: list[str], settings: GenSettings, batch_size: int | None,
           score_ids: list | None = None) -> dict[str, list[GenResult]]:
    """Every variant's result for every rendered text: {variant: [GenResult per text]}.

    ``batch_size`` 1: one prompt at a time, variant after variant (exact). More: all of them submitted at once to
    the scheduler, at most ``batch_size`` sequences per batch, prompts sorted by length so a batch pads little.
    None: ``default_batch`` for the longest prompt plus ``max_new_tokens``. ``score_ids``: per text, the reference
    answer's tokens (or None); where the scheduler decodes continuously they are scored in the prompt's prefill and
    the result's ``nll`` is set (``requests.Request.score_ids``).
    """
    lengths = [len(vm.encode_ids(t, settings.use_chat_template)) for t in texts]
    if batch_size is None:  # scored answers stay in the KV cache (masked) while the rows decode
        scored = max((len(ids) for ids in score_ids or () if ids), default=0)
        batch_size = default_batch(vm, max(lengths, default=1) + scored + settings.max_new_tokens)
    if batch_size <= 1:
        return {v: generate_texts(vm, texts, v, settings) for v in variants}
    from workbench.core.generation.requests import Request
    from workbench.core.generation.scheduler import generate_many
    scores = score_ids or [None] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    pairs = [(i, v) for i in order for v in variants]
    results = generate_many(vm, [Request(v, settings, text=texts[i], score_ids=scores[i]) for i, v in pairs],
                            max_batch=batch_size)
    out: dict[str, list] = {v: [None] * len(texts) for v in variants}
    for (i, v), r in zip(pairs, results):
        out[v][i] = r
    return out


def _score_ids(vm, text: str, use_chat_template: bool, encoded: dict) -> tuple[int, ...] | None:
    """The tokens the perplexity counts for one example, when they follow exactly the prompt that is generated
    from (then they can be scored in that prompt's prefill); None otherwise."""
    prompt = vm.encode_ids(text, use_chat_template)
    ids, labels = encoded["input_ids"], encoded["labels"]
    n = len(prompt)
    if len(ids) <= n or ids[:n] != prompt or any(x != -100 for x in labels[:n]) or labels[n:] != ids[n:]:
        return None
    return tuple(ids[n:])


def evaluate(model_name: str, adapter_dirs, dataset, limit: int | None = None,
             settings: GenSettings | None = None, progress=None, batch_size: int | None = None,
             user: str | None = None, with_perplexity: bool = True) -> list[EvalRow]:
    """Score "base" and every adapter on the held-out split of ``dataset`` (DataSpec, shipped name or path).

    ``settings`` defaults to greedy decoding with room for the longest reference (+8 tokens, at most 256).
    ``batch_size``: sequences generated together (None: ``default_batch``; 1: one by one, exact).
    ``progress(fraction, message)`` is called as the work advances. ``user``: see ``variants.get_variants``.
    ``with_perplexity=False`` skips the perplexity pass (NaN in the rows): the task scores only.
    """
    from workbench.core.data.datasets import encode, render_prompt
    from workbench.core.data.task_metrics import metric_for
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
    variants = [BASE] + vm.adapter_dirs
    if progress:
        progress(0.0, f"Evaluating {len(variants)} variants on {len(examples)} examples...")
    score_ids = [_score_ids(vm, t, spec.use_chat_template, e) for t, e in zip(texts, encoded)] \
        if with_perplexity and batch_size != 1 else None
    results = answer(vm, texts, variants, settings, batch_size, score_ids)
    rows: list[EvalRow] = []
    for i, variant in enumerate(variants):
        if progress:
            progress(0.8 + 0.2 * i / len(variants), f"Perplexity of {variant}...")
        preds = [r.text for r in results[variant]]
        score = sum(metric.score(p, r) for p, r in zip(preds, refs)) / len(refs)
        ppl = _perplexity(vm, variant, encoded, results[variant]) if with_perplexity else math.nan
        rows.append(EvalRow(variant, metric.name, float(score), float(ppl), len(examples), preds))
    if progress:
        progress(1.0, "Evaluation done.")
    return rows

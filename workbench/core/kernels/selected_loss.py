"""Loss only where it counts: the causal-LM loss without the work that cannot change it (the Trainer that
trains with it, ``FastLossTrainer``, and ``trainer_class`` are in ``core.training.loss_trainer``).

With response-only loss most positions of a chat example are prompt, and a small model's vocabulary head is a
large share of its forward (SmolLM2-135M: 28M of 135M parameters, a 49k-vocabulary matmul at every position).
``FastLossTrainer.compute_loss`` gives the same loss and gradients as ``Trainer.compute_loss`` while doing less:

1. **Head and cross-entropy only where a label is.** The model body runs to its final hidden states; only the
   positions whose *shifted* label is not -100 go through ``lm_head`` and the cross-entropy (same float32
   upcast, same sum / ``num_items_in_batch`` or mean reduction as transformers' ``ForCausalLMLoss``).
2. **Chunked head + cross-entropy.** Above ``chunk_tokens`` selected positions (long responses, or
   ``train_on_prompt``) the head runs chunk by chunk under activation checkpointing, so at most one chunk's
   float32 logits exist at a time (forward and backward); below it there is one plain matmul.
3. **A prefix shared by every row runs once.** When all rows of a batch start with the same tokens (the chat
   template's system prompt, a shared instruction), that prefix goes through the body at batch size 1; its
   key/value cache, repeated to the batch, feeds the rest of the rows (gradients flow back through it, so the
   result is the same computation). The prefix stops before the first position whose logits carry loss.
   With ``lora_dropout > 0`` the prefix positions share one dropout mask per batch instead of one per row:
   the same distribution, a different random draw (the test compares with dropout off).

Exact, and used, for methods that wrap layers of the model (LoRA family, QLoRA, IA3, ...) on decoder-only
architectures whose head is a plain ``lm_head`` (llama, mistral, qwen2/3, phi3, gemma, olmo, smollm3). Prompt-
learning methods (prompt / prefix tuning, p-tuning: PEFT adds virtual tokens in its own forward), other
architectures, DDP-wrapped models, label smoothing, a custom ``compute_loss_func``, gradient checkpointing
(prefix sharing only) and evaluation calls that want the logits use the standard path.

Switches (environment, for A/B measurements): ``WORKBENCH_FAST_LOSS=0`` standard Trainer;
``WORKBENCH_SHARE_PREFIX=0`` no prefix sharing; ``WORKBENCH_LOSS_CHUNK=N`` chunk size (positions).
"""
from __future__ import annotations

import inspect

from workbench.core.env import env_flag

IGNORE_INDEX = -100
CHUNK_TOKENS = 2048
"""Selected positions per head chunk: 2048 x 49k vocabulary x 4 bytes = 400 MB of float32 logits at most."""
MIN_SHARED_PREFIX = 4
"""Shorter common prefixes are not worth a second body call."""
PLAIN_HEAD_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "olmo", "olmo2", "smollm3"})
"""model_type values whose CausalLM forward is body -> lm_head(hidden) -> ForCausalLMLoss, nothing else."""


def enabled() -> bool:
    """The ``WORKBENCH_FAST_LOSS`` switch (on unless set to 0 / false / no / off; ``env.env_flag``)."""
    return env_flag("WORKBENCH_FAST_LOSS")


def unsupported_reason(model) -> str | None:
    """Why ``model`` (a PeftModel or a plain CausalLM) must use the standard loss path; None when it need not."""
    cfg_of = getattr(model, "active_peft_config", None)
    if cfg_of is not None and (cfg_of.is_prompt_learning or getattr(cfg_of, "is_adaption_prompt", False)):
        return f"{cfg_of.peft_type.value.lower()} adds virtual tokens in PEFT's own forward"
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    mtype = getattr(config, "model_type", None)
    if mtype not in PLAIN_HEAD_TYPES:
        return f"model type {mtype!r} is not one with a plain lm_head"
    if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None) not in (None, 1, 1.0):
        return "the model scales or caps its logits"
    if not hasattr(base, "get_decoder") or getattr(base, "lm_head", None) is None:
        return "no decoder body / lm_head"
    return None


def shared_prefix_length(input_ids, attention_mask, shift_labels) -> int:
    """Tokens every row starts with (all attended), ending before the first position whose logits carry loss."""
    import torch
    if input_ids.shape[0] < 2:
        return 0
    same = (input_ids == input_ids[:1]).all(0)
    if attention_mask is not None:
        same &= attention_mask.bool().all(0)
    n = int(same.long().cumprod(0).sum())
    needed = (shift_labels != IGNORE_INDEX).any(0).nonzero()
    first_needed = int(needed[0]) if len(needed) else input_ids.shape[1] - 1
    n = min(n, first_needed, input_ids.shape[1] - 1)
    del torch
    return n if n >= MIN_SHARED_PREFIX else 0


def _cache_kwarg(body) -> str:
    params = inspect.signature(body.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def body_hidden(body, input_ids, attention_mask, prefix: int):
    """Final hidden states of positions ``prefix:`` of every row; the first ``prefix`` tokens (the same in every
    row) run once at batch size 1 and reach the rest through a key/value cache repeated to the batch."""
    import torch
    if not prefix:
        return body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    from transformers import DynamicCache
    cache = DynamicCache(config=body.config)
    kw = _cache_kwarg(body)
    body(input_ids=input_ids[:1, :prefix], use_cache=True, **{kw: cache})
    cache.batch_repeat_interleave(input_ids.shape[0])
    pos = torch.arange(prefix, input_ids.shape[1], device=input_ids.device).unsqueeze(0)
    out = body(input_ids=input_ids[:, prefix:], attention_mask=attention_mask, position_ids=pos, use_cache=True,
               **{kw: cache})
    return out.last_hidden_state


def _head_ce_sum(head, hidden, targets):
    import torch.nn.functional as F
    return F.cross_entropy(head(hidden).float(), targets, ignore_index=IGNORE_INDEX, reduction="sum")


def head_loss_sum(head, hidden, targets, chunk_tokens: int = CHUNK_TOKENS):
    """Sum of the cross-entropy of ``head(hidden)`` against ``targets`` (N x H, N), chunked above chunk_tokens."""
    n = hidden.shape[0]
    if n <= chunk_tokens:
        return _head_ce_sum(head, hidden, targets)
    from torch.utils.checkpoint import checkpoint
    total = None
    for i in range(0, n, chunk_tokens):
        part = checkpoint(_head_ce_sum, head, hidden[i:i + chunk_tokens], targets[i:i + chunk_tokens],
                          use_reentrant=False)
        total = part if total is None else total + part
    return total


def selected_loss(model, input_ids, attention_mask, labels, num_items_in_batch=None, share_prefix: bool = True,
                  chunk_tokens: int = CHUNK_TOKENS):
    """The causal-LM loss of ``model`` on the batch, computing the head only at positions with a label.

    Equal to ``model(input_ids, attention_mask, labels=labels, num_items_in_batch=...).loss``: a sum over
    the labelled positions divided by ``num_items_in_batch`` when given, else their mean."""
    import torch.nn.functional as F
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    body = base.get_decoder()
    shift = F.pad(labels, (0, 1), value=IGNORE_INDEX)[:, 1:]
    prefix = shared_prefix_length(input_ids, attention_mask, shift) if share_prefix else 0
    ckpt_attr = "is_activation_checkpointing" if hasattr(type(base), "is_activation_checkpointing") \
        else "is_gradient_checkpointing"
    if prefix and getattr(base, ckpt_attr, False):
        prefix = 0  # checkpointed layers run without a cache
    hidden = body_hidden(body, input_ids, attention_mask, prefix)
    shift = shift[:, prefix:]
    keep = shift != IGNORE_INDEX
    total = head_loss_sum(base.lm_head, hidden[keep], shift[keep], chunk_tokens)
    if num_items_in_batch is not None:
        if hasattr(num_items_in_batch, "to"):
            num_items_in_batch = num_items_in_batch.to(total.device)
        return total / num_items_in_batch
    return total / keep.sum()

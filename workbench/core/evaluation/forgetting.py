"""What a run costs the model it adapts: ``forgetting`` on general text the run never trained on.

``forgetting`` = mean per-token cross-entropy (nats) of the adapted model on ``presets/general_text/general.txt``
minus that of its base model on the same tokens. 0 means the adapter left general language modelling as it was
(an untrained LoRA, whose B = 0, gives exactly 0); a positive value is how much worse the model predicts ordinary
text after training (the price of specialising); a negative one, that it got better at it. The text is the same for
every run (about 2,300 tokens of plain encyclopedic English written for this project, CC0-1.0: its README).

How it is measured (``measure``): the text is tokenized paragraph by paragraph, cut into chunks of ``CHUNK_TOKENS``
and scored teacher-forced in batches of about ``BATCH_TOKENS`` positions; the loss is pooled over every predicted
token (the first token of each chunk has no context and is not predicted). The base model is the SAME loaded model
with its adapter switched off (``PeftModel.disable_adapter()``): nothing is loaded twice. Its loss is computed once
per base model in a process (``_BASE_LOSSES``, keyed by model name, weight dtype, 4-bit or not, device and the
text's digest), so the runs of an experiment pay for the base once.

A model that is not a ``PeftModel`` (full fine-tuning trains the whole model) has no adapter to switch off: its base
loss is the cached one, or is measured on the process's shared copy of the base (``MODEL_CACHE``: the one an
experiment copies its runs from; a single run loads it once). Encoder-decoder models are not measured.

``record(run_dir, model, tokenizer, model_name)`` (called by ``trainer.execute`` when a run ends done) writes the
details to ``<run>/forgetting.json`` and returns the value for status.json; it never fails the run.

Only the text's first ``MAX_TOKENS`` tokens are scored: about 3.5 s per pass on the embedded model (2 cores, fp32,
quiet), against 8 s for the whole text, and the mean over 1,024 tokens moves by less than the runs differ. The base
pass runs once per process, so a single run pays two passes and each further run of an experiment one.
``train.forgetting: false`` skips it.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench.core.paths import REPO_ROOT
from workbench.messages import Message

GENERAL_TEXT = REPO_ROOT / "presets" / "general_text" / "general.txt"
FILE = "forgetting.json"
CHUNK_TOKENS = 256
"""Tokens per scored sequence (fewer where the model's positions or its virtual tokens leave less room)."""
BATCH_TOKENS = 512
"""Positions per forward pass: 2 chunks, whose float32 logits over a 49k vocabulary take ~100 MB (on the embedded
model 512 and 1024 took the same time per pass)."""

MAX_TOKENS = 1024
"""Tokens of the text that are scored (its beginning): the cost of a pass is proportional to them."""

_BASE_LOSSES: dict[tuple, float] = {}
"""(model name, dtype, 4-bit, device, text digest, chunk) -> the base model's mean token loss, for this process."""


@dataclass
class Forgetting:
    """One run's forgetting measurement (``forgetting.json``)."""
    forgetting: float | None
    """adapted_loss - base_loss (nats per token); None when it was not measured (see ``reason``)."""
    base_loss: float | None
    """Mean token cross-entropy of the base model on the general text."""
    adapted_loss: float | None
    """The same for the adapted model."""
    tokens: int = 0
    """Predicted tokens the losses are averaged over."""
    base_cached: bool = False
    """True when the base loss came from an earlier run in the same process."""
    seconds: float = 0.0
    text_sha256: str = ""
    reason: dict[str, Any] | None = None
    """Why ``forgetting`` is None: a catalogue message (``Message.to_dict()``)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def general_text() -> str:
    """The fixed general text (presets/general_text/general.txt)."""
    return GENERAL_TEXT.read_text(encoding="utf-8")


def text_digest() -> str:
    return hashlib.sha256(GENERAL_TEXT.read_bytes()).hexdigest()


def _room(model) -> int:
    """Tokens one chunk may have on ``model``: CHUNK_TOKENS, or less where the positions run out."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    cfg = getattr(base, "config", None)
    limit = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or CHUNK_TOKENS
    peft_cfg = getattr(model, "active_peft_config", None)
    virtual = (getattr(peft_cfg, "num_virtual_tokens", 0) or 0) if getattr(peft_cfg, "is_prompt_learning", False) else 0
    return max(8, min(CHUNK_TOKENS, int(limit) - int(virtual)))


def chunks(tokenizer, max_tokens: int = CHUNK_TOKENS) -> list[list[int]]:
    """The general text as token ids, cut into chunks of at most ``max_tokens`` (paragraphs tokenized one by one,
    each followed by its blank line, so no tokenizer sees more than a paragraph at a time)."""
    ids: list[int] = []
    for para in general_text().strip().split("\n\n"):
        ids += tokenizer(para.strip() + "\n\n", add_special_tokens=False)["input_ids"]
    ids = ids[:MAX_TOKENS]
    return [ids[i:i + max_tokens] for i in range(0, len(ids), max_tokens) if len(ids[i:i + max_tokens]) > 1]


def mean_token_loss(model, token_chunks: list[list[int]], pad_id: int = 0,
                    batch_tokens: int = BATCH_TOKENS) -> tuple[float, int]:
    """(mean cross-entropy per predicted token, predicted tokens) of ``model`` on ``token_chunks``, in eval mode
    and without gradients (the model's training mode is restored)."""
    import torch
    device = next(model.parameters()).device
    width = max(len(c) for c in token_chunks)
    rows = max(1, batch_tokens // width)
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(token_chunks), rows):
                batch = token_chunks[i:i + rows]
                w = max(len(c) for c in batch)
                ids = torch.tensor([c + [pad_id] * (w - len(c)) for c in batch], device=device)
                mask = torch.tensor([[1] * len(c) + [0] * (w - len(c)) for c in batch], device=device)
                # prompt-learning models return logits for their virtual tokens too: keep the last w positions
                logits = model(input_ids=ids, attention_mask=mask).logits[:, -w:-1].float()
                # -log p(next) = logsumexp - the target's logit (no (rows x w x vocab) log-softmax tensor)
                nll = torch.logsumexp(logits, -1) - logits.gather(-1, ids[:, 1:, None]).squeeze(-1)
                keep = mask[:, 1:].bool()
                total += float(nll[keep].double().sum())
                count += int(keep.sum())
    finally:
        model.train(was_training)
    return total / count, count


def _base_key(model, model_name: str, chunk: int) -> tuple:
    p = next(model.parameters())
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    four_bit = bool(getattr(base, "is_loaded_in_4bit", False))
    return model_name, str(p.dtype), four_bit, str(p.device), text_digest(), chunk


def measure(model, tokenizer, model_name: str) -> Forgetting:
    """Forgetting of ``model`` against its base: a PeftModel's own base (adapter off), or for a whole trained model
    (full fine-tuning) the base ``model_name`` as the process's model cache holds it."""
    from peft import PeftModel
    t0 = time.time()
    digest = text_digest()
    whole = not isinstance(model, PeftModel)
    cfg = getattr(model if whole else model.get_base_model(), "config", None)
    if getattr(cfg, "is_encoder_decoder", False):
        return Forgetting(None, None, None, text_sha256=digest,
                          reason=Message("training.forgetting_encoder_decoder",
                                         {"model_type": getattr(cfg, "model_type", "?")}).to_dict())
    chunk = _room(model)
    token_chunks = chunks(tokenizer, chunk)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    adapted, n = mean_token_loss(model, token_chunks, pad)
    key = _base_key(model, model_name, chunk)
    cached = key in _BASE_LOSSES
    if not cached and whole:
        from workbench.core.model.loading import MODEL_CACHE
        from workbench.core.model.precision import pick_device
        device = next(model.parameters()).device.type
        base_model, _ = MODEL_CACHE.get(model_name, device="auto" if device == pick_device("auto") else device)
        _BASE_LOSSES[key], _ = mean_token_loss(base_model, token_chunks, pad)
    elif not cached:
        with model.disable_adapter():
            _BASE_LOSSES[key], _ = mean_token_loss(model, token_chunks, pad)
    base = _BASE_LOSSES[key]
    return Forgetting(forgetting=adapted - base, base_loss=base, adapted_loss=adapted, tokens=n, base_cached=cached,
                      seconds=round(time.time() - t0, 2), text_sha256=digest)


def read(run_dir: str | Path) -> dict[str, Any] | None:
    """A run's ``forgetting.json`` (None when it was never measured)."""
    import json
    try:
        return json.loads((Path(run_dir) / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def record(run_dir: str | Path, model, tokenizer, model_name: str) -> float | None:
    """``measure`` the run's model, write ``<run>/forgetting.json``, return ``forgetting`` (None when not measured).

    Never raises: a failure is recorded as the reason (``training.forgetting_failed``) and printed to stderr
    (train.log)."""
    import sys

    from workbench.core.runstore.status import write_json_atomic
    try:
        result = measure(model, tokenizer, model_name)
    except Exception as e:  # noqa: BLE001 - the run itself succeeded; say why it has no forgetting
        result = Forgetting(None, None, None, reason=Message("training.forgetting_failed",
                                                             {"detail": f"{type(e).__name__}: {e}"[:300]}).to_dict())
    if result.reason is not None:
        print(f"forgetting not measured: {Message.from_dict(result.reason)}", file=sys.stderr)
    try:
        write_json_atomic(Path(run_dir) / FILE, result.to_dict())
    except OSError as e:
        print(f"forgetting.json not written: {e}", file=sys.stderr)
    return result.forgetting

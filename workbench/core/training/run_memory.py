"""A run's memory estimate: the ``core/model/memory_estimate.py`` math applied to a run config on the device and
precision the run will train with, for the batch it will meet first.

Sequences are padded per batch and ``group_by_length`` puts the batch of the longest examples first, so for a shipped
(or local) dataset the estimate uses the batch made of its ``batch_size`` longest tokenized examples (their length,
labelled positions and shared prefix); for other data ``data.max_length``. The measured counterpart is
``core/training/callbacks.py`` ``peak_mem_mb(device)`` (CPU: peak RSS of the process; CUDA:
``torch.cuda.max_memory_allocated``, tensors only, which is why ``comparable_mb`` leaves the CUDA context out); a run's
status.json holds both, ``est_mem_mb`` (written when the run starts, ``run_estimate_mb``) and ``peak_mem_mb``.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn
import yaml

from workbench.spec.settings import DataSpec, RunSpec
from workbench.core.model.loading import MODEL_CACHE, load_tokenizer
from workbench.core.model.memory_estimate import MemoryEstimate, Workload, estimate
from workbench.core.model.precision import pick_device, pick_dtype, run_precision
from workbench.core.kernels.selected_loss import PLAIN_HEAD_TYPES, enabled as fast_loss_enabled
from workbench.core.data import datasets as data

MAX_TOKENIZED_EXAMPLES = 2000
"""estimate_run tokenizes at most this many examples of a dataset (a few seconds; the longest batch of a bigger
set is looked for among its first 2000 rows)."""


@dataclass
class BatchShape:
    """The batch a run's peak is measured on: the ``batch`` longest tokenized examples."""
    seq: int
    labelled: int
    shared_prefix: int


def batch_shape(input_ids: list[list[int]], labels: list[list[int]], batch: int) -> BatchShape:
    """Length, labelled positions and shared prefix of the batch of the ``batch`` longest rows."""
    order = sorted(range(len(input_ids)), key=lambda k: -len(input_ids[k]))[:max(batch, 1)]
    rows = [input_ids[k] for k in order]
    seq = len(rows[0])
    labelled = sum(sum(1 for x in labels[k][1:] if x != -100) for k in order)  # shifted labels
    first = min((next((j for j, x in enumerate(labels[k]) if x != -100), seq) for k in order), default=seq)
    p = 0
    shortest = min(len(r) for r in rows)
    while p < shortest and all(r[p] == rows[0][p] for r in rows):
        p += 1
    p = min(p, max(first - 1, 0), seq - 1)
    return BatchShape(seq=seq, labelled=labelled, shared_prefix=p if p >= 4 and len(rows) > 1 else 0)


@functools.lru_cache(maxsize=32)
def _shipped_shape(model_name: str, data_key: str, batch: int) -> BatchShape | None:
    spec = DataSpec(**yaml.safe_load(data_key))
    try:
        tok = load_tokenizer(model_name)
        examples = data.load_examples(spec, "train")
    except Exception:  # no tokenizer / data here: fall back to max_length
        return None
    examples = examples[:min(spec.limit or len(examples), MAX_TOKENIZED_EXAMPLES)]
    enc = [data.encode(e, tok, spec.max_length, spec.train_on_prompt, spec.use_chat_template) for e in examples]
    enc = [e for e in enc if any(x != -100 for x in e["labels"])]
    if not enc:
        return None
    return batch_shape([e["input_ids"] for e in enc], [e["labels"] for e in enc], batch)


def _is_local_data(name: str) -> bool:
    return data._shipped_dir(name.strip()) is not None or Path(os.path.expanduser(name.strip())).exists()


def _uses_fast_loss(model: nn.Module, spec: RunSpec) -> bool:
    if not fast_loss_enabled():
        return False
    if spec.adapter.is_prompt_learning:
        return False
    return getattr(model.config, "model_type", None) in PLAIN_HEAD_TYPES


def estimate_run(spec: RunSpec, device: str | None = None, train_dataset=None) -> MemoryEstimate:
    """The estimate for a run config on ``device`` (default: the one the run would pick).

    ``train_dataset``: the run's tokenized training set (``input_ids`` / ``labels`` columns) when the caller has
    it; else a shipped or local dataset is tokenized here (cached), and any other source uses ``data.max_length``."""
    device = device or pick_device(spec.train.device)
    model = MODEL_CACHE.meta(spec.model.name)
    b = spec.train.batch_size
    if train_dataset is not None:
        shape = batch_shape(list(train_dataset["input_ids"]), list(train_dataset["labels"]), b)
    elif _is_local_data(spec.data.name):
        shape = _shipped_shape(spec.model.name, yaml.safe_dump(spec.data.__dict__, sort_keys=True), b)
    else:
        shape = None
    shape = shape or BatchShape(seq=spec.data.max_length, labelled=b * spec.data.max_length, shared_prefix=0)
    quantized = spec.adapter.is_quantized
    work = Workload(batch=b, seq=shape.seq, precision=run_precision(spec, device),
                    checkpointing=quantized and device == "cuda", labelled=shape.labelled,
                    shared_prefix=shape.shared_prefix, fast_loss=_uses_fast_loss(model, spec), device=device,
                    checkpoint_resident=quantized and device == "cpu")
    dtype = str(pick_dtype(spec.model.dtype, device)).replace("torch.", "")
    return estimate(model, spec.adapter, work, base_dtype=dtype)


def run_estimate_mb(spec: RunSpec, device: str, train_dataset=None) -> float | None:
    """``estimate_run(...).comparable_mb`` for a starting run's status.json (``est_mem_mb``); None when the
    estimate cannot be made (an architecture the estimator does not know): an estimate never fails a run."""
    try:
        return estimate_run(spec, device, train_dataset).comparable_mb
    except Exception:
        return None

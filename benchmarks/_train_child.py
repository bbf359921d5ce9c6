"""Shared child-process code for the training benchmarks: time a workbench run step by step.

``run_workbench(recipe, steps, warm, overrides)`` trains ``recipe`` (a presets/recipes YAML) through
``workbench.core.training.trainer.run_training`` in this process, with checkpoints and the final eval switched off,
and returns steady-state figures plus what the loaded model occupies (parameters + buffers + 4-bit
quantisation constants) and the process RSS right after loading.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from _common import peak_rss_mb, rss_mb


def step_timer():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.t = []          # time at each step end
            self.cpu = []        # process CPU seconds (all threads) at each step end
            self.load = []       # 1-minute load average at each step end
            self.useful = []     # cumulative non-padding tokens at each step end
            self.losses = []     # training loss of each logged step
            self.t_begin = None

        def on_train_begin(self, args, state, control, **kw):
            self.t_begin = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.t.append(time.perf_counter())
            self.cpu.append(time.process_time())
            self.load.append(os.getloadavg()[0])
            self.useful.append(int(state.num_input_tokens_seen or 0))

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                self.losses.append(round(float(logs["loss"]), 4))
    return StepTimer()


class ShapeLog:
    """Wraps a collator to count every position processed (padding included), and per batch
    (rows, positions, positions whose shifted label carries loss, prefix shared by every row)."""

    def __init__(self, collate):
        self.collate = collate
        self.processed = []
        self.lengths = []
        self.batches: list[tuple[int, int, int, int]] = []

    def __call__(self, features):
        import torch.nn.functional as F

        from workbench.core.kernels.selected_loss import IGNORE_INDEX, shared_prefix_length
        b = self.collate(features)
        ids = b["input_ids"]
        self.processed.append(int(ids.numel()))
        self.lengths.append(int(ids.shape[1]))
        shift = F.pad(b["labels"], (0, 1), value=IGNORE_INDEX)[:, 1:]
        self.batches.append((int(ids.shape[0]), int(ids.numel()), int((shift != IGNORE_INDEX).sum()),
                             shared_prefix_length(ids, b.get("attention_mask"), shift)))
        return b


N_HEAD = 49_152 * 576           # SmolLM2-135M: the vocabulary head's matmul parameters
N_BODY = 134_515_008 - N_HEAD   # the decoder layers' matmul parameters (embedding lookups are not matmuls)


def executed_flops(batches: list[tuple[int, int, int, int]], fast_loss: bool, share_prefix: bool = True) -> float:
    """Matmul FLOPs the steps really ran (4 x params x positions: forward + activation gradients): the standard
    path runs body and head at every position; the fast loss runs the head at labelled positions only and a
    shared prefix once per batch."""
    total = 0.0
    for rows, positions, labelled, prefix in batches:
        if not fast_loss:
            total += 4 * (N_BODY + N_HEAD) * positions
        else:
            body = positions - (rows - 1) * prefix if share_prefix else positions
            total += 4 * (N_BODY * body + N_HEAD * labelled)
    return total


def summarize(timer, processed: list[int], warm: int, batch_size: int, extra: dict,
              batches: list | None = None, fast_loss: bool = False, share_prefix: bool = True) -> dict:
    n = len(timer.t)
    w = min(warm, n - 1)
    dt = timer.t[-1] - timer.t[w - 1] if w > 0 else timer.t[-1] - timer.t_begin
    useful = timer.useful[-1] - (timer.useful[w - 1] if w > 0 else 0)
    proc = sum(processed[w:n])  # the dataloader may have fetched a batch more than the steps run
    steps = n - w
    cpu = timer.cpu[-1] - timer.cpu[max(w - 1, 0)]
    wall = timer.t[-1] - timer.t[max(w - 1, 0)]
    loads = timer.load[w:n] or timer.load
    extra = dict(extra, cpu_util=cpu / wall if wall > 0 else None, load_during=sum(loads) / len(loads))
    if batches:
        extra["executed_flop_s"] = executed_flops(batches[w:n], fast_loss, share_prefix) / dt
    return dict(extra, steps_timed=steps, s_per_step=dt / steps, useful_tok_s=useful / dt, processed_tok_s=proc / dt,
                useful_tokens=useful, processed_tokens=proc, padding_frac=1 - useful / proc if proc else None,
                peak_rss_mb=peak_rss_mb(), batch_size=batch_size, step_times=[b - a for a, b in zip(timer.t, timer.t[1:])])


def model_bytes(model) -> dict:
    """Bytes of parameters + buffers as loaded (4-bit weights packed), plus bitsandbytes quant-state tensors."""
    import torch
    seen: set[int] = set()
    params = buffers = quant = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        params += p.numel() * p.element_size()
        qs = getattr(p, "quant_state", None)
        if qs is not None:
            for t in _quant_tensors(qs):
                quant += t.numel() * t.element_size()
    for b in model.buffers():
        if id(b) not in seen:
            seen.add(id(b))
            buffers += b.numel() * b.element_size()
    del torch
    return {"params_bytes": params, "buffers_bytes": buffers, "quant_state_bytes": quant,
            "model_bytes": params + buffers + quant}


def _quant_tensors(qs):
    import torch
    out = []
    for name in ("absmax", "code"):
        t = getattr(qs, name, None)
        if isinstance(t, torch.Tensor):
            out.append(t)
    inner = getattr(qs, "state2", None)
    if inner is not None:
        out.extend(_quant_tensors(inner))
    return out


def _threads() -> int:
    import torch
    return torch.get_num_threads()


def run_workbench(recipe: Path, steps: int, warm: int, overrides: dict) -> dict:
    import transformers
    import yaml

    from workbench.core.data import datasets as data
    from workbench.core.training import trainer as train
    from workbench.core.model.memory_estimate import EAGER_MAX_TOKENS
    from workbench.core.model.precision import mixed_precision
    from workbench.core.model.loading import embedded_checkpoint_dir
    embedded_checkpoint_dir()  # converted once, outside the timing
    rss_before = rss_mb()
    cfg = yaml.safe_load(Path(recipe).read_text())
    cfg["train"].update(save_steps=10_000, eval_at_end=bool(overrides.get("_eval")), max_steps=steps)
    keep_sdpa = overrides.get("_keep_sdpa", False)  # benchmark switch: skip trainer.pick_attention
    for dotted, v in overrides.items():
        if dotted.startswith("_"):
            continue
        sec, key = dotted.split(".", 1)
        cfg[sec][key] = v
    timer = step_timer()
    shapes: list[ShapeLog] = []
    loaded: dict = {}
    trainer_cls: list[str] = []
    orig_collator = data.make_collator

    def make_collator(tok, *a, **k):
        s = ShapeLog(orig_collator(tok, *a, **k))
        shapes.append(s)
        return s

    data.make_collator = make_collator
    orig_init = transformers.Trainer.__init__

    def init(self, *a, callbacks=None, **k):  # add the step timer to the workbench's own Trainer
        model = k.get("model")
        trainer_cls.append(type(self).__name__)
        if model is not None and not loaded:
            loaded.update(model_bytes(model), rss_after_load_mb=rss_mb(), rss_before_load_mb=rss_before,
                          peak_rss_after_load_mb=peak_rss_mb())
        orig_init(self, *a, callbacks=list(callbacks or []) + [timer], **k)

    transformers.Trainer.__init__ = init
    orig_pick = train.pick_attention
    if keep_sdpa:
        train.pick_attention = lambda *a, **k: None
    try:
        with tempfile.TemporaryDirectory() as td:
            cfg_path = Path(td) / "config.yaml"
            cfg_path.write_text(yaml.safe_dump(cfg))
            run_dir = train.prepare_run_dir(cfg_path, Path(td) / "run")
            t0 = time.perf_counter()
            status = train.run_training(run_dir)
            total = time.perf_counter() - t0
    finally:
        transformers.Trainer.__init__ = orig_init
        train.pick_attention = orig_pick
        data.make_collator = orig_collator
    bf16, _ = mixed_precision(cfg["train"].get("precision", "auto"), status.device or "cpu",
                              quantized=cfg["adapter"]["method"] == "qlora")
    attn = "sdpa" if keep_sdpa or not bf16 or max(shapes[0].lengths) > EAGER_MAX_TOKENS else "eager"
    dtype = str(status.dtype) + (" + bf16 autocast" if bf16 and "4-bit" not in str(status.dtype) else "")
    fast = bool(trainer_cls) and trainer_cls[0] == "FastLossTrainer"
    share = os.environ.get("WORKBENCH_SHARE_PREFIX", "1") not in ("0", "false", "no", "off", "")
    return summarize(timer, shapes[0].processed, warm, cfg["train"]["batch_size"],
                     dict(loaded, total_s=total, final_loss=status.last_loss, dtype=dtype, attention=attn,
                          threads=_threads(), overrides=overrides, losses=timer.losses, eval_loss=status.eval_loss,
                          device=status.device,
                          trainer=trainer_cls[0] if trainer_cls else None, fast_loss=fast,
                          share_prefix=fast and share),
                     batches=shapes[0].batches, fast_loss=fast, share_prefix=share)

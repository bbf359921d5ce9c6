"""The Trainer callback that turns a transformers.Trainer run into run-directory files.

Every optimizer step it: updates status.json (step, ETA), checks the STOP file and the wall-clock
limit (agreed across all ranks under DDP, so every process stops at the same step), and on each log
event appends a row to log.jsonl with the loss, learning rate and non-padding tokens per second.
Only rank 0 writes files.

Tests add callbacks of their own (fault injection, slow steps) without touching this one:
  WORKBENCH_EXTRA_CALLBACKS=module:Class[,module:Class]   TrainerCallbacks the run also uses (placed before
                             RunCallback), each built as ``Class(run_dir=...)``; see tests/support/faults.py
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from transformers import TrainerCallback

from workbench.core.runstore import run_dirs as runs
from workbench.core.runstore.status import STOP_REQUESTED, TIME_LIMIT_REACHED

STOP_NONE, STOP_USER, STOP_WALL = 0, 1, 2
STOP_REASONS = {STOP_USER: STOP_REQUESTED, STOP_WALL: TIME_LIMIT_REACHED}


def extra_callbacks(run_dir: Path) -> list[TrainerCallback]:
    """The callbacks named by WORKBENCH_EXTRA_CALLBACKS (``module:Class`` items, comma-separated), built for this run."""
    import importlib
    out = []
    for item in (os.environ.get("WORKBENCH_EXTRA_CALLBACKS") or "").split(","):
        module, _, name = item.strip().partition(":")
        if not module:
            continue
        if not name:
            raise runs.RunError("runs.bad_extra_callback", item=item.strip())
        out.append(getattr(importlib.import_module(module), name)(run_dir=Path(run_dir)))
    return out


def own_cpu_s() -> float:
    """CPU seconds (user + system) this process and its finished children used."""
    import resource
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return round(me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, 1)


def peak_mem_mb(device: str | None = None) -> float:
    """Peak memory of this worker in MiB since it started or since ``reset_peak_memory``: the GPU's peak allocation
    on CUDA, else the process's peak RSS (Linux: VmHWM, which the reset clears; elsewhere ru_maxrss)."""
    import resource
    import sys

    import torch
    if (device or "cuda") == "cuda" and torch.cuda.is_available() and torch.cuda.is_initialized():
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)


def reset_peak_memory() -> None:
    """Start a new peak for the next run of this process (an experiment trains several in one): CUDA's peak
    allocation, and on Linux the peak RSS (VmHWM, reset by writing 5 to /proc/self/clear_refs). In a sweep the process
    also holds the base the runs share, so a run's CPU peak includes that copy (a separate ``workbench train`` would
    not)."""
    import gc

    import torch
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.reset_peak_memory_stats()
    gc.collect()
    _return_free_heap()  # else the heap an earlier, bigger run left behind counts in this run's peak
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # not Linux, or not allowed: the peak then covers the whole process
        pass


def _return_free_heap() -> None:
    """glibc keeps freed heap mapped; ``malloc_trim`` gives it back to the OS so the resident size is what is in use.
    (Measured: a QLoRA run after a prompt-tuning run in one experiment peaked at 4.1 GB, alone at 2.8 GB.)"""
    import ctypes
    import ctypes.util
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to give back this way
        pass


def dist_info() -> tuple[int, int]:
    """(rank, world_size) from the launcher's environment (torchrun / accelerate launch), before any init."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def agree_max(code: int, device) -> int:
    """The largest ``code`` over all ranks (a no-op outside distributed runs)."""
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return code
    import torch
    t = torch.tensor([code], dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


class RunCallback(TrainerCallback):
    """Writes log.jsonl / status.json and enforces STOP and the wall-clock limit."""

    def __init__(self, run_dir: Path, is_main: bool, max_wall_seconds: float | None = None,
                 elapsed_offset: float = 0.0):
        self.run_dir = Path(run_dir)
        self.is_main = is_main
        self.max_wall_seconds = max_wall_seconds
        self.elapsed_offset = elapsed_offset
        self.stop_code = STOP_NONE
        self.train_loss: float | None = None
        self.last_loss: float | None = None
        self.t0 = time.time()
        self._start_step = 0
        self._last_time = self.t0
        self._last_tokens = 0

    # ----------------------------------------------------------------- helpers
    @property
    def stop_reason(self) -> str | None:
        return STOP_REASONS.get(self.stop_code)

    def elapsed(self) -> float:
        return self.elapsed_offset + (time.time() - self.t0)

    def eta(self, state) -> float | None:
        done = state.global_step - self._start_step
        if done <= 0:
            return None
        return (time.time() - self.t0) / done * max(0, state.max_steps - state.global_step)

    def _append(self, row: dict) -> None:
        with open(self.run_dir / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    # ----------------------------------------------------------------- events
    def on_train_begin(self, args, state, control, **kwargs):
        self.t0 = self._last_time = time.time()
        self._start_step = state.global_step
        self._last_tokens = state.num_input_tokens_seen or 0
        if self.is_main:
            runs.update_status(self.run_dir, step=state.global_step, max_steps=state.max_steps)

    def on_step_end(self, args, state, control, **kwargs):
        code = STOP_NONE
        if runs.stop_file(self.run_dir).exists():
            code = STOP_USER
        elif self.max_wall_seconds is not None and time.time() - self.t0 >= self.max_wall_seconds:
            code = STOP_WALL
        code = agree_max(code, args.device)
        if code != STOP_NONE and state.global_step < state.max_steps:
            self.stop_code = code
            control.should_training_stop = True
            control.should_save = True  # a resumable checkpoint at exactly this step
        if self.is_main:
            runs.update_status(self.run_dir, step=state.global_step, eta_s=self.eta(state),
                               elapsed_s=round(self.elapsed(), 2))
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "train_loss" in logs:  # the summary Trainer logs at the very end
            self.train_loss = float(logs["train_loss"])
            return
        if not self.is_main:
            return
        now = time.time()
        row: dict = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4),
                     "elapsed_s": round(self.elapsed(), 2)}
        if "loss" in logs:
            tokens = state.num_input_tokens_seen or 0
            dt = now - self._last_time
            self.last_loss = float(logs["loss"])
            row.update(loss=self.last_loss, learning_rate=logs.get("learning_rate"),
                       grad_norm=logs.get("grad_norm"),
                       tokens_per_s=round((tokens - self._last_tokens) / dt, 1) if dt > 0 else None,
                       eta_s=None if self.eta(state) is None else round(self.eta(state), 1))
            self._last_time, self._last_tokens = now, tokens
        elif "eval_loss" in logs:
            row["eval_loss"] = float(logs["eval_loss"])
        else:
            return
        self._append(row)

    def on_save(self, args, state, control, **kwargs):
        if self.is_main:
            runs.update_status(self.run_dir, checkpoint_step=state.global_step)

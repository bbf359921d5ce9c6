"""The Trainer callback that turns a transformers.Trainer run into run-directory files.

Every optimizer step it: updates status.json (step, ETA), checks the STOP file and the wall-clock
limit (agreed across all ranks under DDP, so every process stops at the same step), and on each log
event appends a row to log.jsonl with the loss, learning rate and non-padding tokens per second.
Only rank 0 writes files.

Testing hooks (environment variables, read once when the run starts):
  WORKBENCH_FAIL_AT_STEP=N   raise a RuntimeError at the end of optimizer step N (to test failure handling)
  WORKBENCH_STEP_DELAY_S=X   sleep X seconds after every step (to test stop/kill on a tiny model)
  WORKBENCH_FAULTS=NAME=KIND@N[,...]  for the run whose config ``name`` is NAME only: at optimizer step N raise
                             KIND = error (InjectedFailure), oom (torch.OutOfMemoryError) or enospc (OSError
                             ENOSPC while saving a checkpoint; put a save at or after step N)
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from transformers import TrainerCallback

from . import runs

STOP_NONE, STOP_REQUESTED, STOP_WALL = 0, 1, 2
STOP_REASONS = {STOP_REQUESTED: "stop requested", STOP_WALL: "time limit reached"}


class InjectedFailure(RuntimeError):
    """Raised by the WORKBENCH_FAIL_AT_STEP testing hook."""


def _injected_fault(run_dir: Path) -> tuple[str, int] | None:
    """(kind, step) from WORKBENCH_FAULTS for this run's config name, or None."""
    spec = os.environ.get("WORKBENCH_FAULTS") or ""
    if not spec.strip():
        return None
    import yaml
    try:
        name = (yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8")) or {}).get("name")
    except (OSError, yaml.YAMLError):
        return None
    for item in spec.split(","):
        target, _, rest = item.strip().partition("=")
        kind, _, step = rest.partition("@")
        if target and target == name and kind in ("error", "oom", "enospc") and step.isdigit():
            return kind, int(step)
    return None


def _raise_fault(kind: str, step: int) -> None:
    what = f"injected at step {step} (WORKBENCH_FAULTS)"
    if kind == "oom":
        import torch
        raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate 20.00 GiB; {what}")
    if kind == "enospc":
        import errno
        raise OSError(errno.ENOSPC, f"No space left on device ({what})")
    raise InjectedFailure(f"injected failure {what}")


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


def env_number(name: str, cast=float):
    v = os.environ.get(name)
    if v in (None, ""):
        return None
    try:
        return cast(v)
    except ValueError:
        raise runs.RunError(f"environment variable {name} must be a number (got {v!r})") from None


class RunCallback(TrainerCallback):
    """Writes log.jsonl / status.json and enforces STOP and the wall-clock limit."""

    def __init__(self, run_dir: Path, is_main: bool, max_wall_seconds: float | None = None,
                 elapsed_offset: float = 0.0):
        self.run_dir = Path(run_dir)
        self.is_main = is_main
        self.max_wall_seconds = max_wall_seconds
        self.elapsed_offset = elapsed_offset
        self.fail_at_step = env_number("WORKBENCH_FAIL_AT_STEP", int)
        self.step_delay = env_number("WORKBENCH_STEP_DELAY_S") or 0.0
        self.fault = _injected_fault(self.run_dir)
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
            runs.update_status_dir(self.run_dir, step=state.global_step, max_steps=state.max_steps)

    def on_step_end(self, args, state, control, **kwargs):
        if self.fail_at_step is not None and state.global_step >= self.fail_at_step:
            raise InjectedFailure(f"injected failure at step {state.global_step} (WORKBENCH_FAIL_AT_STEP)")
        if self.fault and self.fault[0] != "enospc" and state.global_step >= self.fault[1]:
            _raise_fault(self.fault[0], state.global_step)
        if self.step_delay:
            time.sleep(self.step_delay)
        code = STOP_NONE
        if runs.stop_file(self.run_dir).exists():
            code = STOP_REQUESTED
        elif self.max_wall_seconds is not None and time.time() - self.t0 >= self.max_wall_seconds:
            code = STOP_WALL
        code = agree_max(code, args.device)
        if code != STOP_NONE and state.global_step < state.max_steps:
            self.stop_code = code
            control.should_training_stop = True
            control.should_save = True  # a resumable checkpoint at exactly this step
        if self.is_main:
            runs.update_status_dir(self.run_dir, step=state.global_step, eta_s=self.eta(state),
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
        if self.fault and self.fault[0] == "enospc" and state.global_step >= self.fault[1]:
            _raise_fault("enospc", state.global_step)
        if self.is_main:
            runs.update_status_dir(self.run_dir, checkpoint_step=state.global_step)

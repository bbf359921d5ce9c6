"""Test-only fault injection for training runs (never loaded in production).

A run loads it when ``WORKBENCH_EXTRA_CALLBACKS=tests.support.faults:FaultCallback`` is set (the worker process
gets the repository root on PYTHONPATH). It reads, once per run:

  WORKBENCH_FAIL_AT_STEP=N   raise InjectedFailure at the end of optimizer step N
  WORKBENCH_STEP_DELAY_S=X   sleep X seconds after every step (tiny runs last long enough to stop or kill)
  WORKBENCH_FAULTS=NAME=KIND@N[,...]  for the run whose config ``name`` is NAME only: at optimizer step N raise
                             KIND = error (InjectedFailure), oom (torch.OutOfMemoryError) or enospc (OSError
                             ENOSPC while saving a checkpoint; put a save at or after step N)
"""
from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import yaml
from transformers import TrainerCallback

HOOK = "tests.support.faults:FaultCallback"
"""The value of WORKBENCH_EXTRA_CALLBACKS that loads this callback."""


class InjectedFailure(RuntimeError):
    """Raised by the WORKBENCH_FAIL_AT_STEP / WORKBENCH_FAULTS error hooks."""


def _number(name: str, cast=float):
    value = os.environ.get(name)
    return cast(value) if value not in (None, "") else None


def _named_fault(run_dir: Path) -> tuple[str, int] | None:
    """(kind, step) from WORKBENCH_FAULTS for this run's config name, or None."""
    spec = os.environ.get("WORKBENCH_FAULTS") or ""
    if not spec.strip():
        return None
    try:
        name = (yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}).get("name")
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
        raise OSError(errno.ENOSPC, f"No space left on device ({what})")
    raise InjectedFailure(f"injected failure {what}")


class FaultCallback(TrainerCallback):
    """Fails, slows down or fills the disk of a run on request (see the module docstring)."""

    def __init__(self, run_dir: Path, **_):
        self.fail_at_step = _number("WORKBENCH_FAIL_AT_STEP", int)
        self.step_delay = _number("WORKBENCH_STEP_DELAY_S") or 0.0
        self.fault = _named_fault(Path(run_dir))

    def on_step_end(self, args, state, control, **kwargs):
        if self.fail_at_step is not None and state.global_step >= self.fail_at_step:
            raise InjectedFailure(f"injected failure at step {state.global_step} (WORKBENCH_FAIL_AT_STEP)")
        if self.fault and self.fault[0] != "enospc" and state.global_step >= self.fault[1]:
            _raise_fault(self.fault[0], state.global_step)
        if self.step_delay:
            time.sleep(self.step_delay)

    def on_save(self, args, state, control, **kwargs):
        if self.fault and self.fault[0] == "enospc" and state.global_step >= self.fault[1]:
            _raise_fault("enospc", state.global_step)

"""The caps every training run obeys: steps and wall-clock seconds (env, with defaults in public mode); and the
caps of one experiment: its runs and its training steps in all (``experiment_limits``).

Training enforces the run caps (``trainer.effective_limits``); the workspace refuses a run over the step cap when it
is submitted, ``plan.expand`` an experiment over its caps, and the page names them under its intro in public mode.
"""
from __future__ import annotations

from dataclasses import dataclass

from workbench.core.env import env_int, env_number, is_public

PUBLIC_MAX_STEPS = 100
"""Default step cap in public mode: the quick recipes (presets/recipes, 20-30 steps) and the 60-step default fit."""
PUBLIC_MAX_WALL_SECONDS = 15 * 60
"""Default wall-clock cap per run in public mode (a quick recipe takes a few minutes on a Space's CPU)."""
DEFAULT_MAX_EXPERIMENT_RUNS = 40
"""Runs one experiment may start by default (the method zoo has 38)."""
PUBLIC_MAX_EXPERIMENT_RUNS = 8
"""The default in public mode: bigger shipped experiments (the method zoo) show their recorded answer."""
PUBLIC_MAX_EXPERIMENT_STEPS = 300
"""Training steps one experiment may take in all (every run's max_steps summed) by default in public mode: every
shipped experiment's steps fit (rank-sweep trains 90; the method zoo, 228 over 38 runs, is over the run cap)."""

@dataclass(frozen=True)
class RunLimits:
    """The caps every training run obeys (None: no cap)."""
    max_steps: int | None = None
    max_wall_seconds: float | None = None


def run_limits(public: bool | None = None) -> RunLimits:
    """WORKBENCH_MAX_STEPS / WORKBENCH_MAX_WALL_SECONDS when set (0 = no cap); otherwise PUBLIC_MAX_STEPS /
    PUBLIC_MAX_WALL_SECONDS in public mode (``public``; default: ``env.is_public()``), and no caps locally."""
    public = is_public() if public is None else public
    steps = env_int("WORKBENCH_MAX_STEPS", None)
    wall = env_number("WORKBENCH_MAX_WALL_SECONDS", None)
    steps = (PUBLIC_MAX_STEPS if public else None) if steps is None else steps
    wall = (PUBLIC_MAX_WALL_SECONDS if public else None) if wall is None else wall
    return RunLimits(max_steps=steps if steps and steps > 0 else None,
                     max_wall_seconds=float(wall) if wall and wall > 0 else None)


@dataclass(frozen=True)
class ExperimentLimits:
    """The caps of one experiment (None: no cap)."""
    max_runs: int
    max_steps: int | None = None


def experiment_limits(public: bool | None = None) -> ExperimentLimits:
    """WORKBENCH_MAX_EXPERIMENT_RUNS (default 40; PUBLIC_MAX_EXPERIMENT_RUNS in public mode) and
    WORKBENCH_MAX_EXPERIMENT_STEPS (0 = no cap; default PUBLIC_MAX_EXPERIMENT_STEPS in public mode, none locally);
    ``public`` defaults to ``env.is_public()``."""
    public = is_public() if public is None else public
    runs = PUBLIC_MAX_EXPERIMENT_RUNS if public else DEFAULT_MAX_EXPERIMENT_RUNS
    runs = env_int("WORKBENCH_MAX_EXPERIMENT_RUNS", runs, lo=1)
    steps = env_int("WORKBENCH_MAX_EXPERIMENT_STEPS", None)
    steps = (PUBLIC_MAX_EXPERIMENT_STEPS if public else None) if steps is None else steps
    return ExperimentLimits(max_runs=runs, max_steps=steps if steps and steps > 0 else None)

"""The caps every training run obeys: steps and wall-clock seconds (env, with defaults in public mode).

Training enforces them (``trainer.effective_limits``); the workspace refuses a run over the step cap when it is
submitted, and the page names them under its intro in public mode.
"""
from __future__ import annotations

from dataclasses import dataclass

from workbench.core.env import env_int, env_number, is_public

PUBLIC_MAX_STEPS = 100
"""Default step cap in public mode: the quick recipes (presets/recipes, 20-30 steps) and the 60-step default fit."""
PUBLIC_MAX_WALL_SECONDS = 15 * 60
"""Default wall-clock cap per run in public mode (a quick recipe takes a few minutes on a Space's CPU)."""

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

"""Where runs are kept, and whether they survive a restart (Hugging Face Spaces persistent storage).

``default_runs_root(repo_root)``: ``WORKBENCH_RUNS_DIR`` when set; else, on a Space (``SPACE_ID`` set) whose
persistent storage is mounted (``/data`` is a writable folder), ``/data/workbench-runs``; else ``<repo>/runs``.
A Space's own disk is wiped on every restart, so runs (and the uploads folder next to them) go to ``/data``
whenever it exists. ``runs_are_ephemeral()`` is True on a Space without persistent storage: the page says so.
"""
from __future__ import annotations

import os
from pathlib import Path

from workbench.core import env

SPACE_DATA = Path("/data")
"""Where Hugging Face Spaces mount persistent storage."""


def persistent_dir(data: Path = SPACE_DATA) -> Path | None:
    """``/data`` on a Space that has persistent storage mounted (a writable folder), else None."""
    if env.on_space() and data.is_dir() and os.access(data, os.W_OK | os.X_OK):
        return data
    return None


def default_runs_root(repo_root: Path, data: Path = SPACE_DATA) -> Path:
    """The runs folder: WORKBENCH_RUNS_DIR, else <persistent storage>/workbench-runs on a Space, else <repo>/runs."""
    env = os.environ.get("WORKBENCH_RUNS_DIR")
    if env:
        return Path(env)
    persistent = persistent_dir(data)
    return persistent / "workbench-runs" if persistent is not None else Path(repo_root) / "runs"


def runs_are_ephemeral(data: Path = SPACE_DATA) -> bool:
    """True on a Space without persistent storage and without WORKBENCH_RUNS_DIR: runs vanish on restart."""
    return env.on_space() and not os.environ.get("WORKBENCH_RUNS_DIR") and persistent_dir(data) is None

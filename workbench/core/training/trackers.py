"""The trackers a run also reports to (``train.report_to``): transformers' own integrations, configured here.

Nothing logs anywhere unless a run names a tracker; the Trainer's own callbacks (TensorBoardCallback,
TrackioCallback, WandbCallback, MLflowCallback) do the logging, this module only says where:

    check(spec, public)              SpecError on train.report_to: a tracker public mode does not offer, or one that
                                     is not installed (with the pip command), said before anything queues
    allowed(public)                  the trackers a run may name (public mode: the local ones, trackio + tensorboard)
    project(spec)                    the project / group: train.tracker_project, else "workbench" (an experiment's
                                     runs carry the experiment's name, core/experiments/plan.py)
    arguments(spec, run_dir)         TrainingArguments keywords: report_to, run_name, Trackio's project (local only)
    environment(spec, run_dir)       context: the variables the callbacks read, set while the run trains

Where each one writes:
  tensorboard   <run_dir>/tensorboard/ (TENSORBOARD_LOGGING_DIR)          tensorboard --logdir runs/
  trackio       Trackio's local store (TRACKIO_DIR, default ~/.cache/huggingface/trackio), never a Space    trackio show
  wandb         project WANDB_PROJECT = project(spec)
  mlflow        experiment MLFLOW_EXPERIMENT_NAME = project(spec) (at MLFLOW_TRACKING_URI, else mlflow's default)
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path
from typing import Iterator

from workbench.errors import SpecError
from workbench.spec.settings import LOCAL_TRACKERS, TRACKERS, RunSpec

DEFAULT_PROJECT = "workbench"
"""The project / group of a run that names none (a single run; an experiment's runs use the experiment's name)."""

PACKAGES = {"trackio": "trackio", "tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
"""Each tracker's package: the module transformers imports, and what ``pip install`` takes."""

TENSORBOARD_DIR = "tensorboard"
"""A run's TensorBoard event files: ``<run_dir>/tensorboard/``."""


def allowed(public: bool) -> tuple[str, ...]:
    """The trackers a run may report to: public mode keeps the metrics on the server (trackio, tensorboard)."""
    return LOCAL_TRACKERS if public else TRACKERS


def installed(name: str) -> bool:
    return importlib.util.find_spec(PACKAGES[name]) is not None


def check(spec: RunSpec, public: bool) -> None:
    """Refuse a tracker public mode does not offer, or one whose package is missing (naming the pip command)."""
    for name in spec.train.report_to:
        if name not in allowed(public):
            raise SpecError("train.report_to", "settings.tracker_not_public", name=name,
                            choices=", ".join(allowed(public)))
        if not installed(name):
            raise SpecError("train.report_to", "settings.tracker_not_installed", name=name, package=PACKAGES[name])


def project(spec: RunSpec) -> str:
    return spec.train.tracker_project or DEFAULT_PROJECT


def run_name(spec: RunSpec, run_dir: Path) -> str:
    """The run as the trackers list it: its name and its id (unique, so a resumed run continues its own record)."""
    return f"{spec.name} ({run_dir.name})" if spec.name else run_dir.name


def arguments(spec: RunSpec, run_dir: Path) -> dict:
    """The TrainingArguments keywords for the run's trackers (``report_to=[]`` when it names none)."""
    kw: dict = {"report_to": list(spec.train.report_to)}
    if spec.train.report_to:
        kw["run_name"] = run_name(spec, run_dir)
    if "trackio" in spec.train.report_to:  # the local store only: no Space, no static copy pushed anywhere
        kw.update(project=project(spec), trackio_space_id=None, trackio_static_space_id=False)
    return kw


def _variables(spec: RunSpec, run_dir: Path) -> dict[str, str]:
    names, out = spec.train.report_to, {}
    if "tensorboard" in names:
        out["TENSORBOARD_LOGGING_DIR"] = str(run_dir / TENSORBOARD_DIR)
    if "wandb" in names:
        out["WANDB_PROJECT"] = project(spec)
    if "mlflow" in names:
        out["MLFLOW_EXPERIMENT_NAME"] = project(spec)
    return out


@contextlib.contextmanager
def environment(spec: RunSpec, run_dir: Path) -> Iterator[None]:
    """While the run builds its Trainer and trains: the variables its trackers' callbacks read (TensorBoard's
    directory, W&B's project, MLflow's experiment); the earlier values come back afterwards."""
    new = _variables(spec, run_dir)
    old = {k: os.environ.get(k) for k in new}
    os.environ.update(new)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

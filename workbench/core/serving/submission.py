"""Submitting a run: every check a config can fail is made here, before the run waits in the queue.

    run_id = submit(spec, Workspace(owner))

``check_run(spec, workspace) -> Checked(count, est_mem_mb)`` refuses (SpecError naming the field, or the engine's own clear error):

- a model name the workspace does not allow (public mode: presets, the embedded model, hub ids, own uploads),
- public mode: more steps than the server's step cap (``run_limits.run_limits``),
- a tracker (``train.report_to``) the server does not offer (public mode: wandb, mlflow) or has not installed,
- an architecture-only model (no weights to train),
- a data source the workspace may not read, or data that does not load (bad rows, missing file),
- target modules that match nothing on the model, and knobs of the method that do not fit it: the counting
  engine runs the method's plan on the meta model (``counting.count`` on ``MODEL_CACHE.meta``; milliseconds).

Then ``RunManager.submit`` creates the run folder and queues it; ``est_mem_mb`` goes into its status.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.errors import SpecError
from workbench.spec.settings import RunSpec
from workbench.core.runstore import run_dirs as runs
from workbench.core.serving.workspace import Workspace

if TYPE_CHECKING:
    from workbench.core.serving.run_queue import RunManager
    from workbench.core.model.counting import ParamCount


@dataclass
class Checked:
    """What the checks learnt about a run: its parameter count and estimated peak memory (core/training/run_memory.py)."""
    count: "ParamCount"
    est_mem_mb: float


def check_run(spec: RunSpec, workspace: Workspace) -> Checked:
    """Raise on anything that would make ``spec`` fail at its start."""
    from workbench.core.data import datasets as data
    from workbench.core.training.run_memory import estimate_run
    from workbench.core.model import loading as models
    from workbench.core.model import counting as params
    workspace.check_model_name(spec.model.name)
    workspace.check_limits(spec)  # public mode: the step cap, said at once
    workspace.check_trackers(spec)  # train.report_to: offered here (public mode: the local ones) and installed
    ref = models.resolve(spec.model.name)
    if ref.kind in ("arch", "config"):
        raise SpecError("model.name", "models.architecture_only_train", name=spec.model.name, example=models.EMBEDDED_NAME)
    workspace.check_data_source(spec.data.name)
    data.load_examples(spec.data, "train")
    meta = models.MODEL_CACHE.meta(spec.model.name)
    count = params.count(meta, spec.adapter)
    return Checked(count=count, est_mem_mb=estimate_run(spec).comparable_mb)  # activations included


def submit(spec: RunSpec, workspace: Workspace, experiment: str | None = None,
           manager: "RunManager | None" = None) -> str:
    """Check ``spec`` for ``workspace`` (``check_run``) and queue it (as part of ``experiment``, if given);
    returns the run id."""
    checked = check_run(spec, workspace)
    if manager is None:
        from workbench.core.serving.run_queue import RUN_MANAGER as manager
    run_id = manager.submit(spec, owner=workspace.owner or None, experiment=experiment)
    runs.update_status(runs.safe_run_dir(run_id), est_mem_mb=checked.est_mem_mb)
    return run_id

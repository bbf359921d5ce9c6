"""Submitting a run: every check a config can fail is made here, before the run waits in the queue.

    run_id = submit(spec, Workspace(owner))

``check_run(spec, workspace)`` refuses (SpecError naming the field, or the engine's own clear error):

- a model name the workspace does not allow (public mode: presets, the embedded model, hub ids, own uploads),
- an architecture-only model (no weights to train),
- a data source the workspace may not read, or data that does not load (bad rows, missing file),
- target modules that match nothing on the model, and knobs of the method that do not fit it: the counting
  engine runs the method's plan on the meta model (``params.count`` on ``MODEL_CACHE.meta``; milliseconds).

Then ``RunManager.submit`` creates the run folder and queues it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..settings import RunSpec, SpecError
from .workspace import Workspace

if TYPE_CHECKING:
    from .manager import RunManager
    from .params import ParamCount


def check_run(spec: RunSpec, workspace: Workspace) -> "ParamCount":
    """Raise on anything that would make ``spec`` fail at its start; returns its parameter count."""
    from . import data, models, params
    workspace.check_model_name(spec.model.name)
    ref = models.resolve(spec.model.name)
    if ref.kind in ("arch", "config"):
        raise SpecError("model.name", "ui.architecture_only_train", name=spec.model.name, example=models.EMBEDDED_NAME)
    workspace.check_data_source(spec.data.name)
    data.load_examples(spec.data, "train")
    return params.count(models.MODEL_CACHE.meta(spec.model.name), spec.adapter)


def submit(spec: RunSpec, workspace: Workspace, experiment: str | None = None,
           manager: "RunManager | None" = None) -> str:
    """Check ``spec`` for ``workspace`` (``check_run``) and queue it (as part of ``experiment``, if given);
    returns the run id."""
    check_run(spec, workspace)
    if manager is None:
        from .manager import RUN_MANAGER as manager
    return manager.submit(spec, owner=workspace.owner or None, experiment=experiment)

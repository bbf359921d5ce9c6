"""Experiments through the run queue: ONE queue item per experiment, its runs trained one after another in ONE
worker process, owned by the browser session that launched it.

    exp_id = launch(spec, Workspace(owner))   # checks everything, then queues ONE item (RunManager.submit_group)
    stop_all(exp_id, Workspace(owner))        # the waiting runs stop at once, the running one saves and ends
    resume(exp_id, Workspace(owner))          # after a restart / stop: finished runs kept, the rest queued again

``launch`` validates before anything is queued: the experiment itself (unknown field in ``vary``, an empty grid,
more than WORKBENCH_MAX_EXPERIMENT_RUNS variants, a budget smaller than a variant can reach: ``plan.expand``)
and every variant's run config as ``submission.check_run`` checks a single run (model name, data source, targets,
knobs). ``enqueue`` then has the run queue take the experiment as one item (``RunManager.submit_group``: it counts
once against the session's queue cap), writing the experiment folder and one queued run directory per variant
(owner = the session) once the cap allows. The queue starts its worker as ``python -m workbench experiment resume
ID``, whose body is ``work()`` here:
``runner.continue_experiment`` (skips runs already done; a failed variant does not stop the others) inside the
lifeline a training worker has (``worker_lifetime.WorkerLifeline`` over every run it still has to train): their
writer locks; in a server's worker, SIGTERM or the server's death stop the running run (checkpoint saved) and the
waiting ones, all resumable.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import SpecError, WorkbenchError
from workbench.core.runstore import run_dirs as runs
from workbench.core.experiments.results import ExperimentResult, read_experiment
from workbench.core.experiments.definition import ExperimentSpec, spec_error
from workbench.core.runstore.status import ACTIVE, read_status, update_status
from workbench.core.serving.run_queue import RunGroup
from workbench.core.serving.submission import Checked
from workbench.core.serving.workspace import Workspace

if TYPE_CHECKING:
    from workbench.core.experiments.plan import Variant
    from workbench.core.serving.run_queue import RunManager


def _manager(manager: "RunManager | None") -> "RunManager":
    if manager is None:
        from workbench.core.serving.run_queue import RUN_MANAGER
        return RUN_MANAGER
    return manager


# --------------------------------------------------------------------------- checks

def check_experiment(spec: ExperimentSpec, workspace: Workspace,
                     max_steps: int | None = None) -> list[tuple["Variant", Checked]]:
    """Every variant of ``spec`` as it would run, each checked like a submitted run (with what the check learnt);
    raises before anything is written (SpecError naming the field: ``vary``, ``budget``, ``variants[i]``; a run's
    own error with its label)."""
    from workbench.core.experiments.plan import _detail, expand
    from workbench.core.serving.submission import check_run
    checked = []
    for v in expand(spec, max_steps=max_steps):
        try:
            checked.append((v, check_run(v.spec, workspace)))
        except (SpecError, WorkbenchError) as e:
            where = "variants" if spec.variants else "vary"
            raise spec_error(where, "experiments.in_run", label=v.label, detail=_detail(e)) from None
    return checked


# --------------------------------------------------------------------------- launching, stopping, resuming

def launch(spec: ExperimentSpec, workspace: Workspace, manager: "RunManager | None" = None,
           max_steps: int | None = None, eval_limit: int | None = None) -> str:
    """Check ``spec`` for ``workspace`` and queue it as one item (``enqueue``, ``RunManager.submit_group``: the folder and
    its queued runs are created then, owned by the session); returns the experiment id. Raises on bad input or a
    full queue before anything is written. ``max_steps`` / ``eval_limit`` override the experiment's."""
    if max_steps or eval_limit:
        spec = dataclasses.replace(spec, max_steps=max_steps or spec.max_steps,
                                   eval_limit=eval_limit or spec.eval_limit)
    checked = check_experiment(spec, workspace)
    exp_id = enqueue(spec, owner=workspace.owner or None, manager=manager)
    for (_variant, check), row in zip(checked, read_experiment(exp_id, refresh=False).rows):
        update_status(runs.safe_run_dir(row.run_id), est_mem_mb=check.est_mem_mb)
    return exp_id


def _group(experiment_id: str, run_ids: list[str]) -> RunGroup:
    """The run queue's view of an experiment: its runs, trained by ``python -m workbench experiment resume ID``."""
    return RunGroup(experiment_id, tuple(run_ids), ("experiment", "resume", experiment_id))


def enqueue(spec: ExperimentSpec, owner: str | None = None, manager: "RunManager | None" = None) -> str:
    """Queue ``spec`` as ONE item against ``owner``'s cap (no checks: ``launch`` makes them); its folder and queued
    runs are written once the queue takes it. Returns the experiment id."""
    from workbench.core.experiments.runner import prepare_experiment

    def create() -> RunGroup:
        result = prepare_experiment(spec, owner=owner)
        return _group(result.experiment_id, [r.run_id for r in result.rows])
    return _manager(manager).submit_group(create, owner=owner).group_id


def check_owner(experiment_id: str, workspace: Workspace, root: str | Path | None = None) -> ExperimentResult:
    """The experiment (rows refreshed from its runs), if ``workspace`` may see it (the rule of its runs: another
    session's experiment is refused like another session's run); RunError otherwise."""
    result = read_experiment(experiment_id, root=root)
    for row in result.rows:
        if row.run_id:
            workspace.run(row.run_id)
    return result


def session_experiments(workspace: Workspace) -> list[str]:
    """Ids of the experiments whose runs ``workspace`` owns, newest first."""
    from workbench.core.experiments.results import list_experiments
    out = []
    for info in list_experiments():
        try:
            check_owner(info.experiment_id, workspace)
        except WorkbenchError:
            continue
        out.append(info.experiment_id)
    return out


def stop_all(experiment_id: str, workspace: Workspace, manager: "RunManager | None" = None) -> list[str]:
    """"Stop all": the waiting runs are stopped at once (a queued experiment leaves the queue), the running run
    saves its adapter and ends. Returns the run ids asked to stop."""
    manager = _manager(manager)
    result = check_owner(experiment_id, workspace)
    asked = []
    for row in reversed(result.rows):  # the waiting ones first: the worker must not start one of them meanwhile
        if row.run_id and read_status(runs.safe_run_dir(row.run_id)).status in ACTIVE:
            try:
                manager.stop(row.run_id)
                asked.append(row.run_id)
            except WorkbenchError:  # finished meanwhile
                pass
    return asked[::-1]


def resume(experiment_id: str, workspace: Workspace, manager: "RunManager | None" = None) -> str:
    """Queue a stopped or interrupted experiment again (one item): finished runs are kept, every other run (stopped,
    failed, interrupted by a restart) trains again; a trained but unscored run is only scored. Returns the id."""
    from workbench.core.experiments.report import write_all
    from workbench.core.runstore.writer_lock import writer_alive
    manager = _manager(manager)
    result = check_owner(experiment_id, workspace)
    if any(manager.is_managed(r.run_id) or writer_alive(runs.safe_run_dir(r.run_id)) for r in result.rows):
        raise runs.RunError("runs.already_active", run_id=experiment_id)
    todo = [r for r in result.rows if not (r.status == "done" and r.score is not None)]
    if not todo:
        raise runs.RunError("experiments.nothing_to_resume", exp_id=experiment_id)
    for row in todo:
        d = runs.safe_run_dir(row.run_id)
        runs.stop_file(d).unlink(missing_ok=True)
        runs.yield_file(d).unlink(missing_ok=True)  # a stale request of a worker that died
        if read_status(d).status != "done":
            update_status(d, status="queued", error=None, ended=None, pid=None, stop_reason=None)
        row.status, row.error = "queued", None  # a done but unscored run is only scored
    result.status = "queued"
    write_all(result, charts=False)
    left = [r.run_id for r in result.rows if r.status in ("queued", "running")]
    manager.submit_group(lambda: _group(experiment_id, left), owner=workspace.owner or None)
    return experiment_id


# --------------------------------------------------------------------------- the worker process

def work(experiment_id: str, root: str | Path | None = None, progress=None) -> ExperimentResult:
    """The worker's body: train and score what the prepared experiment has left (``continue_experiment``). Between
    runs it gives the slot up when the run queue has asked it to (``run_dirs.yield_file`` of its next run: other
    sessions wait); it then exits with its remaining runs queued, and the queue takes them up in their turn."""
    from workbench.core.experiments.runner import continue_experiment
    from workbench.core.serving.worker_lifetime import WorkerLifeline
    rows = read_experiment(experiment_id, root=root, refresh=False).rows
    dirs = [runs.safe_run_dir(r.run_id) for r in rows if r.run_id]
    with WorkerLifeline([d for d in dirs if read_status(d).status in ACTIVE], label=experiment_id):
        return continue_experiment(experiment_id, root=root, progress=progress,
                                   should_yield=lambda run_dir: runs.yield_file(run_dir).exists())

"""Experiments through the run queue: ONE queue item per experiment, its runs trained one after another in ONE
worker process, owned by the browser session that launched it.

    exp_id = launch(spec, Workspace(owner))   # checks everything, then queues ONE item (RunManager.submit_experiment)
    stop_all(exp_id, Workspace(owner))        # the waiting runs stop at once, the running one saves and ends
    resume(exp_id, Workspace(owner))          # after a restart / stop: finished runs kept, the rest queued again

``launch`` validates before anything is queued: the experiment itself (unknown field in ``vary``, an empty grid,
more than WORKBENCH_MAX_EXPERIMENT_RUNS variants, a budget smaller than a variant can reach: ``experiment_plan.expand``)
and every variant's run config as ``submit.check_run`` checks a single run (model name, data source, targets,
knobs). ``RunManager.submit_experiment`` then writes the experiment folder and one queued run directory per variant
(owner = the session) and queues the experiment as one item: it counts once against the session's queue cap. The
manager starts it as ``python -m workbench experiment resume ID``, whose body is ``work()`` here:
``experiment_run.continue_experiment`` (skips runs already done; a failed variant does not stop the others) inside
the lifeline a training worker has: the writer lock of every run it still has to train; in a server's worker,
SIGTERM or the server's death stop the running run (checkpoint saved) and the waiting ones, all resumable.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import WorkbenchError
from ..settings import SpecError
from . import runs
from .experiment_results import ExperimentResult, read_experiment
from .experiments import ExperimentSpec, spec_error
from .status import read_status, update_status
from .workspace import Workspace

if TYPE_CHECKING:
    from .experiment_plan import Variant
    from .manager import RunManager

ACTIVE = ("queued", "running", "stopping")


def _manager(manager: "RunManager | None") -> "RunManager":
    if manager is None:
        from .manager import RUN_MANAGER
        return RUN_MANAGER
    return manager


# --------------------------------------------------------------------------- checks

def check_experiment(spec: ExperimentSpec, workspace: Workspace, max_steps: int | None = None) -> list["Variant"]:
    """Every variant of ``spec`` as it would run, each checked like a submitted run; raises before anything is
    written (SpecError naming the field: ``vary``, ``budget``, ``variants[i]``; a run's own error with its label)."""
    from .experiment_plan import _detail, expand
    from .submit import check_run
    variants = expand(spec, max_steps=max_steps)
    for v in variants:
        try:
            check_run(v.spec, workspace)
        except (SpecError, WorkbenchError) as e:
            where = "variants" if spec.variants else "vary"
            raise spec_error(where, "experiments.in_run", label=v.label, detail=_detail(e)) from None
    return variants


# --------------------------------------------------------------------------- launching, stopping, resuming

def launch(spec: ExperimentSpec, workspace: Workspace, manager: "RunManager | None" = None,
           max_steps: int | None = None, eval_limit: int | None = None) -> str:
    """Check ``spec`` for ``workspace`` and queue it as one item (``RunManager.submit_experiment``: the folder and
    its queued runs are created then, owned by the session); returns the experiment id. Raises on bad input or a
    full queue before anything is written. ``max_steps`` / ``eval_limit`` override the experiment's."""
    from .memory import estimate_run
    if max_steps or eval_limit:
        spec = dataclasses.replace(spec, max_steps=max_steps or spec.max_steps,
                                   eval_limit=eval_limit or spec.eval_limit)
    variants = check_experiment(spec, workspace)
    exp_id = _manager(manager).submit_experiment(spec, owner=workspace.owner or None)
    for v, row in zip(variants, read_experiment(exp_id, refresh=False).rows):
        try:
            update_status(runs.safe_run_dir(row.run_id), est_mem_mb=estimate_run(v.spec).comparable_mb)
        except Exception:  # an estimate is a nicety; the run trains without it
            pass
    return exp_id


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
    from .experiment_results import list_experiments
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
    from .experiment_report import write_all
    from .writerlock import writer_alive
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
        if read_status(d).status != "done":
            update_status(d, status="queued", error=None, ended=None, pid=None, stop_reason=None)
        row.status, row.error = "queued", None  # a done but unscored run is only scored
    result.status = "queued"
    write_all(result, charts=False)
    manager.resume_experiment(experiment_id, owner=workspace.owner or None)
    return experiment_id


# --------------------------------------------------------------------------- the manager's side

def interrupt_ids(experiment_id: str) -> tuple[str | None, list[str]]:
    """For the server's exit: (the run an experiment's worker trains now, or None; its runs still waiting)."""
    current, waiting = None, []
    try:
        rows = read_experiment(experiment_id, refresh=False).rows
    except WorkbenchError:
        return None, []
    for row in rows:
        st = read_status(runs.safe_run_dir(row.run_id)).status if row.run_id else None
        if st in ("running", "stopping") and current is None:
            current = row.run_id
        elif st == "queued":
            waiting.append(row.run_id)
    return current, waiting


# --------------------------------------------------------------------------- the worker process

class _ExperimentLifeline:
    """The worker's side: the writer lock of every run still to train; in a server's worker (env
    WORKBENCH_SERVER_PID) SIGTERM or the server's death stop the running run and the waiting ones (resumable)."""

    def __init__(self, experiment_id: str, root: str | Path | None, poll_s: float = 0.5):
        from .lifeline import SERVER_PID_ENV
        from .writerlock import WriterLock
        self.experiment_id, self.root, self.poll_s = experiment_id, root, poll_s
        env = os.environ.get(SERVER_PID_ENV, "")
        self.server_pid = int(env) if env.isdigit() else None
        self.reason: str | None = None
        self._parent = os.getppid()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous = None
        result = read_experiment(experiment_id, root=root, refresh=False)
        self.run_dirs = [runs.safe_run_dir(r.run_id) for r in result.rows if r.run_id]
        self._locks = [WriterLock(d) for d in self.run_dirs if read_status(d).status in ACTIVE]

    def __enter__(self) -> "_ExperimentLifeline":
        from .writerlock import WriterBusy
        taken = []
        try:
            for lock in self._locks:
                lock.acquire()
                taken.append(lock)
        except WriterBusy as e:
            for lock in taken:
                lock.release()
            raise runs.RunError("runs.writer_alive", run_id=self.experiment_id, pid=e.pid or "?") from None
        if self.server_pid:
            if threading.current_thread() is threading.main_thread():
                self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
            self._thread = threading.Thread(target=self._watch, name="workbench-experiment-lifeline", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        from .lifeline import mark_stop_interrupted
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
        try:
            if self.reason:
                for d in self.run_dirs:
                    runs.stop_file(d).unlink(missing_ok=True)
                    mark_stop_interrupted(d, self.reason)
        finally:
            for lock in self._locks:
                lock.release()

    def request_stop(self, reason: str) -> None:
        """Stop the running run at its next step and every waiting one now."""
        if self.reason is None:
            self.reason = reason
            print(f"lifeline: {reason}; stopping the experiment", flush=True)
        for d in self.run_dirs:
            st = read_status(d).status
            if st == "queued":
                update_status(d, status="stopped", ended=time.time(), stop_reason=reason)
            elif st in ("running", "stopping"):
                try:
                    runs.stop_file(d).write_text(str(time.time()), encoding="utf-8")
                except OSError:
                    pass

    def _on_sigterm(self, signum, frame) -> None:
        from .lifeline import SERVER_STOPPED
        self.request_stop(SERVER_STOPPED)

    def _watch(self) -> None:
        from .lifeline import SERVER_LOST
        while not self._done.wait(self.poll_s):
            gone = os.getppid() != self._parent or not runs.pid_alive(self.server_pid)
            if gone or self.reason is not None:
                self.request_stop(self.reason or SERVER_LOST)  # again: a run that started meanwhile stops too


def work(experiment_id: str, root: str | Path | None = None, progress=None) -> ExperimentResult:
    """The worker's body: train and score what the prepared experiment has left (``continue_experiment``)."""
    from .experiment_run import continue_experiment
    with _ExperimentLifeline(experiment_id, root):
        return continue_experiment(experiment_id, root=root, progress=progress)

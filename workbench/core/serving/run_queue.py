"""RunManager: the web server's queue of training runs, each in its own worker process.

``RUN_MANAGER.submit(spec)`` creates a run directory and queues it; a daemon thread starts queued
runs (at most WORKBENCH_MAX_CONCURRENT_RUNS at once, default 1; whose turn it is: ``fair_share``, round-robin by
browser session, an experiment giving the slot up between its runs while other sessions wait) as child processes
``python -m workbench train --run-dir DIR`` with stdout/stderr in DIR/train.log, so training never
starves the server. The thread also notices children that died (crash, kill -9, out of memory) and
marks their runs failed with the tail of train.log; such runs keep their checkpoints and can be resumed.

Environment:
  WORKBENCH_MAX_CONCURRENT_RUNS     runs training at the same time (default 1)
  WORKBENCH_QUEUE_POLICY            fair (default: round-robin by session) or fifo (order of arrival)
  WORKBENCH_MAX_QUEUED_PER_SESSION  queued runs one owner (browser session) may have waiting (default 2)
  WORKBENCH_MAX_QUEUED              queued runs in all (default 50): owner ids are free to mint, so the
                                    per-session cap alone does not bound the queue or the run folders
  WORKBENCH_TRAIN_THREADS, WORKBENCH_SERVER_THREADS: threads.py
  WORKBENCH_STOP_GRACE_S            seconds a stopping worker gets before it is killed (default 60)
  WORKBENCH_SHUTDOWN_GRACE_S        on server exit (SIGTERM/SIGINT), seconds the workers get to save and stop
                                    (default: the stop grace); see worker_lifetime.py
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from workbench.messages import Message
from workbench.spec.settings import RunSpec
from workbench.core.serving import fair_share
from workbench.core.serving import worker_lifetime as lifeline
from workbench.core.serving.threads import train_threads
from workbench.core.runstore import run_dirs as runs
from workbench.core.env import env_int
from workbench.core.runstore.run_dirs import RunError
from workbench.core.runstore.status import STOP_REQUESTED
from workbench.core.runstore.writer_lock import writer_alive


@dataclass
class _Job:
    run_id: str
    owner: str | None = None
    resume: bool = False
    proc: subprocess.Popen | None = None
    stop_deadline: float | None = None
    killed_for_stop: bool = False
    log_handle: object = field(default=None, repr=False)
    group: "RunGroup | None" = None  # runs one worker trains one after another (``run_id`` = the first of them)
    seq: int = 0                     # order of arrival (an experiment that gave the slot up keeps its own)
    front: int = 0                   # > 0: the instructor moved it to the front (earlier moves first)
    spawned: float | None = None     # when its worker started
    yielding: bool = False           # its worker was asked to give the slot up between runs
    observed: set = field(default_factory=set)  # what fair_share.observe has taken from its runs already


@dataclass(frozen=True)
class RunGroup:
    """Runs that ONE worker trains one after another, queued as ONE item (an experiment's runs).

    The queue knows only their ids and the worker's command; what the group is stays with its owner's package."""
    group_id: str
    run_ids: tuple[str, ...]
    """The group's runs in training order; the first one's train.log gets the worker's output."""
    command: tuple[str, ...]
    """The worker: ``python -m workbench <command...>``."""


class RunManager:
    """Process-wide queue of training runs (use the ``RUN_MANAGER`` singleton in the app)."""

    def __init__(self, max_concurrent: int | None = None, max_queued_per_owner: int | None = None,
                 poll_interval: float = 0.5, stop_grace_s: float | None = None, max_queued: int | None = None,
                 policy: str | None = None):
        self.max_concurrent = max_concurrent or env_int("WORKBENCH_MAX_CONCURRENT_RUNS", 1, lo=1)
        self.max_queued_per_owner = max_queued_per_owner or env_int("WORKBENCH_MAX_QUEUED_PER_SESSION", 2, lo=1)
        self.max_queued = max_queued or env_int("WORKBENCH_MAX_QUEUED", 50, lo=1)
        self.poll_interval = poll_interval
        self.stop_grace_s = stop_grace_s if stop_grace_s is not None else float(
            os.environ.get("WORKBENCH_STOP_GRACE_S") or 60)
        self._queue: list[_Job] = []
        self._running: dict[str, _Job] = {}
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._draining = False  # set by interrupt_all(): the server is exiting, nothing new starts
        self.policy = policy or fair_share.policy()
        self.paused = False     # the instructor paused the queue: running runs go on, nothing new starts
        self.timing = fair_share.Timing()
        self._served: dict[str, int] = {}  # session -> when its last job started (fair_share.pick)
        self._counter = 0

    # ----------------------------------------------------------------- public API
    def submit(self, spec: RunSpec, owner: str | None = None, run_id: str | None = None,
               experiment: str | None = None) -> str:
        """Create a run for ``spec`` and queue it; returns the run id. Raises RunError past the owner's cap.

        Web requests go through ``core.serving.submission.submit(spec, workspace)``, which checks the config first."""
        with self._lock:
            self._check_owner_cap(owner)
            run_id = runs.create_run(spec, run_id=run_id, owner=owner, experiment=experiment)
            self._queue.append(_Job(run_id, owner, seq=self._next()))
            self._start_ready()
        self._ensure_thread()
        return run_id

    def resume(self, run_id: str, owner: str | None = None) -> str:
        """Queue a stopped/failed run to continue from its last checkpoint."""
        d = runs.existing_run_dir(run_id)
        with self._lock:
            if self.is_managed(run_id):
                raise RunError("runs.already_active", run_id=run_id)
            st = runs.read_status(d)
            if st.status in ("running", "stopping") and runs.pid_alive(st.pid):
                raise RunError("runs.still_running", run_id=run_id, pid=st.pid)
            if writer_alive(d):  # a worker of an earlier server still writes this run
                raise RunError("runs.writer_alive", run_id=run_id, pid=st.pid or "?")
            if st.status == "done" and st.step >= st.max_steps:
                raise RunError("runs.already_finished", run_id=run_id, steps=st.max_steps)
            self._check_owner_cap(owner)
            runs.stop_file(d).unlink(missing_ok=True)
            runs.update_status(d, status="queued", error=None, ended=None, pid=None)
            self._queue.append(_Job(run_id, owner, resume=True, seq=self._next()))
            self._start_ready()
        self._ensure_thread()
        return run_id

    def submit_group(self, create: Callable[[], RunGroup], owner: str | None = None) -> RunGroup:
        """Queue a group of runs as ONE item against the owner's cap. ``create`` runs once the cap allows it (so
        nothing is written for a refused group) and returns the group; its first run is queued again."""
        with self._lock:
            self._check_owner_cap(owner)
            group = create()
            if any(j.group and j.group.group_id == group.group_id for j in [*self._queue, *self._running.values()]):
                raise RunError("runs.already_active", run_id=group.group_id)
            first = group.run_ids[0]
            runs.update_status(runs.safe_run_dir(first), status="queued", error=None, ended=None, pid=None)
            self._queue.append(_Job(first, owner, group=group, seq=self._next()))
            self._start_ready()
        self._ensure_thread()
        return group

    def stop(self, run_id: str) -> runs.RunStatus:
        """Stop a run: a queued one at once; a running one via the STOP file (killed after a grace period)."""
        with self._lock:
            for job in self._queue:
                if job.run_id == run_id:
                    self._queue.remove(job)
                    d = runs.existing_run_dir(run_id)
                    return runs.update_status(d, status="stopped", ended=time.time(),
                                              stop_reason="stopped while queued")
            job = self._running.get(run_id)
            st = runs.request_stop(run_id)
            if job is not None and job.stop_deadline is None:
                job.stop_deadline = time.time() + self.stop_grace_s
            return st

    def place(self, run_id: str) -> tuple[int | None, float | None]:
        """(queue position, wait estimate) of ``run_id`` from one plan; (None, None) when it is not waiting."""
        for i, (rid, wait) in enumerate(self.plan()):
            if rid == run_id:
                return i + 1, wait
        return None, None

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start, 2 after it ...; None if the run is not waiting (an experiment's waiting runs
        count one by one, in the order fair share will take them)."""
        return self.place(run_id)[0]

    def wait_estimate(self, run_id: str) -> float | None:
        """Seconds until the waiting run ``run_id`` should start (``fair_share.plan``: the steps still ahead of it,
        single runs and experiments' remaining runs in the order they will be taken, times the measured seconds per
        step, plus the measured start and tail of each run); None when it is not waiting. Never 0 while others are
        ahead, and never missing for a waiting run (priors stand in until a run has been measured)."""
        return self.place(run_id)[1]

    def plan(self) -> list[tuple[str, float]]:
        """(run id, expected start in s from now) of every waiting run, in expected order (``fair_share.plan_queue``)."""
        with self._lock:
            queue, running, served = list(self._queue), list(self._running.values()), dict(self._served)
        return fair_share.plan_queue(queue, running, served, self.timing, self.max_concurrent, self.policy)

    def move_to_front(self, run_id: str) -> None:
        """The instructor's "move to front": the waiting job holding ``run_id`` starts next (earlier moves first)."""
        with self._lock:
            job = next((j for j in self._queue if run_id in (j.group.run_ids if j.group else (j.run_id,))), None)
            if job is None:
                raise RunError("runs.not_waiting", run_id=run_id)
            self._counter += 1
            job.front = self._counter

    def pause(self, paused: bool = True) -> None:
        """The instructor's pause: while paused, running runs go on and nothing new starts."""
        with self._lock:
            self.paused = paused
            if not paused:
                self._start_ready()
        if not paused:
            self._ensure_thread()

    def is_managed(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._running or any(j.run_id == run_id for j in self._queue)

    def active_ids(self) -> set[str]:
        with self._lock:
            return set(self._running) | {j.run_id for j in self._queue}

    def recover(self) -> list[str]:
        """On server start: mark runs whose worker is gone as failed ('interrupted (server restarted)')."""
        return runs.mark_interrupted(keep=self.active_ids())

    def poll(self) -> None:
        """Reap finished workers, enforce stop deadlines, start queued runs (the thread calls this)."""
        with self._lock:
            for run_id, job in list(self._running.items()):
                rc = job.proc.poll()
                fair_share.observe(self.timing, job, ended=rc is not None)
                if rc is None:
                    if job.stop_deadline is not None and time.time() > job.stop_deadline:
                        job.killed_for_stop = True
                        lifeline.kill_group(job.proc)
                    if job.group:
                        self._ask_yield(job, not self.paused and fair_share.should_yield(job.owner, self._queue,
                                                                                         self.policy))
                    continue
                self._finish(job, rc)
                del self._running[run_id]
            self._start_ready()

    def wait(self, run_id: str, timeout: float = 300.0) -> runs.RunStatus:
        """Block until a run reaches a final status (stopped/failed/done); returns its status."""
        end = time.time() + timeout
        while time.time() < end:
            self.poll()
            st = runs.run_status(run_id)
            if st.is_terminal and not self.is_managed(run_id):
                return st
            time.sleep(self.poll_interval)
        raise TimeoutError(f"run {run_id} did not finish within {timeout} s")

    def shutdown(self, kill: bool = True) -> None:
        """Stop the thread (and kill workers if ``kill``); used by tests and on server exit."""
        self._closed = True
        with self._lock:
            for job in self._running.values():
                if kill and job.proc.poll() is None:
                    lifeline.kill_group(job.proc)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def interrupt_all(self, grace_s: float | None = None, give_up: threading.Event | None = None) -> list[str]:
        """Server exit (SIGTERM/SIGINT, worker_lifetime.py): nothing new starts; queued runs and running workers end
        stopped, 'interrupted (server stopped)', resumable (workers save a checkpoint first). Returns their ids."""
        with self._lock:
            self._draining = True
            queued, workers = [], {}
            for job in [*self._queue, *self._running.values()]:  # a group's job: its runs (interrupt_ids)
                current, waiting = lifeline.interrupt_ids(job)
                queued += waiting
                if current:
                    workers[current] = job.proc
            self._queue.clear()
        self.shutdown(kill=False)
        grace = lifeline.shutdown_grace_s(self.stop_grace_s) if grace_s is None else grace_s
        handled = lifeline.interrupt_workers(workers, queued, grace, give_up=give_up)
        with self._lock:
            for job in self._running.values():
                if job.log_handle is not None:
                    job.log_handle.close()
            self._running.clear()
        return handled

    # ----------------------------------------------------------------- internals
    def _check_owner_cap(self, owner: str | None) -> None:
        if self._draining:
            raise RunError("runs.shutting_down")
        if len(self._queue) >= self.max_queued and len(self._running) >= self.max_concurrent:
            raise RunError("runs.queue_full", n=len(self._queue))
        if owner is None:
            return
        waiting = sum(1 for j in self._queue if j.owner == owner)
        if waiting >= self.max_queued_per_owner:
            raise RunError("runs.owner_cap", n=waiting, limit=self.max_queued_per_owner)

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _start_ready(self) -> None:
        while self._queue and len(self._running) < self.max_concurrent and not self._draining and not self.paused:
            job = self._queue.pop(fair_share.pick(self._queue, self._served, self.policy))
            d = runs.safe_run_dir(job.run_id)
            if runs.read_status(d).status != "queued":  # stopped meanwhile by someone else
                continue
            self._served[job.owner or ""] = self._next()
            self._spawn(job, d)
            self._running[job.run_id] = job

    def _ask_yield(self, job: _Job, wanted: bool) -> None:
        """Set or clear the YIELD file of the group's waiting runs (its worker looks before starting the next)."""
        if wanted == job.yielding:
            return
        job.yielding = wanted
        for rid in job.group.run_ids:
            f = runs.yield_file(runs.safe_run_dir(rid))
            if wanted:
                f.touch()
            else:
                f.unlink(missing_ok=True)

    def _requeue_yielded(self, job: _Job) -> bool:
        """A group whose worker ended well with runs still queued gave the slot up: queue those runs again as one
        job in its old place (``seq``). Returns True when it did."""
        left = tuple(rid for rid in job.group.run_ids if runs.read_status(runs.safe_run_dir(rid)).status == "queued")
        if not left:
            return False
        group = RunGroup(job.group.group_id, left, job.group.command)
        self._queue.append(_Job(left[0], job.owner, group=group, seq=job.seq))
        self._queue.sort(key=lambda j: j.seq)
        return True

    def _spawn(self, job: _Job, run_dir: Path) -> None:
        cmd = [sys.executable, "-m", "workbench", "train", "--run-dir", str(run_dir)]
        if job.resume:
            cmd.append("--resume")
        if job.group:  # its output goes to the first run's train.log
            cmd = [sys.executable, "-m", "workbench", *job.group.command]
        env = dict(os.environ)
        n = str(train_threads(self.max_concurrent))
        env.update(OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, TOKENIZERS_PARALLELISM="false",
                   PYTHONUNBUFFERED="1", WORKBENCH_SERVER_PID=str(os.getpid()), PYTHONPATH=os.pathsep.join(
                       p for p in (str(runs.REPO_ROOT), env.get("PYTHONPATH")) if p))
        job.log_handle = open(run_dir / "train.log", "ab")
        job.proc = subprocess.Popen(cmd, cwd=str(runs.REPO_ROOT), env=env, stdout=job.log_handle,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        job.spawned = time.time()
        runs.update_status(run_dir, pid=job.proc.pid, status="running", started=job.spawned)

    def _finish(self, job: _Job, rc: int) -> None:
        if job.log_handle is not None:
            job.log_handle.close()
        if job.group and job.proc is not None:
            self._ask_yield(job, False)  # no YIELD file outlives its worker
            if rc == 0 and self._requeue_yielded(job):
                return
        if job.group:  # every run the group's worker left unfinished ends like a run whose worker died
            for run_id in job.group.run_ids:
                if run_id != job.run_id:
                    self._finish(_Job(run_id, job.owner, killed_for_stop=job.killed_for_stop), rc)
        d = runs.safe_run_dir(job.run_id)
        st = runs.read_status(d)
        if st.is_terminal:
            return
        if job.killed_for_stop or st.status == "stopping":
            runs.update_status(d, status="stopped", ended=time.time(), stop_reason=(
                f"killed after the {self.stop_grace_s:.0f} s stop grace period" if job.killed_for_stop
                else STOP_REQUESTED))
            return
        tail = runs.tail_text(d / "train.log", 1500).strip()
        last = tail.splitlines()[-1] if tail else ""
        how = Message("runs.killed_by_signal", {"n": -rc}) if rc < 0 else Message("runs.exit_code", {"n": rc})
        error = (Message("runs.worker_ended_last", {"how": how, "last": last}) if last
                 else Message("runs.worker_ended", {"how": how}))
        runs.update_status(d, status="failed", ended=time.time(), error=error, log_tail=tail)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._closed = False
            self._thread = threading.Thread(target=self._loop, name="workbench-run-manager", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._closed:
            try:
                self.poll()
            except Exception as e:  # keep the queue alive; the error is visible in the server log
                print(f"run manager: {type(e).__name__}: {e}", file=sys.stderr)
            with self._lock:
                if not self._queue and not self._running:
                    self._thread = None  # submit() starts a new thread when there is work again
                    return
            time.sleep(self.poll_interval)


RUN_MANAGER = RunManager()
"""The process-wide run queue used by the app."""

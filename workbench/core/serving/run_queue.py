"""RunManager: the web server's queue of training runs, each in its own worker process.

``RUN_MANAGER.submit(spec)`` creates a run directory and queues it; a daemon thread starts queued
runs (FIFO, at most WORKBENCH_MAX_CONCURRENT_RUNS at once, default 1) as child processes
``python -m workbench train --run-dir DIR`` with stdout/stderr in DIR/train.log, so training never
starves the server. The thread also notices children that died (crash, kill -9, out of memory) and
marks their runs failed with the tail of train.log; such runs keep their checkpoints and can be resumed.

Environment:
  WORKBENCH_MAX_CONCURRENT_RUNS     runs training at the same time (default 1)
  WORKBENCH_MAX_QUEUED_PER_SESSION  queued runs one owner (browser session) may have waiting (default 2)
  WORKBENCH_MAX_QUEUED              queued runs in all (default 50): owner ids are free to mint, so the
                                    per-session cap alone does not bound the queue or the run folders
  WORKBENCH_TRAIN_THREADS           OMP/MKL threads per worker (default: train_threads(), all cores but one
                                    for the web server, shared by the concurrent runs)
  WORKBENCH_SERVER_THREADS          torch threads of the web server process itself (default 1; see limit_server_threads)
  WORKBENCH_STOP_GRACE_S            seconds a stopping worker gets before it is killed (default 60)
  WORKBENCH_SHUTDOWN_GRACE_S        on server exit (SIGTERM/SIGINT), seconds the workers get to save and stop
                                    (default: the stop grace); see worker_lifetime.py
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from workbench.messages import Message
from workbench.spec.settings import RunSpec
from workbench.core.serving import worker_lifetime as lifeline
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
                 poll_interval: float = 0.5, stop_grace_s: float | None = None, max_queued: int | None = None):
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

    # ----------------------------------------------------------------- public API
    def submit(self, spec: RunSpec, owner: str | None = None, run_id: str | None = None,
               experiment: str | None = None) -> str:
        """Create a run for ``spec`` and queue it; returns the run id. Raises RunError past the owner's cap.

        Web requests go through ``core.serving.submission.submit(spec, workspace)``, which checks the config first."""
        with self._lock:
            self._check_owner_cap(owner)
            run_id = runs.create_run(spec, run_id=run_id, owner=owner, experiment=experiment)
            self._queue.append(_Job(run_id, owner))
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
            self._queue.append(_Job(run_id, owner, resume=True))
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
            self._queue.append(_Job(first, owner, group=group))
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

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start, 2 after it ...; None if the run is not waiting in the queue."""
        with self._lock:
            for i, job in enumerate(self._queue):
                if job.run_id == run_id:
                    return i + 1
        return None

    def wait_estimate(self, run_id: str) -> float | None:
        """Seconds until the queued run ``run_id`` should start, or None (not queued, or no pace known yet).

        The running runs finish after their ETA (status.json); each run queued ahead then takes its remaining
        steps at the median pace (elapsed s / step) of the running runs. Without a running run that has
        logged a step there is no pace to go by, and no estimate.
        """
        with self._lock:
            queue = [j.run_id for j in self._queue]
            running = list(self._running)
        if run_id not in queue:
            return None
        status = {rid: runs.read_status(runs.safe_run_dir(rid)) for rid in running + queue}
        paces = [st.elapsed_s / st.step for st in (status[r] for r in running) if st.step and st.elapsed_s]
        if not paces:
            return None
        pace = statistics.median(paces)

        def remaining(st: runs.RunStatus) -> float:
            return max(0, st.max_steps - st.step) * pace

        slots = [status[r].eta_s if status[r].eta_s is not None else remaining(status[r]) for r in running]
        slots += [0.0] * max(0, self.max_concurrent - len(slots))
        for rid in queue:
            i = min(range(len(slots)), key=slots.__getitem__)
            if rid == run_id:
                return slots[i]
            slots[i] += remaining(status[rid])
        return None

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
                if rc is None:
                    if job.stop_deadline is not None and time.time() > job.stop_deadline:
                        job.killed_for_stop = True
                        lifeline.kill_group(job.proc)
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
            for job in [*self._queue, *self._running.values()]:  # a group's job: its runs (_interrupt_ids)
                current, waiting = _interrupt_ids(job)
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

    def _start_ready(self) -> None:
        while self._queue and len(self._running) < self.max_concurrent and not self._draining:
            job = self._queue.pop(0)
            d = runs.safe_run_dir(job.run_id)
            if runs.read_status(d).status != "queued":  # stopped meanwhile by someone else
                continue
            self._spawn(job, d)
            self._running[job.run_id] = job

    def _spawn(self, job: _Job, run_dir: Path) -> None:
        cmd = [sys.executable, "-m", "workbench", "train", "--run-dir", str(run_dir)]
        if job.resume:
            cmd.append("--resume")
        if job.group:  # its output goes to the first run's train.log
            cmd = [sys.executable, "-m", "workbench", *job.group.command]
        env = dict(os.environ)
        threads = str(train_threads(self.max_concurrent))
        env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, TOKENIZERS_PARALLELISM="false",
                   PYTHONUNBUFFERED="1", WORKBENCH_SERVER_PID=str(os.getpid()), PYTHONPATH=os.pathsep.join(
                       p for p in (str(runs.REPO_ROOT), env.get("PYTHONPATH")) if p))
        job.log_handle = open(run_dir / "train.log", "ab")
        job.proc = subprocess.Popen(cmd, cwd=str(runs.REPO_ROOT), env=env, stdout=job.log_handle,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        runs.update_status(run_dir, pid=job.proc.pid, status="running", started=time.time())

    def _finish(self, job: _Job, rc: int) -> None:
        if job.log_handle is not None:
            job.log_handle.close()
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


def _interrupt_ids(job: _Job) -> tuple[str | None, list[str]]:
    """(the run the job's worker trains now or None, the job's runs still waiting), for the server's exit. A group's
    worker trains one of its runs, not necessarily the first: the one whose status says so."""
    if not job.group:
        return (job.run_id, []) if job.proc is not None else (None, [job.run_id])
    current, waiting = None, []
    for run_id in job.group.run_ids:
        try:
            st = runs.read_status(runs.safe_run_dir(run_id)).status
        except Exception:  # noqa: BLE001 - a vanished run folder has nothing to stop
            continue
        if st in ("running", "stopping") and current is None:
            current = run_id
        elif st == "queued":
            waiting.append(run_id)
    return current, waiting


def train_threads(max_concurrent: int = 1) -> int:
    """OMP/MKL threads of one training worker: WORKBENCH_TRAIN_THREADS, else every core but one (kept for
    the web server), divided among the runs that may train at once; at least 1.

    Measured on 2 cores (benchmarks/bench_app.py, BENCHMARKS.md): while the server generated, a worker with
    2 threads did 2 steps in 29 s (its OpenMP threads wait for the core the server holds), with 1 thread
    8 steps in 30 s; alone, 2 threads are 1.5x faster (the CLI, which has no server, uses every core).
    """
    env = os.environ.get("WORKBENCH_TRAIN_THREADS")
    if env:
        return max(1, int(env))
    cores = os.cpu_count() or 1
    return max(1, (cores - 1) // max(1, max_concurrent))


def limit_server_threads() -> int:
    """Give the web server process WORKBENCH_SERVER_THREADS torch threads (default 1); returns the number.

    Training runs in worker processes with threads of their own. A server whose generation also used every
    core made both OpenMP pools wait on each other: on 2 cores, 40 greedy tokens took 3.1 s idle and 11.2 s
    during a run with 2 server threads, 3.2 s with 1 (benchmarks/bench_app.py, BENCHMARKS.md). Decoding a
    small model barely gains from more threads, so one is the default.
    """
    import torch
    n = env_int("WORKBENCH_SERVER_THREADS", 1, lo=1)
    torch.set_num_threads(n)
    return n


RUN_MANAGER = RunManager()
"""The process-wide run queue used by the app."""

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
"""
from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..settings import RunSpec
from . import runs
from .runs import RunError


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name) or default))
    except ValueError:
        raise RunError(f"environment variable {name} must be an integer") from None


@dataclass
class _Job:
    run_id: str
    owner: str | None = None
    resume: bool = False
    proc: subprocess.Popen | None = None
    stop_deadline: float | None = None
    killed_for_stop: bool = False
    log_handle: object = field(default=None, repr=False)


class RunManager:
    """Process-wide queue of training runs (use the ``RUN_MANAGER`` singleton in the app)."""

    def __init__(self, max_concurrent: int | None = None, max_queued_per_owner: int | None = None,
                 poll_interval: float = 0.5, stop_grace_s: float | None = None, max_queued: int | None = None):
        self.max_concurrent = max_concurrent or _env_int("WORKBENCH_MAX_CONCURRENT_RUNS", 1)
        self.max_queued_per_owner = max_queued_per_owner or _env_int("WORKBENCH_MAX_QUEUED_PER_SESSION", 2)
        self.max_queued = max_queued or _env_int("WORKBENCH_MAX_QUEUED", 50)
        self.poll_interval = poll_interval
        self.stop_grace_s = stop_grace_s if stop_grace_s is not None else float(
            os.environ.get("WORKBENCH_STOP_GRACE_S") or 60)
        self._queue: list[_Job] = []
        self._running: dict[str, _Job] = {}
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._closed = False

    # ----------------------------------------------------------------- public API
    def submit(self, spec: RunSpec, owner: str | None = None, run_id: str | None = None) -> str:
        """Create a run for ``spec`` and queue it; returns the run id. Raises RunError past the owner's cap."""
        with self._lock:
            self._check_owner_cap(owner)
            run_id = runs.create_run(spec, run_id=run_id, owner=owner)
            self._queue.append(_Job(run_id, owner))
            self._start_ready()
        self._ensure_thread()
        return run_id

    def resume(self, run_id: str, owner: str | None = None) -> str:
        """Queue a stopped/failed run to continue from its last checkpoint."""
        d = runs.existing_run_dir(run_id)
        with self._lock:
            if self.is_managed(run_id):
                raise RunError(f"Run {run_id} is already queued or running.")
            st = runs.read_status_dir(d)
            if st.get("status") in ("running", "stopping") and runs.pid_alive(st.get("pid")):
                raise RunError(f"Run {run_id} is still running (pid {st.get('pid')}).")
            if st.get("status") == "done" and int(st.get("step") or 0) >= int(st.get("max_steps") or 0):
                raise RunError(f"Run {run_id} already finished all {st.get('max_steps')} steps; "
                               "start a new run (or raise train.max_steps) to train further.")
            self._check_owner_cap(owner)
            runs.stop_file(d).unlink(missing_ok=True)
            runs.update_status_dir(d, status="queued", error=None, ended=None, pid=None)
            self._queue.append(_Job(run_id, owner, resume=True))
            self._start_ready()
        self._ensure_thread()
        return run_id

    def stop(self, run_id: str) -> dict:
        """Stop a run: a queued one at once; a running one via the STOP file (killed after a grace period)."""
        with self._lock:
            for job in self._queue:
                if job.run_id == run_id:
                    self._queue.remove(job)
                    d = runs.existing_run_dir(run_id)
                    return runs.update_status_dir(d, status="stopped", ended=time.time(),
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
        status = {rid: runs.read_status_dir(runs.safe_run_dir(rid)) for rid in running + queue}
        paces = [float(st["elapsed_s"]) / int(st["step"]) for st in (status[r] for r in running)
                 if st.get("step") and st.get("elapsed_s")]
        if not paces:
            return None
        pace = statistics.median(paces)

        def remaining(st: dict) -> float:
            return max(0, int(st.get("max_steps") or 0) - int(st.get("step") or 0)) * pace

        slots = [float(status[r]["eta_s"]) if status[r].get("eta_s") is not None else remaining(status[r])
                 for r in running]
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
                        _kill_group(job.proc)
                    continue
                self._finish(job, rc)
                del self._running[run_id]
            self._start_ready()

    def wait(self, run_id: str, timeout: float = 300.0) -> dict:
        """Block until a run reaches a final status (stopped/failed/done); returns its status."""
        end = time.time() + timeout
        while time.time() < end:
            self.poll()
            st = runs.read_status(run_id)
            if st.get("status") in runs.TERMINAL and not self.is_managed(run_id):
                return st
            time.sleep(self.poll_interval)
        raise TimeoutError(f"run {run_id} did not finish within {timeout} s")

    def shutdown(self, kill: bool = True) -> None:
        """Stop the thread (and kill workers if ``kill``); used by tests and on server exit."""
        self._closed = True
        with self._lock:
            for job in self._running.values():
                if kill and job.proc.poll() is None:
                    _kill_group(job.proc)
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ----------------------------------------------------------------- internals
    def _check_owner_cap(self, owner: str | None) -> None:
        if len(self._queue) >= self.max_queued and len(self._running) >= self.max_concurrent:
            raise RunError(f"The training queue is full ({len(self._queue)} runs waiting); try again when some "
                           "have finished.")
        if owner is None:
            return
        waiting = sum(1 for j in self._queue if j.owner == owner)
        if waiting >= self.max_queued_per_owner:
            raise RunError(f"You already have {waiting} runs waiting in the queue (the limit is "
                           f"{self.max_queued_per_owner}); wait for one to start or stop one.")

    def _start_ready(self) -> None:
        while self._queue and len(self._running) < self.max_concurrent:
            job = self._queue.pop(0)
            d = runs.safe_run_dir(job.run_id)
            if runs.read_status_dir(d).get("status") != "queued":  # stopped meanwhile by someone else
                continue
            self._spawn(job, d)
            self._running[job.run_id] = job

    def _spawn(self, job: _Job, run_dir: Path) -> None:
        cmd = [sys.executable, "-m", "workbench", "train", "--run-dir", str(run_dir)]
        if job.resume:
            cmd.append("--resume")
        env = dict(os.environ)
        threads = str(train_threads(self.max_concurrent))
        env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, TOKENIZERS_PARALLELISM="false",
                   PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(
                       p for p in (str(runs.REPO_ROOT), env.get("PYTHONPATH")) if p))
        job.log_handle = open(run_dir / "train.log", "ab")
        job.proc = subprocess.Popen(cmd, cwd=str(runs.REPO_ROOT), env=env, stdout=job.log_handle,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        runs.update_status_dir(run_dir, pid=job.proc.pid, status="running", started=time.time())

    def _finish(self, job: _Job, rc: int) -> None:
        if job.log_handle is not None:
            job.log_handle.close()
        d = runs.safe_run_dir(job.run_id)
        st = runs.read_status_dir(d)
        if st.get("status") in runs.TERMINAL:
            return
        if job.killed_for_stop or st.get("status") == "stopping":
            runs.update_status_dir(d, status="stopped", ended=time.time(), stop_reason=(
                f"killed after the {self.stop_grace_s:.0f} s stop grace period" if job.killed_for_stop
                else "stop requested"))
            return
        tail = runs.tail_text(d / "train.log", 1500).strip()
        last = tail.splitlines()[-1] if tail else ""
        how = f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"
        runs.update_status_dir(d, status="failed", ended=time.time(),
                               error=f"worker process ended unexpectedly ({how}){': ' + last if last else ''}",
                               log_tail=tail)

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
    n = _env_int("WORKBENCH_SERVER_THREADS", 1)
    torch.set_num_threads(n)
    return n


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and anything it started (it runs in its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass


RUN_MANAGER = RunManager()
"""The process-wide run queue used by the app."""

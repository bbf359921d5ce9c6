"""Training workers end with their web server.

The server (``RunManager``) trains each run in a child process ``python -m workbench train --run-dir DIR``. Without
care such a worker outlives its server: ``docker stop``, Ctrl-C or a Space restart left it training for good,
status.json still saying "running", and a new server had no handle on it. Three parts fix that:

Server side
  ``install_server_handlers(manager)`` (called by ``ui.app.startup()``) catches SIGTERM and SIGINT. The handler
  calls ``manager.interrupt_all()``: queued runs are marked stopped at once, every running worker is asked to stop
  through its STOP file (the same path as the Stop button, so a worker still loading its model stops at its first
  step), the server waits up to ``WORKBENCH_SHUTDOWN_GRACE_S`` seconds (default: the manager's stop grace) while
  each worker saves a checkpoint and its adapter, kills what is left, and records every run as
  ``stopped`` / "interrupted (server stopped)" - resumable. Then the previous handler runs (SIGINT: Gradio's
  KeyboardInterrupt closes the server; SIGTERM: the default action ends the process). A second signal during the
  wait skips the rest of it.

Worker side
  ``WorkerLifeline`` (entered by ``commands/train.py`` for every run it trains) holds the run's exclusive writer
  lock (``writer_lock.py``) while training. In a worker the server started (env ``WORKBENCH_SERVER_PID``) it also
  turns SIGTERM into a stop request, and a watcher thread polls the parent pid every ``poll_s`` seconds: when the
  worker is re-parented (its server was SIGKILLed or died of OOM) it requests a stop the same way. The run then ends
  ``stopped`` / "interrupted (...)" with a checkpoint at that step.

  ``prctl(PR_SET_PDEATHSIG)`` is deliberately not used: Linux sends it when the *thread* that forked the child
  exits, and the manager starts workers from short-lived request and queue threads, so it would stop healthy runs.
  Polling ``getppid()`` works on every POSIX system and notices a dead server within ``poll_s`` seconds.

Restarted server
  ``run_dirs.mark_interrupted`` and ``RunManager.resume`` skip / refuse a run whose writer lock is held, so a new server
  never has two writers on one run, even while an old worker is still saving.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

from workbench.core.runstore import run_dirs as runs
from workbench.core.runstore.status import STOP_REQUESTED, read_status, update_status
from workbench.core.runstore.writer_lock import WriterBusy, WriterLock

SERVER_PID_ENV = "WORKBENCH_SERVER_PID"
"""Set by the RunManager for its workers: the pid of the server that started them."""

SERVER_STOPPED = "interrupted (server stopped)"   # English text of runs.interrupted_server_stopped
SERVER_LOST = "interrupted (server process ended)"  # English text of runs.interrupted_server_lost


# --------------------------------------------------------------------------- worker side

class WorkerLifeline:
    """``with WorkerLifeline(run_dir): train`` - the writer lock, and in a server's worker: stop on SIGTERM / server death.

    ``run_dirs`` is one run folder, or the runs one worker trains one after another (an experiment's, ``label`` its
    id): each is locked; a stop ends the one training at its next step and marks the waiting ones stopped.
    ``server_pid`` defaults to env WORKBENCH_SERVER_PID (unset outside server workers: then only the locks are taken).
    Entering raises ``run_dirs.RunError`` when another live process holds a run's writer lock.
    """

    def __init__(self, run_dirs: str | Path | list[Path], server_pid: int | None = None, poll_s: float = 0.5,
                 label: str | None = None):
        self.group = not isinstance(run_dirs, (str, Path))
        self.run_dirs = [Path(d) for d in run_dirs] if self.group else [Path(run_dirs)]
        self.label = label or (self.run_dirs[0].name if self.run_dirs else "")
        if server_pid is None:
            env = os.environ.get(SERVER_PID_ENV, "")
            server_pid = int(env) if env.isdigit() else None
        self.server_pid = server_pid
        self.poll_s = poll_s
        self.reason: str | None = None   # why this worker was told to stop (None: it was not)
        self._locks = [WriterLock(d) for d in self.run_dirs]
        self._parent = os.getppid()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous_sigterm: Callable | int | None = None

    # ----------------------------------------------------------------- context
    def __enter__(self) -> "WorkerLifeline":
        taken = []
        try:
            for lock in self._locks:
                lock.acquire()
                taken.append(lock)
        except WriterBusy as e:
            for lock in taken:
                lock.release()
            raise runs.RunError("runs.writer_alive", run_id=self.label, pid=e.pid or "?") from None
        if self.server_pid:
            if threading.current_thread() is threading.main_thread():
                self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
            self._thread = threading.Thread(target=self._watch, name="workbench-lifeline", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        try:
            if self.reason:
                for d in self.run_dirs:
                    runs.stop_file(d).unlink(missing_ok=True)
                    if mark_stop_interrupted(d, self.reason):
                        from workbench.core.export.model_card import write_model_card_safely
                        write_model_card_safely(d)  # the card says why the run stopped
        finally:
            for lock in self._locks:
                lock.release()

    # ----------------------------------------------------------------- stopping
    def server_gone(self) -> bool:
        """True once this worker's server has ended (the worker was re-parented, or the server pid is gone)."""
        if not self.server_pid:
            return False
        return os.getppid() != self._parent or not runs.pid_alive(self.server_pid)

    def request_stop(self, reason: str) -> None:
        """Stop the run training at the end of its current optimizer step (checkpoint + adapter saved), as the Stop
        button does; runs still waiting for this worker stop now."""
        if self.reason is None:
            self.reason = reason
            print(f"lifeline: {reason}; stopping at the end of this step", flush=True)
        for d in self.run_dirs:
            status = read_status(d).status if self.group else "running"
            if status == "queued":
                update_status(d, status="stopped", ended=time.time(), stop_reason=reason)
            elif status in ("running", "stopping"):
                _write_stop(d)

    def _on_sigterm(self, signum, frame) -> None:
        self.request_stop(SERVER_STOPPED)

    def _watch(self) -> None:
        while not self._done.wait(self.poll_s):
            if self.reason is None and self.server_gone():
                self.request_stop(SERVER_LOST)
            elif self.reason is not None:
                # the run start (begin_run) clears stale STOP files, and a waiting run may have started meanwhile:
                # ask again until training sees it
                self.request_stop(self.reason)


def _write_stop(run_dir: Path) -> None:
    try:
        runs.stop_file(run_dir).write_text(str(time.time()), encoding="utf-8")
    except OSError:  # the run folder is gone: nothing left to stop
        pass


def mark_stop_interrupted(run_dir: str | Path, reason: str) -> bool:
    """A run that stopped because its server went away: 'stopped' with ``reason`` instead of 'stop requested'.

    Leaves finished (done) and failed runs as they are; returns True if the status was changed.
    """
    st = read_status(run_dir)
    if st.status == "stopped" and st.stop_reason in (None, STOP_REQUESTED, reason):
        update_status(run_dir, stop_reason=reason)
        return True
    return False


# --------------------------------------------------------------------------- server side

def shutdown_grace_s(default: float) -> float:
    """Seconds the server waits for its workers on exit: env WORKBENCH_SHUTDOWN_GRACE_S, else ``default``."""
    from workbench.core.env import env_number
    return env_number("WORKBENCH_SHUTDOWN_GRACE_S", default, lo=0.0)


def interrupt_workers(workers: dict[str, subprocess.Popen], queued: list[str], grace_s: float,
                      give_up: threading.Event | None = None, poll_s: float = 0.2) -> list[str]:
    """Stop ``workers`` (run id -> worker process) and the ``queued`` runs because the server is exiting.

    Each worker gets a STOP request and up to ``grace_s`` seconds (less if ``give_up`` is set meanwhile) to save a
    checkpoint and its adapter; the rest are killed. Every run ends resumable: 'stopped' with
    SERVER_STOPPED, or 'failed' with the same reason when its worker had to be killed before it wrote its status.
    Returns the run ids handled.
    """
    from workbench.messages import Message
    now = time.time()
    for run_id in queued:
        with _each(run_id):
            d = runs.safe_run_dir(run_id)
            if read_status(d).status == "queued":
                update_status(d, status="stopped", ended=now, stop_reason=SERVER_STOPPED)
    for run_id, proc in workers.items():
        if proc.poll() is None:
            with _each(run_id):
                _write_stop(runs.safe_run_dir(run_id))
                update_status(runs.safe_run_dir(run_id), status="stopping")
    deadline = time.time() + grace_s
    while time.time() < deadline and any(p.poll() is None for p in workers.values()):
        if give_up is not None and give_up.is_set():
            break
        time.sleep(poll_s)
    for run_id, proc in workers.items():
        if proc.poll() is None:
            kill_group(proc)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        with _each(run_id):
            d = runs.safe_run_dir(run_id)
            runs.stop_file(d).unlink(missing_ok=True)
            if not mark_stop_interrupted(d, SERVER_STOPPED) and read_status(d).is_active:
                update_status(d, status="failed", ended=time.time(), error=Message("runs.interrupted_server_stopped"))
    return list(queued) + list(workers)


@contextlib.contextmanager
def _each(run_id: str):
    """One run's part of the shutdown: a run folder that vanished (or any error) must not stop the others."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - the server is exiting; say what happened and go on
        print(f"run {run_id}: {type(e).__name__}: {e}", flush=True)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a worker and anything it started (it runs in its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass


class ServerSignals:
    """SIGTERM / SIGINT handlers of the web server: interrupt the training workers, then chain to the old handler."""

    def __init__(self, manager, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)):
        self.manager = manager
        self.signals = signals
        self.previous: dict[int, Callable | int | None] = {}
        self.handled: list[str] | None = None
        self._busy = False
        self._give_up = threading.Event()

    def install(self) -> bool:
        """Install the handlers (only possible in the main thread); returns False where it is not."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for sig in self.signals:
            self.previous[sig] = signal.signal(sig, self._handle)
        return True

    def _handle(self, signum, frame) -> None:
        if self._busy:  # a second Ctrl-C / SIGTERM while waiting: stop waiting
            self._give_up.set()
            return
        self._busy = True
        try:
            names = self.manager.active_ids()
            if names:
                print(f"{signal.Signals(signum).name}: stopping {len(names)} training run(s) "
                      "(each saves a checkpoint; resumable)...", flush=True)
            self.handled = self.manager.interrupt_all(give_up=self._give_up)
        except Exception as e:  # never keep the server from exiting
            print(f"stopping training workers failed: {type(e).__name__}: {e}", flush=True)
        self._chain(signum, frame)

    def _chain(self, signum, frame) -> None:
        prev = self.previous.get(signum, signal.SIG_DFL)
        if callable(prev):
            prev(signum, frame)  # SIGINT: KeyboardInterrupt, which Gradio's launch() turns into a clean close
        elif prev == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)  # the default action: the process ends with this signal


def install_server_handlers(manager) -> ServerSignals | None:
    """Install ServerSignals for ``manager`` (the app's RUN_MANAGER); None when not called from the main thread."""
    handlers = ServerSignals(manager)
    return handlers if handlers.install() else None


def interrupt_ids(job) -> tuple[str | None, list[str]]:
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

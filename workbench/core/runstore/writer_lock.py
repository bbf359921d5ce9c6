"""One writer per run: the training worker holds an exclusive lock on ``<run_dir>/.writer.lock`` while it trains.

The lock is an ``fcntl.flock`` on an open file, so the kernel drops it the moment the worker process ends,
however it ends (exit, crash, SIGKILL, out of memory): a lock that is held always means a live writer. Before a
server marks a run interrupted or resumes it, it asks ``writer_alive(run_dir)``; a restarted server therefore never
starts a second worker on a run whose old worker still lives (even when status.json is stale or its pid was reused).

Where ``fcntl`` does not exist (Windows) the lock is a no-op and ``writer_alive`` is always False: the pid check in
``run_dirs.mark_interrupted`` is then the only guard.
"""
from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

LOCK_NAME = ".writer.lock"


def lock_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / LOCK_NAME


class WriterBusy(RuntimeError):
    """Another live process holds the run's writer lock (``pid`` is what it wrote into the lock file, if any)."""

    def __init__(self, run_dir: Path, pid: int | None):
        self.run_dir, self.pid = Path(run_dir), pid
        super().__init__(f"{run_dir} is being written by another live worker (pid {pid})")


class WriterLock:
    """The exclusive writer lock of one run directory: ``with WriterLock(run_dir): train ...``."""

    def __init__(self, run_dir: str | Path):
        self.path = lock_path(run_dir)
        self._fh = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def acquire(self) -> "WriterLock":
        """Take the lock without waiting; raises WriterBusy if a live process holds it."""
        if self._fh is not None:
            return self
        fh = open(self.path, "a+", encoding="utf-8")
        if fcntl is not None:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _read_pid(fh)
                fh.close()
                raise WriterBusy(self.path.parent, pid) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            if fcntl is not None:
                fcntl.flock(fh, fcntl.LOCK_UN)
        finally:
            fh.close()

    def __enter__(self) -> "WriterLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def writer_alive(run_dir: str | Path) -> bool:
    """True while some live process holds the run's writer lock (a training worker is writing the run)."""
    path = lock_path(run_dir)
    if fcntl is None or not path.is_file():
        return False
    try:
        fh = open(path, "a+", encoding="utf-8")
    except OSError:
        return False
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def _read_pid(fh) -> int | None:
    try:
        fh.seek(0)
        return int(fh.read().strip() or 0) or None
    except (OSError, ValueError):
        return None

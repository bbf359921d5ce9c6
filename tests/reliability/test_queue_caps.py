"""Queue caps under many sessions: owner ids are free to mint, so the per-session cap alone would let one
client fill the queue (and the disk, one run folder per request) by using a new id each time."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from workbench.core.runstore import run_dirs as R
from workbench.core.serving.run_queue import RunManager
from workbench.spec.settings import RunSpec


def _fake_spawn(job, run_dir):
    """Stand-in worker: sleeps, so the 'running' slot stays taken without training anything."""
    job.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    R.update_status(run_dir, pid=job.proc.pid, status="running", started=time.time())


def test_queue_is_bounded_across_sessions(runs_dir, monkeypatch):
    m = RunManager(max_concurrent=1, max_queued_per_owner=2, max_queued=3, poll_interval=0.1)
    monkeypatch.setattr(m, "_spawn", _fake_spawn)
    spec = RunSpec()
    try:
        running = m.submit(spec, owner="o0")
        assert R.run_status(running).status == "running"
        queued = [m.submit(spec, owner=f"o{i}") for i in range(1, 4)]  # three sessions, one run each
        assert [m.queue_position(r) for r in queued] == [1, 2, 3]
        n_dirs = len(R.list_runs())
        with pytest.raises(R.RunError, match="queue is full"):
            m.submit(spec, owner="fresh-id-1")
        with pytest.raises(R.RunError, match="queue is full"):
            m.submit(spec, owner=None)
        assert len(R.list_runs()) == n_dirs  # a refused request leaves no run folder behind
        # below the global cap, the per-session cap still applies
        for rid in queued:
            m.stop(rid)
        a, b = m.submit(spec, owner="o9"), m.submit(spec, owner="o9")
        assert [m.queue_position(a), m.queue_position(b)] == [1, 2]
        with pytest.raises(R.RunError, match="limit is 2"):
            m.submit(spec, owner="o9")
        o10 = m.submit(spec, owner="o10")  # fair share: o10's first run comes before o9's second
        assert [m.queue_position(a), m.queue_position(o10), m.queue_position(b)] == [1, 2, 3]
    finally:
        m.shutdown(kill=True)

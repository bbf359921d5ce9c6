"""A RunManager whose workers are ``sleep 30`` (nothing trains): the queue's bookkeeping, fast and without a model.
Used by tests/core/test_experiment_queue.py and tests/core/test_fair_share.py."""
from __future__ import annotations

import subprocess
import time

from workbench.core.runstore import run_dirs as runs
from workbench.core.serving.run_queue import RunManager


class SleepManager(RunManager):
    """``spawned``: the started jobs in order (a group's id for an experiment, else the run id)."""

    def __init__(self, **kw):
        super().__init__(poll_interval=0.05, stop_grace_s=0.3, **kw)
        self.spawned: list[str] = []

    def _spawn(self, job, run_dir):
        job.log_handle = open(run_dir / "train.log", "ab")
        job.proc = subprocess.Popen(["sleep", "30"], stdout=job.log_handle, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        job.spawned = time.time()
        self.spawned.append(job.group.group_id if job.group else job.run_id)
        runs.update_status(run_dir, pid=job.proc.pid, status="running", started=job.spawned)

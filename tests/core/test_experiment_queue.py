"""Experiments through the run queue (core/experiments/queue_jobs.py + RunManager.submit_group): one queue item per
experiment, checked before anything is queued, its runs in one worker, stop all, restart recovery."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from workbench.core.experiments import queue_jobs as experiment_queue
from workbench.core.experiments import definition as experiments
from workbench.core.runstore import run_dirs as runs
from workbench.core.experiments.results import read_experiment
from workbench.core.serving.run_queue import RunManager
from workbench.core.serving.worker_lifetime import interrupt_ids as _interrupt_ids
from workbench.core.runstore.status import read_status, update_status
from workbench.core.serving.workspace import Workspace
from workbench.errors import SpecError, WorkbenchError
from workbench.spec.settings import RunSpec
from tests.support.sleep_workers import SleepManager

ROOT = Path(__file__).resolve().parents[2]


def _spec(tmp_path: Path, model: str, **extra) -> experiments.ExperimentSpec:
    d = {"name": "tiny",
         "base": {"model": {"name": model}, "adapter": {"method": "lora", "r": 2, "target_modules": ["q_proj"]},
                  "data": {"name": "json-format", "limit": 8, "max_length": 96},
                  "train": {"batch_size": 4, "logging_steps": 1, "precision": "fp32", "warmup_steps": 0}},
         "vary": {"adapter.r": [1, 2]}, "max_steps": 2, "eval_steps": 1, "eval_limit": 2}
    d.update(extra)
    return experiments.ExperimentSpec.from_dict(d)


def test_experiment_counts_once_against_the_session_cap(tmp_path, tiny_llama_dir, runs_dir):
    m = SleepManager(max_concurrent=1, max_queued_per_owner=1)
    alice = Workspace("alice")
    try:
        busy = m.submit(RunSpec.from_dict(_spec(tmp_path, tiny_llama_dir).base), owner="bob")  # holds the slot
        exp_id = experiment_queue.launch(_spec(tmp_path, tiny_llama_dir), alice, manager=m)  # 2 runs, ONE item
        result = read_experiment(exp_id)
        assert len(result.rows) == 2 and [r.status for r in result.rows] == ["queued", "queued"]
        for row in result.rows:
            st = read_status(runs.safe_run_dir(row.run_id))
            assert st.owner == "alice" and st.experiment == exp_id and st.est_mem_mb
        assert sum(1 for j in m._queue if j.owner == "alice") == 1
        with pytest.raises(runs.RunError, match="limit is 1"):  # the cap is reached by the one experiment
            experiment_queue.launch(_spec(tmp_path, tiny_llama_dir), alice, manager=m)
        assert experiment_queue.session_experiments(alice) == [exp_id]
        assert experiment_queue.session_experiments(Workspace("bob")) == []
        with pytest.raises(runs.RunError):  # another session cannot stop it
            experiment_queue.stop_all(exp_id, Workspace("bob"), manager=m)
        asked = experiment_queue.stop_all(exp_id, alice, manager=m)  # queued: leaves the queue, runs stopped
        assert asked == [r.run_id for r in result.rows]
        assert [read_status(runs.safe_run_dir(r.run_id)).status for r in result.rows] == ["stopped", "stopped"]
        assert not any(j.owner == "alice" for j in m._queue)
        m.stop(busy)
    finally:
        m.shutdown()


@pytest.mark.parametrize("extra, field", [
    ({"vary": {"adapter.rank": [1, 2]}}, "vary.adapter.rank"),          # unknown field in vary
    ({"vary": {"adapter.r": []}}, "vary"),                              # empty grid
    ({"vary": {"adapter.r": list(range(1, 42))}}, "vary"),              # more than 40 variants
    ({"budget": 1}, "budget"),                                         # smaller than the smallest variant
    ({"vary": {"adapter.target_modules": [["nope_proj"]]}}, "vary"),     # a variant that matches no module
])
def test_bad_experiments_are_refused_before_anything_is_queued(tmp_path, tiny_llama_dir, runs_dir, extra, field):
    m = SleepManager()
    try:
        with pytest.raises((SpecError, WorkbenchError)) as info:
            experiment_queue.launch(_spec(tmp_path, tiny_llama_dir, **extra), Workspace("alice"), manager=m)
        if isinstance(info.value, SpecError):
            assert info.value.field.startswith(field), info.value.field
        assert not m._queue and not m._running and runs.list_runs() == []
    finally:
        m.shutdown()


@pytest.mark.slow
def test_two_variant_experiment_runs_through_the_manager(tmp_path, tiny_llama_dir, runs_dir):
    m = RunManager(max_concurrent=1, poll_interval=0.2)
    alice = Workspace("alice")
    try:
        exp_id = experiment_queue.launch(_spec(tmp_path, tiny_llama_dir), alice, manager=m)
        deadline = time.time() + 600
        while m.active_ids() and time.time() < deadline:
            m.poll()
            time.sleep(0.5)
        result = read_experiment(exp_id)
        log = (runs.safe_run_dir(result.rows[0].run_id) / "train.log").read_text()
        assert result.status == "done", log[-3000:]
        assert [r.status for r in result.rows] == ["done", "done"], log[-3000:]
        for row in result.rows:
            assert row.score is not None and row.eval_loss and row.train_loss
            st = read_status(runs.safe_run_dir(row.run_id))
            assert st.owner == "alice" and st.experiment == exp_id and st.step == 2
            assert not runs.stop_file(runs.safe_run_dir(row.run_id)).exists()
        assert result.base is not None and result.base.score is not None
        assert (result.directory / "results.csv").is_file() and (result.directory / "report.md").is_file()
        with pytest.raises(runs.RunError):  # nothing left to resume
            experiment_queue.resume(exp_id, alice, manager=m)
    finally:
        m.shutdown()


@pytest.mark.slow
def test_restart_keeps_finished_runs_and_resumes_the_rest(tmp_path, tiny_llama_dir, runs_dir):
    """A server died after the first run: on restart the unfinished run is marked interrupted; resume trains only
    that one (the finished run is neither trained nor scored again)."""
    m = RunManager(max_concurrent=1, poll_interval=0.2)
    alice = Workspace("alice")
    try:
        exp_id = experiment_queue.launch(_spec(tmp_path, tiny_llama_dir), alice, manager=m)
        first, second = read_experiment(exp_id).rows
        deadline = time.time() + 600
        while read_experiment(exp_id).rows[0].score is None and time.time() < deadline:
            m.poll()
            time.sleep(0.2)
        job = m._running[first.run_id]
        from workbench.core.serving.worker_lifetime import kill_group
        kill_group(job.proc)  # the server and its worker die (kill -9) right after the first run
        job.proc.wait(timeout=30)
    finally:
        m.shutdown(kill=True)
    kept = read_status(runs.safe_run_dir(first.run_id))
    assert kept.status == "done" and kept.score is not None
    # a new server: the run the dead worker left is interrupted, the finished one kept
    fresh = RunManager(max_concurrent=1, poll_interval=0.2)
    try:
        fresh.recover()
        assert read_status(runs.safe_run_dir(second.run_id)).status in ("failed", "stopped")
        assert read_status(runs.safe_run_dir(first.run_id)).status == "done"
        result = read_experiment(exp_id)
        assert [r.status for r in result.rows][0] == "done" and result.rows[1].status in ("failed", "stopped")
        with pytest.raises(runs.RunError):
            experiment_queue.resume(exp_id, Workspace("bob"), manager=fresh)
        mtime = (runs.safe_run_dir(first.run_id) / "metrics.json").stat().st_mtime
        experiment_queue.resume(exp_id, alice, manager=fresh)
        deadline = time.time() + 600
        while fresh.active_ids() and time.time() < deadline:
            fresh.poll()
            time.sleep(0.5)
        result = read_experiment(exp_id)
        log = (runs.safe_run_dir(second.run_id) / "train.log").read_text()
        assert [r.status for r in result.rows] == ["done", "done"], log[-3000:]
        assert result.rows[1].score is not None
        assert (runs.safe_run_dir(first.run_id) / "metrics.json").stat().st_mtime == mtime  # not scored again
    finally:
        fresh.shutdown()


def test_interrupt_ids_of_an_experiment(tmp_path, tiny_llama_dir, runs_dir):
    m = SleepManager(max_concurrent=1)
    try:
        exp_id = experiment_queue.launch(_spec(tmp_path, tiny_llama_dir), Workspace("alice"), manager=m)
        a, b = read_experiment(exp_id).rows
        job, = m._running.values()  # the experiment is one job of the queue
        assert _interrupt_ids(job) == (a.run_id, [b.run_id])  # the first one 'running'
        update_status(runs.safe_run_dir(a.run_id), status="done")
        update_status(runs.safe_run_dir(b.run_id), status="running")
        assert _interrupt_ids(job) == (b.run_id, [])
    finally:
        m.shutdown()

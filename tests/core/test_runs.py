"""Run directories, status, log, stop requests and the RunManager queue (no model training here:
worker processes are replaced by tiny shell commands so these tests take seconds)."""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from workbench.core.runstore import run_dirs as runs
from workbench.core.serving.run_queue import RunManager
from workbench.spec.settings import RunSpec


def _spec(**train) -> RunSpec:
    return RunSpec.from_dict({"model": {"name": "tiny"}, "train": {"max_steps": 5, **train}})


# --------------------------------------------------------------------------- ids and paths

@pytest.mark.parametrize("bad", ["..", "../x", "a/b", "/etc/passwd", "http://x", "a b", "ü", "", ".hidden",
                                 "a\\b", "x" * 200, "file://etc", "a..b"])
def test_safe_run_dir_refuses_odd_ids(runs_dir, bad):
    with pytest.raises(runs.RunError) as e:
        runs.safe_run_dir(bad)
    assert "run id" in str(e.value).lower()


def test_safe_run_dir_accepts_plain_ids(runs_dir):
    assert runs.safe_run_dir("20250101-120000-abc123") == (runs_dir / "20250101-120000-abc123").resolve()
    assert runs.safe_run_dir("my_run.v2-1").parent == runs_dir.resolve()


def test_runs_root_follows_env(runs_dir):
    assert runs.runs_root() == runs_dir


# --------------------------------------------------------------------------- create / list / read

def test_create_list_status_log(runs_dir):
    a = runs.create_run(_spec(), run_id="a-run")
    time.sleep(0.01)
    b = runs.create_run(_spec(max_steps=9))
    assert (runs_dir / a / "config.yaml").is_file()
    assert RunSpec.load(runs_dir / a / "config.yaml").model.name == "tiny"
    st = runs.run_status(b)
    assert st.status == "queued" and st.run_id == b and st.max_steps == 9 and st.step == 0
    listed = runs.list_runs()
    assert [r.run_id for r in listed] == [b, a]  # newest first
    assert listed[0].method == "lora" and listed[0].max_steps == 9
    with pytest.raises(runs.RunError):
        runs.create_run(_spec(), run_id="a-run")  # exists
    with pytest.raises(runs.RunError):
        runs.run_status("nope")

    log = runs_dir / a / "log.jsonl"
    log.write_text("".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in (1, 2, 3)) + '{"step": 4, "lo')
    assert [r["step"] for r in runs.read_log(a)] == [1, 2, 3]  # half-written last line skipped
    assert [r["step"] for r in runs.read_log(a, since_step=1)] == [2, 3]
    assert runs.truncate_log(runs_dir / a, 2) == 2
    assert [r["step"] for r in runs.read_log(a)] == [1, 2]


def test_status_writes_are_atomic(runs_dir):
    rid = runs.create_run(_spec())
    d = runs_dir / rid
    runs.update_status(d, step=3)
    assert json.loads((d / "status.json").read_text())["step"] == 3
    assert not [p for p in os.listdir(d) if p.endswith(".tmp")]


def test_run_status_is_typed_versioned_and_checked(runs_dir):
    rid = runs.create_run(_spec())
    d = runs_dir / rid
    st = runs.read_status(d)
    assert isinstance(st, runs.RunStatus) and st.version == runs.STATUS_VERSION and st.status == "queued"
    assert st.experiment is None and st.peak_mem_mb is None and st.score is None
    with pytest.raises(TypeError, match="no field"):
        runs.update_status(d, stauts="done")  # a typo is a programming error, not a new key
    runs.update_status(d, metric="exact_match", score=0.5, peak_mem_mb=812.5, est_mem_mb=900.0, eval_loss=1.25)
    st = runs.read_status(d)
    assert (st.metric, st.score, st.peak_mem_mb, st.est_mem_mb, st.eval_loss) == ("exact_match", 0.5, 812.5, 900.0, 1.25)
    assert runs.read_status(runs_dir / "missing").status == "unknown"


def test_run_error_is_stored_as_a_message(runs_dir):
    from workbench.messages import Message
    rid = runs.create_run(_spec())
    d = runs_dir / rid
    error = Message("runs.worker_ended", {"how": Message("runs.exit_code", {"n": 3})})
    runs.update_status(d, status="failed", error=error)
    raw = json.loads((d / "status.json").read_text())
    assert raw["error"] == "worker process ended unexpectedly (exit code 3)"
    assert raw["error_message"]["id"] == "runs.worker_ended"
    st = runs.read_status(d)
    assert st.error_text("en") == raw["error"]
    assert st.error_text("zh-CN") == "训练进程意外结束（退出码 3）"
    runs.update_status(d, error="plain text")  # text clears the stale message
    assert runs.read_status(d).error_message is None and runs.read_status(d).error_text("zh-CN") == "plain text"


def test_old_status_files_are_read_tolerantly(runs_dir):
    d = runs_dir / "old-run"
    d.mkdir()
    (d / "status.json").write_text(json.dumps({
        "status": "done", "step": "7", "max_steps": None, "created": 1.5, "error": None, "pid": "not a pid",
        "some_future_key": [1, 2], "train_loss": 0.5}))
    st = runs.read_status(d)
    assert st.version == 0 and st.status == "done" and st.step == 7 and st.max_steps == 0 and st.pid is None
    assert st.train_loss == 0.5 and st.extra == {"some_future_key": [1, 2]}
    runs.update_status(d, eval_loss=0.25)  # a rewrite keeps what it does not know and stamps the version
    raw = json.loads((d / "status.json").read_text())
    assert raw["some_future_key"] == [1, 2] and raw["version"] == runs.STATUS_VERSION and raw["eval_loss"] == 0.25
    (d / "status.json").write_text("[1, 2")  # half a file (never written so, but read safely)
    assert runs.read_status(d).status == "unknown"


def test_request_stop(runs_dir):
    rid = runs.create_run(_spec())
    assert runs.request_stop(rid).status == "stopped"  # queued -> stopped at once
    with pytest.raises(runs.RunError):
        runs.request_stop(rid)  # already final
    rid2 = runs.create_run(_spec())
    runs.update_status(runs_dir / rid2, status="running", pid=os.getpid())
    assert runs.request_stop(rid2).status == "stopping"
    assert (runs_dir / rid2 / "STOP").is_file()


def test_mark_interrupted(runs_dir):
    dead = subprocess.Popen(["true"])
    dead.wait()
    gone = runs.create_run(_spec(), run_id="gone")
    runs.update_status(runs_dir / gone, status="running", pid=dead.pid)
    alive = runs.create_run(_spec(), run_id="alive")
    runs.update_status(runs_dir / alive, status="running", pid=os.getpid())
    queued = runs.create_run(_spec(), run_id="queued")
    kept = runs.create_run(_spec(), run_id="kept")
    done = runs.create_run(_spec(), run_id="done")
    runs.update_status(runs_dir / done, status="done")
    marked = runs.mark_interrupted(keep={kept})
    assert sorted(marked) == ["gone", "queued"]
    st = runs.run_status(gone)
    assert st.status == "failed" and st.error == "interrupted (server restarted)"
    assert runs.run_status(alive).status == "running"
    assert runs.run_status(kept).status == "queued"
    assert runs.run_status(done).status == "done"


# --------------------------------------------------------------------------- RunManager with fake workers

class FakeManager(RunManager):
    """Workers are shell commands: 'sleep' (a long run that ignores STOP) or a crash."""

    def __init__(self, command, **kw):
        super().__init__(poll_interval=0.05, **kw)
        self.command = command
        self.spawned: list[str] = []

    def _spawn(self, job, run_dir):
        job.log_handle = open(run_dir / "train.log", "ab")
        job.proc = subprocess.Popen(["sh", "-c", self.command], stdout=job.log_handle, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.spawned.append(job.run_id)
        runs.update_status(run_dir, pid=job.proc.pid, status="running", started=time.time())


@pytest.mark.parametrize("policy", ["fifo", "fair"])
def test_queue_positions_owner_cap_and_stop(runs_dir, policy):
    m = FakeManager("sleep 30", max_concurrent=1, max_queued_per_owner=2, stop_grace_s=0.3, policy=policy)
    try:
        first = m.submit(_spec(), owner="alice")
        second = m.submit(_spec(), owner="alice")
        third = m.submit(_spec(), owner="alice")
        assert m.spawned == [first]
        assert runs.run_status(first).status == "running"
        assert (m.queue_position(first), m.queue_position(second), m.queue_position(third)) == (None, 1, 2)
        with pytest.raises(runs.RunError, match="limit is 2"):
            m.submit(_spec(), owner="alice")
        other = m.submit(_spec(), owner="bob")  # caps are per owner
        # first in, first out; fair share: bob, never served, goes before alice's second and third
        assert m.queue_position(other) == (3 if policy == "fifo" else 1)

        assert m.stop(second).status == "stopped"  # queued -> stopped at once, never started
        assert m.queue_position(third) == (1 if policy == "fifo" else 2)

        # 'sleep' ignores the STOP file: after the grace period it is killed and marked stopped
        assert m.stop(first).status == "stopping"
        st = m.wait(first, timeout=20)
        assert st.status == "stopped" and "grace" in st.stop_reason
        nxt = third if policy == "fifo" else other
        deadline = time.time() + 10
        while m.spawned[-1] != nxt and time.time() < deadline:
            time.sleep(0.05)
        assert m.spawned == [first, nxt]  # the stopped one skipped
        assert runs.run_status(second).status == "stopped"
    finally:
        m.shutdown()


def test_crashed_worker_is_marked_failed_with_log_tail(runs_dir):
    m = FakeManager("echo 'Traceback: something broke' >&2; exit 3")
    try:
        rid = m.submit(_spec())
        st = m.wait(rid, timeout=20)
        assert st.status == "failed"
        assert "exit code 3" in st.error and "something broke" in st.error
        assert "something broke" in st.log_tail
        m.command = "exit 0"
        with pytest.raises(runs.RunError):
            m.resume("does-not-exist")
        assert m.resume(rid) == rid
        assert runs.run_status(rid).status in ("queued", "running", "failed")
        m.wait(rid, timeout=20)
    finally:
        m.shutdown()


def test_runs_does_not_import_the_manager():
    """run_dirs.py is the file layer; the queue (serving/run_queue.py) builds on it, never the other way round."""
    import subprocess
    import sys
    code = "import sys, workbench.core.runstore.run_dirs; sys.exit('workbench.core.serving.run_queue' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    assert not hasattr(runs, "RUN_MANAGER")


def test_train_threads_leave_a_core_for_the_server(monkeypatch):
    from workbench.core.serving import threads
    monkeypatch.delenv("WORKBENCH_TRAIN_THREADS", raising=False)
    for cores, runs, want in ((1, 1, 1), (2, 1, 1), (16, 1, 15), (16, 2, 7), (4, 8, 1)):
        monkeypatch.setattr(threads.os, "cpu_count", lambda c=cores: c)
        assert threads.train_threads(runs) == want, (cores, runs)
    monkeypatch.setenv("WORKBENCH_TRAIN_THREADS", "3")
    assert threads.train_threads(1) == 3


def test_queue_wait_estimate_from_the_running_pace(runs_dir):
    """Queued runs get a start estimate: running ETAs first, then each run ahead at the running pace."""
    from workbench.core.serving import run_queue as manager
    from workbench.core.runstore import run_dirs as runs
    from workbench.spec.settings import RunSpec

    def make(step, max_steps, **extra):
        spec = RunSpec()
        spec.train.max_steps = max_steps
        rid = runs.create_run(spec)
        runs.update_status(runs.safe_run_dir(rid), step=step, max_steps=max_steps, **extra)
        return rid

    m = manager.RunManager(max_concurrent=1, poll_interval=60)
    m.timing.observe(start=5.0, tail=3.0)                 # measured: 5 s to a worker's first step, 3 s after its last
    run_a = make(10, 30, elapsed_s=40.0, eta_s=80.0)     # running: 4 s/step, 80 s left
    q1, q2 = make(0, 30), make(5, 20)                      # queued; q2 resumes at step 5
    m._running[run_a] = manager._Job(run_a)
    m._queue += [manager._Job(q1, seq=1), manager._Job(q2, resume=True, seq=2)]
    assert m.wait_estimate(q1) == 80.0 + 3
    assert m.wait_estimate(q2) == 83.0 + 5 + 30 * 4.0 + 3
    assert m.wait_estimate(run_a) is None                  # not queued
    assert [rid for rid, _ in m.plan()] == [q1, q2]
    m.max_concurrent = 2                                  # a free slot: q1 starts now, q2 after run_a
    assert m.wait_estimate(q1) == 0.0 and m.wait_estimate(q2) == 83.0
    m.max_concurrent = 1
    runs.update_status(runs.safe_run_dir(run_a), step=0, elapsed_s=None, eta_s=None)
    # no step logged yet: the prior pace stands in (never missing, never 0 while a run is ahead)
    assert m.wait_estimate(q1) == 5.0 + 30 * manager.fair_share.PRIOR_STEP_S + 3.0

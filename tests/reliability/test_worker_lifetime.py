"""Training workers end with their web server (issue 13, item 2), tested with real signals.

- SIGTERM to the server: it stops its worker (which saves a checkpoint and its adapter at that step), marks the run
  stopped / "interrupted (server stopped)" - resumable - and a queued run stopped too, then exits.
- SIGKILL to the server: its worker notices within seconds (worker_lifetime.py watches the parent pid), saves and stops
  the same way ("interrupted (server process ended)").
- One writer per run: while a live process holds a run's writer lock, a (restarted) server neither marks the run
  interrupted nor resumes it; the kernel drops the lock when that process dies, even by SIGKILL.

Every wait is bounded; every process a test starts is killed at the end.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from relhelpers import ROOT, kill_workers, launch_server, tiny_config, wait_for
from workbench.core.serving import worker_lifetime as lifeline
from workbench.core.runstore import run_dirs as R
from workbench.core.serving.run_queue import RunManager
from workbench.core.runstore.writer_lock import WriterLock, writer_alive
from workbench.spec.settings import RunSpec

SLOW_STEPS = {"WORKBENCH_STEP_DELAY_S": "0.3", "WORKBENCH_SHUTDOWN_GRACE_S": "120"}
"""Tiny-model steps slowed to ~0.3 s (the test-only step-delay hook), so a run is mid-training when the signal comes.
On a quiet machine a worker stops within a few seconds of the signal; the bounds below (STOP_WITHIN) leave room for
a shared 2-core machine under heavy load, where one tiny step has taken over 10 s."""
STOP_WITHIN = 90


def _status(d) -> dict:
    try:
        return json.loads((d / "status.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _assert_interrupted_at_a_checkpoint(d, reason: str) -> dict:
    st = _status(d)
    assert st["status"] == "stopped" and st["stop_reason"] == reason, st
    assert R.last_checkpoint(d).name == f"checkpoint-{st['step']}", (R.last_checkpoint(d), st)  # saved at the stop
    assert st["adapter_step"] == st["step"] and (d / "adapter" / "adapter_config.json").is_file()
    assert not (d / "STOP").exists() and not writer_alive(d)
    return st


# --------------------------------------------------------------------------- one writer per run (fast)

def _queued_run(name: str) -> str:
    spec = RunSpec.from_yaml(tiny_config("HuggingFaceTB/SmolLM2-135M-Instruct", name))
    rid = R.create_run(spec)
    R.update_status(R.safe_run_dir(rid), status="running", pid=None)  # as a dead server left it
    return rid


def test_a_live_writer_lock_blocks_mark_interrupted_and_resume_until_its_process_dies(runs_dir):
    rid = _queued_run("locked")
    d = R.safe_run_dir(rid)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from workbench.core.runstore.writer_lock import WriterLock; "
         "lock = WriterLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(120)", str(d)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert holder.stdout.readline().strip() == "held"
        assert writer_alive(d)
        assert R.mark_interrupted() == []  # status.json has no live pid, but the writer lock says "alive"
        assert _status(d)["status"] == "running"
        with pytest.raises(R.RunError, match="still being written by a live worker process"):
            RunManager().resume(rid)
        with pytest.raises(R.RunError, match="still being written"):  # no second worker on the run either
            lifeline.WorkerLifeline(d).__enter__()
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert wait_for(lambda: not writer_alive(d), 10, "the kernel to drop the lock of the killed holder")
    assert R.mark_interrupted() == [rid]
    assert _status(d)["status"] == "failed"
    with WriterLock(d):  # and a new worker can take it
        assert writer_alive(d)
    assert not writer_alive(d)


def test_worker_lifeline_requests_a_stop_when_its_server_is_gone(tmp_path):
    """The watcher thread of a worker whose server pid is dead writes STOP within a poll or two, and again after
    the run start cleared it; on exit the run is recorded as interrupted instead of 'stop requested'."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    (tmp_path / "status.json").write_text("{}")
    with lifeline.WorkerLifeline(tmp_path, server_pid=gone.pid, poll_s=0.05) as life:
        assert wait_for(lambda: (tmp_path / "STOP").exists(), 5, "STOP")
        (tmp_path / "STOP").unlink()  # begin_run clears stale STOP files
        assert wait_for(lambda: (tmp_path / "STOP").exists(), 5, "STOP written again")
        assert life.reason == lifeline.SERVER_LOST
        R.update_status(tmp_path, status="stopped", stop_reason="stop requested")  # what training writes
    assert _status(tmp_path)["stop_reason"] == lifeline.SERVER_LOST and not (tmp_path / "STOP").exists()


def test_interrupt_all_stops_queue_and_workers_and_refuses_new_runs(runs_dir, monkeypatch):
    """The server's exit path without a server: a worker that honours STOP ends 'stopped' / interrupted, one that
    ignores it is killed after the grace and marked failed (resumable), the queued run is stopped, and nothing new
    can be queued afterwards."""
    def spawn(job, run_dir):  # a stand-in worker: exits like a trained run when STOP appears ("good"), or never
        script = ("import json, os, sys, time\nd = sys.argv[1]\n"
                  "while not os.path.exists(os.path.join(d, 'STOP')): time.sleep(0.05)\n"
                  "from workbench.core.runstore.status import update_status\n"
                  "update_status(d, status='stopped', stop_reason='stop requested')\n")
        if job.run_id.endswith("stubborn"):
            script = "import time\ntime.sleep(60)\n"
        job.proc = subprocess.Popen([sys.executable, "-c", script, str(run_dir)], start_new_session=True,
                                    cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        R.update_status(run_dir, pid=job.proc.pid, status="running", started=time.time())

    m = RunManager(max_concurrent=3, max_queued_per_owner=5, poll_interval=0.1)
    monkeypatch.setattr(m, "_spawn", spawn)
    spec = RunSpec()
    good, stubborn = m.submit(spec, run_id="r-good"), m.submit(spec, run_id="r-stubborn")
    gone = m.submit(spec, run_id="r-gone-stubborn")
    queued = m.submit(spec, run_id="r-queued")
    procs = {rid: m._running[rid].proc for rid in (good, stubborn, gone)}
    shutil.rmtree(R.safe_run_dir(gone))  # a run folder deleted meanwhile must not stop the others
    try:
        t0 = time.time()
        assert sorted(m.interrupt_all(grace_s=3)) == sorted([good, stubborn, queued, gone])
        assert time.time() - t0 < 20
        assert all(p.poll() is not None for p in procs.values())  # no worker outlives the call
        st = {rid: _status(R.safe_run_dir(rid)) for rid in (good, stubborn, queued)}
        assert st[good]["status"] == "stopped" and st[good]["stop_reason"] == lifeline.SERVER_STOPPED, st[good]
        assert st[queued]["status"] == "stopped" and st[queued]["stop_reason"] == lifeline.SERVER_STOPPED
        assert st[stubborn]["status"] == "failed" and st[stubborn]["error"] == lifeline.SERVER_STOPPED
        assert not any((R.safe_run_dir(r) / "STOP").exists() for r in st)
        with pytest.raises(R.RunError, match="shutting down"):
            m.submit(spec)
        assert not m.active_ids()
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()


def test_server_signal_handler_interrupts_then_chains_and_a_second_signal_stops_the_wait():
    """ServerSignals on SIGUSR1 (so the test runner's own SIGINT/SIGTERM stay untouched): the first signal calls
    interrupt_all, a second one during the wait sets give_up, and then the previous handler runs exactly once."""
    chained = []

    class FakeManager:
        def active_ids(self):
            return {"r1"}

        def interrupt_all(self, give_up=None):
            os.kill(os.getpid(), signal.SIGUSR1)  # "Ctrl-C again" while the workers are saving
            end = time.time() + 5
            while not give_up.is_set() and time.time() < end:
                time.sleep(0.01)
            return ["r1"] if give_up.is_set() else []

    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: chained.append(signum))
    try:
        handlers = lifeline.ServerSignals(FakeManager(), signals=(signal.SIGUSR1,))
        assert handlers.install()
        os.kill(os.getpid(), signal.SIGUSR1)
        wait_for(lambda: chained, 10, "the previous handler")
        assert handlers.handled == ["r1"] and chained == [signal.SIGUSR1]
    finally:
        signal.signal(signal.SIGUSR1, previous)


# --------------------------------------------------------------------------- real servers, real signals

@pytest.mark.slow
def test_sigterm_stops_the_workers_then_sigkill_is_noticed_by_the_worker(rel_tmp, tiny_llama_dir, embedded_dir):
    from gradio_client import Client
    runs = rel_tmp / "lifetime" / "runs"
    s1 = launch_server(runs, SLOW_STEPS, log_name="server1.log")
    s2 = None
    try:
        c1 = Client(s1.url, verbose=False)
        rid = c1.predict(tiny_config(tiny_llama_dir, "term-run", max_steps=500, save_steps=1000), "owner-t",
                         api_name="/start_run")
        waiting = c1.predict(tiny_config(tiny_llama_dir, "queued-run", max_steps=500), "owner-q",
                             api_name="/start_run")
        d, dq = runs / rid, runs / waiting
        wait_for(lambda: _status(d).get("step", 0) >= 2, 300, "step 2")
        pid = _status(d)["pid"]
        assert writer_alive(d) and _status(dq)["status"] == "queued"

        t0 = time.time()
        s1.proc.send_signal(signal.SIGTERM)
        rc = s1.proc.wait(timeout=STOP_WITHIN + 60)
        took = time.time() - t0
        assert rc == -signal.SIGTERM, (rc, s1.log_text()[-2000:])  # the server exits with the signal it got
        assert not R.pid_alive(pid), "the worker outlived its server"
        st = _assert_interrupted_at_a_checkpoint(d, lifeline.SERVER_STOPPED)
        assert 2 <= st["step"] < 500 and took < STOP_WITHIN, (st, took)
        assert _status(dq)["status"] == "stopped" and _status(dq)["stop_reason"] == lifeline.SERVER_STOPPED
        assert "training run(s)" in s1.log_text()

        # resumable under a new server, which then dies by SIGKILL: the worker notices and stops on its own
        s2 = launch_server(runs, SLOW_STEPS, log_name="server2.log")
        c2 = Client(s2.url, verbose=False)
        assert c2.predict(rid, "owner-t", api_name="/run_status")["status"] == "stopped"  # not re-marked
        ck_step = st["step"]
        assert c2.predict(rid, "owner-t", api_name="/resume_run") == rid
        wait_for(lambda: _status(d).get("status") == "running" and _status(d).get("step", 0) >= ck_step + 2,
                 300, "the resumed run to train 2 more steps")
        assert _status(d)["resumed_from"] == f"checkpoint-{ck_step}"
        pid2 = _status(d)["pid"]
        s2.stop(signal.SIGKILL, workers=False)
        t0 = time.time()
        wait_for(lambda: not R.pid_alive(pid2), STOP_WITHIN, "the orphaned worker to stop by itself")
        assert time.time() - t0 < STOP_WITHIN
        st2 = _assert_interrupted_at_a_checkpoint(d, lifeline.SERVER_LOST)
        assert st2["step"] > ck_step
        steps = [r["step"] for r in R.read_log_dir(d) if "loss" in r]
        assert steps == list(range(1, st2["step"] + 1))  # one continuous curve across both interruptions
    finally:
        for srv in (s2, s1):
            if srv is not None:
                srv.stop(signal.SIGKILL)
        kill_workers(runs)

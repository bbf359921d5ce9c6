"""Training runs that go wrong, driven through the real server (``fault_server``): the worker killed with
SIGKILL, an out-of-memory error, a full disk while saving a checkpoint, a stop, and the server itself
restarted mid-run. Each must end in a truthful status with a reason, keep what can be kept (log,
checkpoints), stay resumable where that makes sense, and never take the web server down.
"""
from __future__ import annotations

import json
import os
import signal

import psutil
import pytest

from relhelpers import launch_server, tiny_config, wait_for, wait_status
from workbench.core.runstore import run_dirs as R
from workbench.core.serving.worker_lifetime import SERVER_LOST

pytestmark = pytest.mark.slow


def _status_file(d) -> dict:
    try:
        return json.loads((d / "status.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _loss_steps(d) -> list[int]:
    return [r["step"] for r in R.read_log_dir(d) if "loss" in r]


def _still_serving(client) -> None:
    summary, *_ = client.predict("GPT-2", "", api_name="/inspect_model")
    assert "gpt2" in summary


def _gone(pid: int) -> bool:
    return not R.pid_alive(pid)


def _browser_secrets(url: str) -> set[str]:
    """The keys the page's gr.BrowserState components encrypt local storage with (from /config)."""
    import httpx
    comps = httpx.get(url + "config", timeout=30).json()["components"]
    return {c["props"]["secret"] for c in comps if c["type"] == "browserstate"}


def test_killed_worker_fails_with_reason_keeps_checkpoint_and_resumes(fault_server, fault_client, tiny_llama_dir):
    owner = "kill-owner"
    # 10 steps: room to spare after step 3, so a slow CI machine cannot finish the run before the kill
    rid = fault_client.predict(tiny_config(tiny_llama_dir, "kill-run", max_steps=10, save_steps=2), owner,
                               api_name="/start_run")
    d = fault_server.runs / rid
    wait_for(lambda: R.last_checkpoint(d) is not None and _status_file(d).get("step", 0) >= 3, 120, "step 3")
    pid = _status_file(d)["pid"]
    os.kill(pid, signal.SIGKILL)
    st = wait_status(fault_client, rid, owner, ("failed", "done", "stopped"), timeout=60)
    assert st["status"] == "failed" and "killed by signal 9" in st["error"], st
    ck = R.last_checkpoint(d)
    assert ck is not None and (d / "log.jsonl").is_file()
    _still_serving(fault_client)

    assert fault_client.predict(rid, owner, api_name="/resume_run") == rid
    st = wait_status(fault_client, rid, owner, timeout=180)
    assert st["status"] == "done" and st["step"] == 10 and st["resumed_from"] == ck.name, st
    assert _loss_steps(d) == list(range(1, 11))  # one continuous curve across the kill
    assert (d / "adapter" / "adapter_model.safetensors").is_file()


def _run_until_failed(fault_client, tiny_llama_dir, name: str, owner: str) -> tuple[str, dict]:
    """Start the 6-step run ``name`` (WORKBENCH_FAULTS makes it fail) and wait until it ends; -> (run id, status)."""
    rid = fault_client.predict(tiny_config(tiny_llama_dir, name, max_steps=6, save_steps=1), owner,
                               api_name="/start_run")
    st = wait_status(fault_client, rid, owner, timeout=180)
    assert st["status"] == "failed", st
    return rid, st


def test_out_of_memory_fails_with_the_reason_and_the_app_keeps_serving(fault_server, fault_client, tiny_llama_dir):
    owner = "oom-owner"
    rid, st = _run_until_failed(fault_client, tiny_llama_dir, "oom-run", owner)
    assert "out of memory" in st["error"] and "batch_size" in st["error"], st["error"]
    d = fault_server.runs / rid
    assert R.last_checkpoint(d).name == "checkpoint-1"  # the checkpoint before the failure is kept
    assert (d / "adapter" / "adapter_config.json").is_file()  # and the adapter at its last state
    assert wait_for(lambda: _gone(_status_file(d)["pid"]), 30, "the worker to exit")
    _still_serving(fault_client)
    assert fault_server.proc.poll() is None


def test_full_disk_while_saving_fails_with_the_reason(fault_server, fault_client, tiny_llama_dir):
    rid, st = _run_until_failed(fault_client, tiny_llama_dir, "disk-run", "disk-owner")
    assert "disk full" in st["error"] and "No space left on device" in st["error"], st["error"]
    assert R.last_checkpoint(fault_server.runs / rid) is not None
    _still_serving(fault_client)
    assert fault_server.proc.poll() is None


def test_stop_ends_the_worker_and_frees_its_memory(fault_server, fault_client, tiny_llama_dir):
    server = psutil.Process(fault_server.pid)
    rss_before = server.memory_info().rss
    owner = "stop-owner"
    rid = fault_client.predict(tiny_config(tiny_llama_dir, "stop-run", max_steps=500), owner, api_name="/start_run")
    d = fault_server.runs / rid
    wait_for(lambda: _status_file(d).get("step", 0) >= 2, 120, "step 2")
    pid = _status_file(d)["pid"]
    worker_rss = psutil.Process(pid).memory_info().rss
    assert fault_client.predict(rid, owner, api_name="/stop_run") == rid
    st = wait_status(fault_client, rid, owner, timeout=60)
    assert st["status"] == "stopped" and st["stop_reason"] == "stop requested" and st["step"] < 500, st
    assert st["adapter_step"] == st["step"]
    wait_for(lambda: _gone(pid), 30, "the worker process to exit")
    # the model lived in the worker: the server did not grow by anything like the worker's size
    growth = server.memory_info().rss - rss_before
    assert worker_rss > 200 * 2**20 and growth < 150 * 2**20, (growth, worker_rss)


def test_server_restart_mid_run_marks_interrupted_and_resumes(rel_tmp, tiny_llama_dir, embedded_dir):
    """Server 1 dies (SIGKILL) while two runs train. Run A's worker dies with it (as on a machine restart),
    run B's worker notices its server is gone and stops itself at a checkpoint (worker_lifetime.py). Server 2 over the
    same runs folder marks A 'interrupted (server restarted)', leaves B's own 'interrupted (server process ended)',
    and resumes both. Browsers keep their session: the key their
    owner id is stored under is the same after the restart."""
    from gradio_client import Client
    runs = rel_tmp / "restart" / "runs"
    env = {"WORKBENCH_STEP_DELAY_S": "0.25", "WORKBENCH_MAX_CONCURRENT_RUNS": "2"}
    s1 = launch_server(runs, env, log_name="server1.log")
    s2 = None
    try:
        c1 = Client(s1.url, verbose=False)
        secret1 = _browser_secrets(s1.url)
        # A has room to spare after its first checkpoint: on a slow 2-core CI machine it must still be
        # training when server 1 dies (with 6 steps it once finished first)
        a = c1.predict(tiny_config(tiny_llama_dir, "restart-a", max_steps=20, save_steps=2), "owner-a",
                       api_name="/start_run")
        b = c1.predict(tiny_config(tiny_llama_dir, "restart-b", max_steps=40, save_steps=100), "owner-b",
                       api_name="/start_run")
        da, db = runs / a, runs / b
        wait_for(lambda: _status_file(db).get("step", 0) >= 1, 150, "B step 1")
        wait_for(lambda: R.last_checkpoint(da) is not None and _status_file(da).get("step", 0) >= 3, 150, "A step 3")
        pid_a, pid_b = _status_file(da)["pid"], _status_file(db)["pid"]
        s1.stop(signal.SIGKILL, workers=False)
        os.kill(pid_a, signal.SIGKILL)
        wait_for(lambda: _gone(pid_a), 10, "worker A to die")
        wait_for(lambda: _gone(pid_b), 30, "worker B to stop by itself")

        s2 = launch_server(runs, env, log_name="server2.log")
        c2 = Client(s2.url, verbose=False)
        # browsers can still read the owner id they stored before the restart (same key), so they
        # reattach to their runs instead of starting a new, empty session
        assert len(secret1) == 1 and _browser_secrets(s2.url) == secret1
        st_a = c2.predict(a, "owner-a", api_name="/run_status")
        assert st_a["status"] == "failed" and st_a["error"] == R.INTERRUPTED, st_a
        st_b = c2.predict(b, "owner-b", api_name="/run_status")
        assert st_b["status"] == "stopped" and st_b["stop_reason"] == SERVER_LOST and st_b.get("error") is None, st_b

        ck = R.last_checkpoint(da)
        c2.predict(a, "owner-a", api_name="/resume_run")  # both at once (two runs may train together here)
        c2.predict(b, "owner-b", api_name="/resume_run")
        st_a = wait_status(c2, a, "owner-a", timeout=180)
        assert st_a["status"] == "done" and st_a["step"] == 20 and st_a["resumed_from"] == ck.name, st_a
        assert _loss_steps(da) == list(range(1, 21))
        st_b = wait_status(c2, b, "owner-b", timeout=180)
        assert st_b["status"] == "done" and st_b["step"] == 40, st_b
    finally:
        if s2 is not None:
            s2.stop()
        s1.stop()

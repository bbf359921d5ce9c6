"""The web app: start-up time and endpoint latency, idle and while a training run is going.

Starts ``python app.py`` on a free loopback port (WORKBENCH_RUNS_DIR = a temporary folder), measures the time
from process start to the first HTTP 200 of ``/``, then calls three endpoints through gradio_client
BENCH_CALLS times each (default 20; the first call of each is a warm-up and not counted):
  /inspect_model   ("smollm2-135m-instruct", "")               module table + groups
  /match_targets   (model, ["q_proj", "v_proj"], "", False, 8)  the live match count
  /rank_chart      (model, default target sets, ...)           the rank-vs-parameters plotly figures
first with the server idle, then while a lora-quick run started with /start_run trains in the same server
(its worker is a child process; the calls start once the run has finished a step). The run is stopped at the
end. Also GET / latency, and /compare (the base model generating up to 40 greedy tokens in the server process,
BENCH_GEN_CALLS times, default 5), idle and during training.

    .venv/bin/python benchmarks/bench_app.py
    WORKBENCH_SERVER_THREADS=2 ...     # the server's own torch threads (default 1), passed through to app.py
Goal: the page stays responsive: p95 < ~1 s during training.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import PY, REPO, emit, env_int, pct, table, wait_for_quiet  # noqa: E402

MODEL = "smollm2-135m-instruct"
ENDPOINTS = {
    "/inspect_model": (MODEL, ""),
    "/match_targets": (MODEL, ["q_proj", "v_proj"], "", False, 8),
    "/rank_chart": (MODEL, ["PEFT default", "attention (q,k,v,o)", "all-linear"], [], "", "1,2,4,8,16,32,64,128,256",
                    True, True, 20, False, "none", False, True),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        r.read()
        return r.status


def start_server(port: int, runs_dir: str, log_path: Path) -> tuple[subprocess.Popen, float]:
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1",
               WORKBENCH_RUNS_DIR=runs_dir, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    log = open(log_path, "wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen([PY, "app.py"], cwd=str(REPO), env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            if get(url, timeout=2) == 200:
                return proc, time.perf_counter() - t0
        except Exception:  # noqa: BLE001 - not up yet
            pass
        if time.perf_counter() - t0 > 180:
            raise RuntimeError("app.py did not serve / within 180 s")
        time.sleep(0.05)


GEN_PROMPT = "Extract the person as JSON with keys name, age, city: Tobias, 26, lives in Krakow."


def measure(client, calls: int, url: str) -> dict:
    out = {}
    gen_calls = env_int("BENCH_GEN_CALLS", 5)
    if gen_calls:  # the Compare tab: the base model generates up to 40 greedy tokens in the server process
        client.predict(MODEL, [], GEN_PROMPT, "bench-owner", 40, api_name="/compare")
        times = []
        for _ in range(gen_calls):
            t0 = time.perf_counter()
            client.predict(MODEL, [], GEN_PROMPT, "bench-owner", 40, api_name="/compare")
            times.append(time.perf_counter() - t0)
        out["/compare (generate)"] = times
    for name, args in ENDPOINTS.items():
        client.predict(*args, api_name=name)  # warm-up (first call may build caches)
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            client.predict(*args, api_name=name)
            times.append(time.perf_counter() - t0)
        out[name] = times
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        get(url)
        times.append(time.perf_counter() - t0)
    out["GET /"] = times
    return out


def wait_status(client, run_id: str, pred, timeout: float = 300) -> dict:
    t0 = time.time()
    while time.time() - t0 < timeout:
        st = client.predict(run_id, "bench-owner", api_name="/run_status")
        st = st if isinstance(st, dict) else yaml.safe_load(st) if isinstance(st, str) else {}
        if pred(st):
            return st
        time.sleep(1)
    raise RuntimeError(f"run {run_id} did not reach the expected state in {timeout} s (last: {st})")


def main() -> int:
    warnings.simplefilter("ignore")
    from gradio_client import Client
    calls = env_int("BENCH_CALLS", 20)
    load = wait_for_quiet("app")
    runs_dir = tempfile.mkdtemp(prefix="wb-bench-runs-")
    port = free_port()
    log_path = Path(runs_dir) / "server.log"
    proc, t_start = start_server(port, runs_dir, log_path)
    url = f"http://127.0.0.1:{port}/"
    print(f"process start -> first page (HTTP 200 of /): {t_start:.2f} s", flush=True)
    res: dict = {"startup_s": t_start}
    try:
        client = Client(url, verbose=False)
        idle = measure(client, calls, url)
        cfg = yaml.safe_load((REPO / "presets/recipes/lora-quick.yaml").read_text())
        cfg["train"].update(max_steps=500, save_steps=1000, eval_at_end=False)
        run_id = client.predict(yaml.safe_dump(cfg), "bench-owner", api_name="/start_run")
        t0 = time.time()
        st = wait_status(client, run_id, lambda s: (s.get("step") or 0) >= 1 or s.get("status") in ("failed", "done"))
        if st.get("status") == "failed":
            raise RuntimeError(f"training run failed: {st.get('error')}")
        print(f"run {run_id} started; first step after {time.time() - t0:.0f} s; measuring during training...",
              flush=True)
        step0 = st.get("step") or 0
        t_busy = time.time()
        busy = measure(client, calls, url)
        st = client.predict(run_id, "bench-owner", api_name="/run_status")
        st = st if isinstance(st, dict) else {}
        still = st.get("status") == "running"
        res["steps_during"] = (st.get("step") or 0) - step0
        res["busy_s"] = time.time() - t_busy
        client.predict(run_id, "bench-owner", api_name="/stop_run")
        print(f"training was {'still running' if still else 'NOT running (' + str(st.get('status')) + ')'} at the end "
              f"of the measurement ({res['steps_during']} steps in {res['busy_s']:.0f} s meanwhile); stop requested",
              flush=True)
        res["train_running_at_end"] = still
        try:
            wait_status(client, run_id, lambda s: s.get("status") in ("stopped", "done", "failed"), timeout=120)
        except RuntimeError as e:
            print(f"warning: {e}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(runs_dir, ignore_errors=True)
    rows = []
    worst = 0.0
    for name in idle:
        a, b = idle[name], busy[name]
        if not name.startswith("/compare"):  # generation is reported, not part of the page-responsiveness goal
            worst = max(worst, pct(b, 0.95))
        rows.append([name, f"{pct(a, .5) * 1000:.0f}", f"{pct(a, .95) * 1000:.0f}", f"{pct(b, .5) * 1000:.0f}",
                     f"{pct(b, .95) * 1000:.0f}", f"{pct(b, .5) / pct(a, .5):.1f}x"])
    print()
    print(table(rows, ["endpoint", "idle p50 ms", "idle p95 ms", "training p50 ms", "training p95 ms", "p50 ratio"]))
    print(f"\n{calls} calls each after one warm-up. Worst p95 during training {worst:.2f} s "
          f"(goal < ~1 s: {'met' if worst < 1.0 else 'NOT met'}); start-up {t_start:.1f} s")
    print(f"load average at start {load:.2f}, at end {os.getloadavg()[0]:.2f}")
    res.update(idle=idle, busy=busy, worst_p95=worst, load=load)
    emit(res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Helpers for the reliability tests (imported as ``relhelpers``; fixtures are in conftest.py): launch extra app servers with their own environment (fault hooks, a
small upload limit, a fake HF token), tiny training configs, and small polling helpers.

Everything listens on 127.0.0.1 only; nothing here touches the network or the Hugging Face Hub.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FAKE_TOKEN = "hf_RELIABILITYfakeTOKEN0123456789abcdefXYZ"
"""A recognisable fake Hugging Face token: it must never show up in any page, response, log or run file."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AppServer:
    """One app.py process on a loopback port."""
    url: str
    proc: subprocess.Popen
    runs: Path
    log: Path
    env: dict

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20, workers: bool = True) -> None:
        """Stop the server (and, by default, any training worker it left behind)."""
        if workers:
            kill_workers(self.runs)
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""


def launch_server(runs: Path, extra_env: dict | None = None, log_name: str = "server.log",
                  timeout: float = 120) -> AppServer:
    """Start the app exactly as ``python app.py`` does (which runs startup(): interrupted runs are marked failed) and wait for '/'."""
    runs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), WORKBENCH_RUNS_DIR=str(runs),
               GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT),
               WORKBENCH_TRAIN_THREADS="1", WORKBENCH_EXTRA_CALLBACKS="tests.support.faults:FaultCallback")
    env.pop("PORT", None)
    env.update(extra_env or {})
    log = runs.parent / log_name
    fh = open(log, "ab")
    # app.py run as __main__ (startup() + launch), but without "app.py" on the command line: on a shared
    # machine a neighbour's `pkill -f app.py` must not take these servers down mid-test.
    proc = subprocess.Popen([sys.executable, "-c", "import runpy; runpy.run_module('app', run_name='__main__')"],
                            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    fh.close()
    url = f"http://127.0.0.1:{port}/"
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError("server exited: " + log.read_text(errors="replace")[-3000:])
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                return AppServer(url=url, proc=proc, runs=runs, log=log, env=env)
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start: " + log.read_text(errors="replace")[-3000:])


def kill_workers(runs: Path) -> list[int]:
    """SIGKILL training workers whose run directory is under ``runs`` (they outlive their server by design)."""
    import psutil
    killed = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if "--run-dir" in cmd and str(runs) in " ".join(cmd):
            try:
                p.kill()
                killed.append(p.pid)
            except psutil.Error:
                pass
    return killed


def tiny_config(model_dir: str, name: str, max_steps: int = 3, save_steps: int = 100, batch_size: int = 2,
                limit: int = 8) -> str:
    """A YAML run config for the tiny random Llama: a few fast steps on a few shipped examples."""
    spec = yaml.safe_load((ROOT / "presets/recipes/lora-quick.yaml").read_text())
    spec["name"] = name
    spec["model"]["name"] = model_dir
    spec["data"].update(limit=limit, max_length=96)
    spec["train"].update(max_steps=max_steps, save_steps=save_steps, batch_size=batch_size, warmup_steps=0,
                         eval_at_end=False, device="cpu")
    return yaml.safe_dump(spec)


def wait_for(pred, timeout: float = 120.0, what: str = "condition", every: float = 0.2):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = pred()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def wait_status(client, run_id: str, owner: str, statuses=("done", "failed", "stopped"), timeout: float = 180):
    """Poll /run_status until the run reaches one of ``statuses``; returns the status dict."""
    box = {}

    def check():
        box["st"] = client.predict(run_id, owner, api_name="/run_status")
        return box["st"]["status"] in statuses

    wait_for(check, timeout, f"run {run_id} to reach {statuses}", every=0.5)
    return box["st"]


def tree_text(root: Path) -> str:
    """Every readable text under ``root`` concatenated (to search for leaked secrets)."""
    out = []
    for p in root.rglob("*"):
        if p.is_file() and p.stat().st_size < 5_000_000 and p.suffix not in (".safetensors", ".pt", ".bin", ".pth"):
            out.append(p.read_text(errors="replace"))
    return "\n".join(out)

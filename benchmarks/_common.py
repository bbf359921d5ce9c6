"""Shared helpers for the benchmark scripts (no workbench imports here, so it stays cheap to import).

- ``wait_for_quiet()``: block until the 1-minute load average is below BENCH_MAX_LOAD (default 2.5),
  at most BENCH_WAIT_S seconds (default 900); returns the load seen. BENCH_NO_WAIT=1 skips the wait.
- ``machine()``: CPU model, cores, relevant flags, library versions.
- ``run_child(script, args, env)``: run a benchmark's own child mode in a fresh process and parse the JSON
  line it prints last (every measurement that needs its own peak RSS runs this way).
"""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
RESULT_TAG = "BENCH_RESULT "

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def flag(name: str, default: str = "0") -> bool:
    return os.environ.get(name, default).lower() not in ("0", "", "false", "no")


def quick() -> bool:
    return flag("BENCH_QUICK")


def env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


def load1() -> float:
    return os.getloadavg()[0]


def wait_for_quiet(label: str = "") -> float:
    """Wait until the machine is quiet enough to measure; returns the 1-min load average at the start."""
    limit = float(os.environ.get("BENCH_MAX_LOAD", "2.5"))
    max_wait = float(os.environ.get("BENCH_WAIT_S", "900"))
    t0 = time.time()
    la = load1()
    if not flag("BENCH_NO_WAIT"):
        while la >= limit and time.time() - t0 < max_wait:
            print(f"[{label}] load average {la:.2f} >= {limit}; waiting...", flush=True)
            time.sleep(20)
            la = load1()
    waited = time.time() - t0
    note = f" (waited {waited:.0f} s)" if waited > 1 else ""
    print(f"[{label}] load average (1/5/15 min) at start: " + " / ".join(f"{x:.2f}" for x in os.getloadavg())
          + note + ("  WARNING: still above the limit" if la >= limit else ""), flush=True)
    return la


def machine() -> dict:
    """CPU model, core count, flags that matter for matmul speed, library versions."""
    info: dict = {"python": platform.python_version(), "cores": os.cpu_count()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            if k.strip() == "Model name":
                info["cpu"] = v.strip()
            if k.strip() == "Flags":
                flags = set(v.split())
                info["flags"] = sorted(f for f in flags if f.startswith(("avx512_bf16", "amx", "avx512f", "avx2",
                                                                          "avx512_vnni", "avx_vnni", "fma")))
    except Exception:
        pass
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        if out:
            info["gpu"] = out.splitlines()[0]
    except Exception:  # no nvidia-smi: no GPU to report
        pass
    for mod in ("torch", "transformers", "peft", "bitsandbytes", "gradio", "gradio_client", "accelerate"):
        try:
            m = __import__(mod)
            info[mod] = getattr(m, "__version__", "?")
        except Exception:  # noqa: BLE001 - a missing optional package is just not reported
            pass
    return info


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    import psutil
    return psutil.Process().memory_info().rss / 2**20


def emit(result: dict) -> None:
    """Print the child's result as the last line (parsed by run_child)."""
    print(RESULT_TAG + json.dumps(result), flush=True)


def run_child(script: str | Path, args: list[str], env: dict | None = None, timeout: float = 900) -> dict:
    e = dict(os.environ)
    e.update(env or {})
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), e.get("PYTHONPATH")) if p)
    p = subprocess.run([PY, str(script), *args], capture_output=True, text=True, env=e, cwd=str(REPO),
                       timeout=timeout)
    for line in reversed(p.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = (p.stdout[-2000:] + "\n" + p.stderr[-3000:]).strip()
    raise RuntimeError(f"child {Path(script).name} {' '.join(args)} failed (rc {p.returncode}):\n{tail}")


def matmul_peak(dtype_name: str = "float32", n: int | None = None, seconds: float = 3.0) -> float:
    """Best achieved FLOP/s of an n x n @ n x n matmul in this dtype: on the GPU when there is one (n = 8192,
    timed with synchronisation), else on the CPU with all threads torch uses (n = 2048)."""
    import torch
    cuda = torch.cuda.is_available()
    n = n or (8192 if cuda else 2048)
    dev = "cuda" if cuda else "cpu"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    dt = getattr(torch, dtype_name)
    a = torch.randn(n, n, device=dev).to(dt)
    b = torch.randn(n, n, device=dev).to(dt)
    c = torch.empty(n, n, dtype=dt, device=dev)
    for _ in range(2):
        torch.mm(a, b, out=c)
    sync()
    best = 0.0
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        sync()
        dt_s = time.perf_counter() - t0
        best = max(best, 2 * n ** 3 / dt_s)
    return best


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def table(rows: list[list], headers: list[str]) -> str:
    cols = [headers] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cols) for i in range(len(headers))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cols[1:]]
    return "\n".join(lines)

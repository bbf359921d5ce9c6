"""/compare under many users: p95 latency with the generation scheduler batching requests vs without, same run.

Starts ``python app.py`` twice on a free loopback port, once with WORKBENCH_BATCHING=1 (the default: requests
arriving together are generated as one batch) and once with WORKBENCH_BATCHING=0 (each request alone, in arrival
order: the path before the scheduler). Each time BENCH_USERS users (default 30, one gradio_client each, in
threads) call /compare BENCH_ROUNDS times (default 3) with the base model, a prompt of their own and
BENCH_GEN_TOKENS new tokens (default 16), all starting together after one warm-up call. Reports p50 / p95 / max
latency per mode and the ratio p95(off) / p95(on) (goal: >= 3x). The generation events' Gradio concurrency
limit bounds how many /compare calls reach the scheduler at once: one scheduler batch (WORKBENCH_MAX_BATCH,
default 32) with batching on, where a call that arrives while a batch decodes joins it (continuous batching);
the app's default limit (4) with batching off, as before the scheduler.

    .venv/bin/python benchmarks/bench_compare_load.py
    BENCH_USERS=3 BENCH_ROUNDS=1 BENCH_GEN_TOKENS=4 .venv/bin/python benchmarks/bench_compare_load.py   # a smoke run
"""
from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import emit, env_int, pct, table, wait_for_quiet  # noqa: E402
from bench_app import MODEL, free_port, start_server  # noqa: E402


def one_mode(batching: bool, users: int, rounds: int, tokens: int) -> dict:
    from gradio_client import Client
    os.environ["WORKBENCH_BATCHING"] = "1" if batching else "0"
    with tempfile.TemporaryDirectory() as runs:
        port = free_port()
        proc, startup = start_server(port, runs, Path(runs) / "server.log")
        try:
            url = f"http://127.0.0.1:{port}/"
            Client(url, verbose=False).predict(MODEL, [], "Say hi", "warm-up", tokens, api_name="/compare")
            clients = [Client(url, verbose=False) for _ in range(users)]
            lat: list[float] = []
            errors: list[str] = []
            lock = threading.Lock()
            go = threading.Barrier(users)

            def user(i: int) -> None:
                go.wait()
                for r in range(rounds):
                    t0 = time.perf_counter()
                    try:
                        out = clients[i].predict(MODEL, [], f"User {i} asks question {r}: name a colour.",
                                                 f"load-user-{i}", tokens, api_name="/compare")
                        assert out[0]["variant"] == "base" and out[0]["tokens"] >= 1
                    except Exception as e:  # noqa: BLE001 - reported
                        with lock:
                            errors.append(f"user {i}: {e}")
                        continue
                    with lock:
                        lat.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
            [t.start() for t in threads]
            [t.join() for t in threads]
            wall = time.perf_counter() - t0
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except Exception:  # noqa: BLE001
                os.killpg(proc.pid, signal.SIGKILL)
    nan = float("nan")
    return {"batching": batching, "n": len(lat), "errors": errors, "wall_s": wall, "startup_s": startup,
            "p50": pct(lat, 0.5), "p95": pct(lat, 0.95), "max": max(lat) if lat else nan}


def main() -> int:
    warnings.simplefilter("ignore")
    users, rounds, tokens = env_int("BENCH_USERS", 30), env_int("BENCH_ROUNDS", 3), env_int("BENCH_GEN_TOKENS", 16)
    load = wait_for_quiet("compare-load")
    on = one_mode(True, users, rounds, tokens)
    off = one_mode(False, users, rounds, tokens)
    rows = [[("batched" if r["batching"] else "one at a time"), r["n"], len(r["errors"]), f"{r['p50']:.2f}",
             f"{r['p95']:.2f}", f"{r['max']:.2f}", f"{r['wall_s']:.1f}"] for r in (on, off)]
    print(table(rows, ["/compare", "calls", "errors", "p50 s", "p95 s", "max s", "wall s"]))
    ratio = off["p95"] / on["p95"]
    print(f"\n{users} users x {rounds} /compare calls ({tokens} new tokens, base model): p95 without batching / with "
          f"= {ratio:.2f}x (goal >= 3x: {'met' if ratio >= 3 else 'not met'})")
    for r in (on, off):
        for e in r["errors"][:5]:
            print("error:", e)
    print(f"load average at start {load:.2f}, at end {os.getloadavg()[0]:.2f}")
    emit({"on": on, "off": off, "ratio": ratio, "users": users, "rounds": rounds, "tokens": tokens, "load": load})
    return 0 if not (on["errors"] or off["errors"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""CPU threads of the web server and of its training workers (2 cores are shared between them in a workshop room).

    train_threads(max_concurrent)   OMP/MKL threads one training worker gets (env WORKBENCH_TRAIN_THREADS)
    limit_server_threads()          the server process's own torch threads (env WORKBENCH_SERVER_THREADS)
"""
from __future__ import annotations

import os

from workbench.core.env import env_int


def train_threads(max_concurrent: int = 1) -> int:
    """OMP/MKL threads of one training worker: WORKBENCH_TRAIN_THREADS, else every core but one (kept for
    the web server), divided among the runs that may train at once; at least 1.

    Measured on 2 cores (benchmarks/bench_app.py, BENCHMARKS.md): while the server generated, a worker with
    2 threads did 2 steps in 29 s (its OpenMP threads wait for the core the server holds), with 1 thread
    8 steps in 30 s; alone, 2 threads are 1.5x faster (the CLI, which has no server, uses every core).
    """
    env = os.environ.get("WORKBENCH_TRAIN_THREADS")
    if env:
        return max(1, int(env))
    cores = os.cpu_count() or 1
    return max(1, (cores - 1) // max(1, max_concurrent))


def limit_server_threads() -> int:
    """Give the web server process WORKBENCH_SERVER_THREADS torch threads (default 1); returns the number.

    Training runs in worker processes with threads of their own. A server whose generation also used every
    core made both OpenMP pools wait on each other: on 2 cores, 40 greedy tokens took 3.1 s idle and 11.2 s
    during a run with 2 server threads, 3.2 s with 1 (benchmarks/bench_app.py, BENCHMARKS.md). Decoding a
    small model barely gains from more threads, so one is the default.
    """
    import torch
    n = env_int("WORKBENCH_SERVER_THREADS", 1, lo=1)
    torch.set_num_threads(n)
    return n


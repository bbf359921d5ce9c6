"""A workshop room on the real run queue with timed stand-in workers (issue 22, item 5): 27 sessions each start one
short run, 3 sessions each launch a 6-run experiment, all within a second, under one queue policy.

The queue (``RunManager``: its policy, the YIELD handshake with an experiment's worker, requeueing, the wait plan)
is the real one. Only the worker is replaced: ``python tests/support/room.py RUN_DIR... STEPS STEP_S`` "trains" its
runs by sleeping ``STEP_S`` per step and writing status.json as a worker does (started, step, elapsed_s, eta_s,
done), and between an experiment's runs it gives the slot up when the queue asked it to, exactly as
``queue_jobs.work`` does. Sleeping workers need no CPU, so both policies can run at once and their timings hold on a
busy 2-core machine. Used by tests/reliability/test_room.py and benchmarks/bench_room.py.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RoomPlan:
    singles: int = 27
    experiments: int = 3
    runs_per_experiment: int = 6
    single_steps: int = 2
    experiment_steps: int = 140
    step_s: float = 0.05


@dataclass
class RoomResult:
    policy: str
    waits: dict[str, float] = field(default_factory=dict)          # single run id -> measured wait (s)
    estimates: dict[str, tuple[float, float]] = field(default_factory=dict)  # run -> (estimate at t, actual from t)
    statuses: dict[str, str] = field(default_factory=dict)           # every run -> final status
    owners_ok: bool = True
    wall_s: float = 0.0

    def p95(self) -> float:
        values = sorted(self.waits.values())
        return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]

    def estimate_errors(self, floor_s: float = 5.0) -> list[float]:
        """|estimate - actual| / actual for every run that was waiting when the estimates were taken and started at
        least ``floor_s`` later (a run due in a second has no wait worth a ratio: 0.1 s against 0.7 s is 600%)."""
        return [abs(e - a) / a for e, a in self.estimates.values() if a >= floor_s]

    def summary(self) -> dict:
        errors = self.estimate_errors()
        return {"policy": self.policy, "p50_wait_s": round(statistics.median(list(self.waits.values())), 2),
                "p95_wait_s": round(self.p95(), 2), "max_wait_s": round(max(self.waits.values()), 2),
                "estimates": len(errors), "estimate_error_median": round(statistics.median(errors), 3) if errors else None,
                "estimate_error_max": round(max(errors), 3) if errors else None, "wall_s": round(self.wall_s, 1),
                "worst_estimates": sorted(([round(e, 1), round(a, 1)] for e, a in self.estimates.values() if a > 0),
                                          key=lambda ea: -abs(ea[0] - ea[1]) / ea[1])[:3]}


def _manager(policy: str, plan: RoomPlan):
    from workbench.core.runstore import run_dirs as runs
    from workbench.core.serving.run_queue import RunManager

    class TimedWorkers(RunManager):
        def _spawn(self, job, run_dir):
            ids = job.group.run_ids if job.group else (job.run_id,)
            steps = plan.experiment_steps if job.group else plan.single_steps
            cmd = [sys.executable, str(Path(__file__).resolve()), *[str(runs.safe_run_dir(r)) for r in ids],
                   str(steps), str(plan.step_s)]
            job.log_handle = open(run_dir / "train.log", "ab")
            job.proc = subprocess.Popen(cmd, cwd=str(ROOT), stdout=job.log_handle, stderr=subprocess.STDOUT,
                                        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
            job.spawned = time.time()
            runs.update_status(run_dir, pid=job.proc.pid, status="running", started=job.spawned)

    return TimedWorkers(max_concurrent=1, max_queued_per_owner=2, max_queued=200, poll_interval=0.05,
                        policy=policy)


def run_room(policy: str, plan: RoomPlan | None = None, estimate_after: int = 4, timeout: float = 600) -> RoomResult:
    """Play the room under ``policy`` (fair | fifo); the estimates are taken once ``estimate_after`` runs have
    finished (the queue has measured a worker's start, its s/step and its tail by then)."""
    from workbench.core.runstore import run_dirs as runs
    from workbench.core.serving.run_queue import RunGroup
    from workbench.spec.settings import RunSpec
    plan = plan or RoomPlan()
    m = _manager(policy, plan)
    result = RoomResult(policy)
    owner_of: dict[str, str] = {}
    submitted: dict[str, float] = {}
    t0 = time.time()
    try:
        for e in range(plan.experiments):  # the experiments arrive first, then the single runs
            owner = f"exp-session-{e}"
            spec = RunSpec()
            spec.train.max_steps = plan.experiment_steps

            def create(owner=owner, spec=spec):
                ids = tuple(runs.create_run(spec, owner=owner) for _ in range(plan.runs_per_experiment))
                return RunGroup(f"room-exp-{owner}", ids, ("experiment", "resume", "-"))
            group = m.submit_group(create, owner=owner)
            for rid in group.run_ids:
                owner_of[rid] = owner
        for s in range(plan.singles):
            owner = f"session-{s}"
            spec = RunSpec()
            spec.train.max_steps = plan.single_steps
            rid = m.submit(spec, owner=owner)
            owner_of[rid], submitted[rid] = owner, time.time()
        done = lambda: all(runs.read_status(runs.safe_run_dir(r)).is_terminal for r in owner_of)  # noqa: E731
        taken = False
        deadline = time.time() + timeout
        while not done() and time.time() < deadline:
            finished = sum(runs.read_status(runs.safe_run_dir(r)).status == "done" for r in owner_of)
            if not taken and finished >= estimate_after:
                t_est = time.time()
                result.estimates = {rid: (wait, t_est) for rid, wait in m.plan()}
                taken = True
            time.sleep(0.1)
        result.wall_s = time.time() - t0
        for rid, owner in owner_of.items():
            st = runs.read_status(runs.safe_run_dir(rid))
            result.statuses[rid] = st.status
            result.owners_ok &= st.owner == owner
            if rid in submitted and st.started:
                result.waits[rid] = st.started - submitted[rid]
        result.estimates = {rid: (wait, runs.read_status(runs.safe_run_dir(rid)).started - t_est)
                            for rid, (wait, t_est) in result.estimates.items()}
    finally:
        m.shutdown()
    return result


def run_both(plan: RoomPlan | None = None) -> dict[str, RoomResult]:
    """Both policies at once (the workers sleep, so neither slows the other)."""
    out: dict[str, RoomResult] = {}
    threads = [threading.Thread(target=lambda p=p: out.__setitem__(p, run_room(p, plan))) for p in ("fair", "fifo")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _work(run_dirs: list[str], steps: int, step_s: float) -> int:
    """The stand-in worker: train each run still queued (the first is marked running by the queue) by sleeping."""
    from workbench.core.runstore import run_dirs as runs
    from workbench.core.runstore.status import read_status, update_status
    trained = 0
    for d in map(Path, run_dirs):
        if read_status(d).status not in ("queued", "running"):
            continue
        if trained and runs.yield_file(d).exists():  # the queue wants the slot for another session
            return 0
        t0 = time.time()
        update_status(d, status="running", started=t0, step=0, max_steps=steps)
        for s in range(1, steps + 1):
            time.sleep(step_s)
            update_status(d, step=s, elapsed_s=time.time() - t0, eta_s=(steps - s) * step_s)
        update_status(d, status="done", ended=time.time(), eta_s=0)
        trained += 1
    return 0


if __name__ == "__main__":
    *dirs, n_steps, seconds = sys.argv[1:]
    sys.exit(_work(dirs, int(n_steps), float(seconds)))

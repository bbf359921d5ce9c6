"""The fair room (issue 22): 30 sessions on one training slot, fair share against first in, first out.

27 sessions each start one short run (2 steps), 3 sessions each launch a 6-run experiment (140 steps a run), all
within a second, on the real run queue (``RunManager``: its policy, the experiment's YIELD handshake, requeueing and
wait plan) with timed stand-in workers that sleep 0.05 s a step (tests/support/room.py; the same room as
tests/reliability/test_room.py). Both policies run at once: the workers sleep, so neither slows the other.

    .venv/bin/python benchmarks/bench_room.py            # prints a table and the JSON
Goals: the single runs' p95 wait under fair share at least 3x lower than under FIFO; every wait estimate (taken
once 4 runs had finished) within 50% of the measured wait, for runs that waited 5 s or more from then.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WORKBENCH_RUNS_DIR"] = tmp
        from tests.support.room import run_both
        results = run_both()
    summary = {k: r.summary() for k, r in results.items()}
    fair, fifo = summary["fair"], summary["fifo"]
    ratio = fifo["p95_wait_s"] / fair["p95_wait_s"]
    print(f"{'policy':6} {'p50 wait':>9} {'p95 wait':>9} {'max wait':>9} {'est. error median / max':>24}")
    for s in (fair, fifo):
        print(f"{s['policy']:6} {s['p50_wait_s']:8.1f}s {s['p95_wait_s']:8.1f}s {s['max_wait_s']:8.1f}s "
              f"{s['estimate_error_median']:>11.1%} / {s['estimate_error_max']:.1%}")
    print(f"p95 FIFO / fair: {ratio:.2f}x (goal >= 3x: {'met' if ratio >= 3 else 'not met'})")
    print(json.dumps({"summary": summary, "p95_ratio": round(ratio, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

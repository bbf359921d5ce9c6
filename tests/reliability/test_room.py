"""The room test (issue 22, item 5): 30 sessions on one training slot - 27 start a short run, 3 launch a 6-run
experiment, all within a second - on the real run queue with timed stand-in workers (tests/support/room.py).

Fair share (round-robin by session, experiments giving the slot up between runs) against first in, first out: the
p95 wait of the single runs, every experiment finishing, nothing lost or crossing sessions, and the wait estimates
against the measured waits."""
from __future__ import annotations

import json

from tests.support.room import run_both


def test_fair_share_cuts_the_single_runs_p95_wait_at_least_3x(runs_dir):
    results = run_both()
    fair, fifo = results["fair"], results["fifo"]
    print(json.dumps({k: r.summary() for k, r in results.items()}))
    for r in (fair, fifo):
        assert len(r.statuses) == 27 + 3 * 6 and set(r.statuses.values()) == {"done"}  # nothing lost, all finish
        assert r.owners_ok  # every run stays its session's
        assert len(r.waits) == 27
    assert fifo.p95() >= 3 * fair.p95(), (fair.summary(), fifo.summary())
    # the estimates taken after the first runs (the queue had measured a start, a step and a tail): within 50% of the
    # measured wait, for every run that waited 5 s or more from then
    for r in (fair, fifo):
        errors = r.estimate_errors()
        assert len(errors) >= 20, r.summary()
        assert max(errors) <= 0.5, r.summary()

"""Fair share of the training slot (core/serving/fair_share.py + RunManager): round-robin by session, an experiment
giving the slot up between its runs while other sessions wait, honest waits, stop and restart of a yielded one."""
from __future__ import annotations

import time

import pytest

from workbench.core.experiments import definition as experiments
from workbench.core.experiments import queue_jobs as experiment_queue
from workbench.core.experiments.results import read_experiment
from workbench.core.runstore import run_dirs as runs
from workbench.core.runstore.status import read_status
from workbench.core.serving import fair_share
from workbench.core.serving.fair_share import PlanJob, PlanSlot, Timing, Unit
from workbench.core.serving.run_queue import RunManager
from workbench.core.serving.workspace import Workspace
from workbench.spec.settings import RunSpec
from tests.support.sleep_workers import SleepManager


def _units(*ids: str, steps: int = 2) -> list[Unit]:
    return [Unit(i, steps) for i in ids]


def _room(how: str) -> list[tuple[str, float]]:
    """alice's experiment (a1 running, a2 and a3 left) holds the slot; then bob, carol, alice (a single run after her
    experiment: first in, first out within a session) and bob again arrive."""
    timing = Timing()
    timing.observe(pace=1.0, start=1.0, tail=1.0)
    queue = [PlanJob("bob", 2, 0, _units("b1")), PlanJob("carol", 3, 0, _units("c1")),
             PlanJob("alice", 4, 0, _units("a_single")), PlanJob("bob", 5, 0, _units("b2"))]
    slot = PlanSlot(free_in=3.0, owner="alice", seq=1, units=_units("a2", "a3"))
    return fair_share.plan(queue, [slot], 1, {"alice": 1}, timing, how)


def test_round_robin_by_session_with_an_experiment_and_a_single_run_in_one_session():
    order = _room("fair")
    assert [rid for rid, _ in order] == ["b1", "c1", "a2", "b2", "a3", "a_single"]
    # each run a fresh worker (another session took a turn in between): start 1 s + 2 steps of 1 s + tail 1 s = 4 s
    assert [t for _, t in order] == [3.0, 7.0, 11.0, 15.0, 19.0, 23.0]
    assert [rid for rid, _ in _room("fifo")] == ["a2", "a3", "b1", "c1", "a_single", "b2"]
    fifo = dict(_room("fifo"))
    assert fifo["a2"] == 3.0 and fifo["a3"] == 6.0  # the experiment's worker goes on: no new start
    assert fifo["b1"] == 9.0


def test_an_experiment_alone_keeps_its_worker():
    timing = Timing()
    timing.observe(pace=1.0, start=5.0, tail=1.0)
    slot = PlanSlot(free_in=2.0, owner="alice", seq=1, units=_units("a2", "a3"))
    assert fair_share.plan([], [slot], 1, {"alice": 1}, timing) == [("a2", 2.0), ("a3", 5.0)]
    assert not fair_share.should_yield("alice", [PlanJob("alice", 2, 0, _units("x"))])
    assert fair_share.should_yield("alice", [PlanJob("bob", 2, 0, _units("x"))])
    assert not fair_share.should_yield("alice", [PlanJob("bob", 2, 0, _units("x"))], "fifo")


def test_pick_front_then_least_recently_served_then_arrival():
    q = [PlanJob("alice", 1, 0, []), PlanJob("alice", 2, 0, []), PlanJob("bob", 3, 0, []), PlanJob("carol", 4, 0, [])]
    assert fair_share.pick(q, {}) == 0                              # nobody served yet: arrival order
    assert fair_share.pick(q, {"alice": 5}) == 2                    # bob and carol never served: bob arrived first
    assert fair_share.pick(q, {"alice": 5, "bob": 6, "carol": 7}) == 0
    assert fair_share.pick(q, {"alice": 5}, "fifo") == 0
    q[3].front, q[1].front = 9, 8                                  # the instructor's moves: earlier first
    assert fair_share.pick(q, {"alice": 5}) == 1


def test_waits_are_never_missing_or_zero_behind_a_run():
    timing = Timing()  # nothing measured: the priors stand in
    slot = PlanSlot(free_in=fair_share.PRIOR_TAIL_S, owner="x")
    (rid, wait), = fair_share.plan([PlanJob("y", 2, 0, _units("y1"))], [slot], 1, {}, timing)
    assert rid == "y1" and wait > 0
    timing.observe(pace=2.0, start=3.0, tail=4.0)
    assert (timing.step_s(), timing.start_s(), timing.tail_s()) == (2.0, 3.0, 4.0)
    assert timing.step_s(live=[4.0, 6.0]) == 4.0


def test_bad_queue_policy_is_refused(monkeypatch):
    monkeypatch.setenv(fair_share.POLICY_ENV, "lottery")
    with pytest.raises(runs.RunError, match="fair, fifo"):
        fair_share.policy()


# --------------------------------------------------------------------------- real workers (tiny model)

def _experiment(model: str, n: int) -> experiments.ExperimentSpec:
    return experiments.ExperimentSpec.from_dict({
        "name": "share",
        "base": {"model": {"name": model}, "adapter": {"method": "lora", "r": 1, "target_modules": ["q_proj"]},
                 "data": {"name": "json-format", "limit": 4, "max_length": 64},
                 "train": {"batch_size": 2, "logging_steps": 1, "precision": "fp32", "warmup_steps": 0,
                           "score_prompts": 1}},
        "vary": {"train.seed": list(range(1, n + 1))}, "max_steps": 1, "eval_steps": 1, "eval_limit": 1,
        "heldout_limit": 1})


def _drive(m: RunManager, until, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while not until() and time.time() < deadline:
        m.poll()
        time.sleep(0.2)
    assert until(), "timed out"


def _yielded(tiny_llama_dir) -> tuple[RunManager, str, str, list]:
    """alice's 3-run experiment starts; bob's single run arrives: alice's worker gives the slot up after her first
    run. Returns (manager, experiment id, bob's run, alice's rows) with bob's run training."""
    m = RunManager(max_concurrent=1, poll_interval=0.2, policy="fair")
    exp_id = experiment_queue.launch(_experiment(tiny_llama_dir, 3), Workspace("alice"), manager=m)
    rows = read_experiment(exp_id, refresh=False).rows
    bob_spec = RunSpec.from_dict(_experiment(tiny_llama_dir, 1).base)
    bob_spec.train.max_steps = 1
    bob = m.submit(bob_spec, owner="bob")
    assert m.queue_position(bob) == 1 and m.wait_estimate(bob) > 0
    assert m.queue_position(rows[1].run_id) == 2 and m.wait_estimate(rows[1].run_id) > m.wait_estimate(bob)
    _drive(m, lambda: read_status(runs.safe_run_dir(bob)).status != "queued")
    return m, exp_id, bob, rows


def _status(rows) -> list[str]:
    return [read_status(runs.safe_run_dir(r.run_id)).status for r in rows]


@pytest.mark.slow
def test_an_experiment_yields_to_another_session_then_stops_while_yielded(tiny_llama_dir, runs_dir):
    m, exp_id, bob, rows = _yielded(tiny_llama_dir)
    try:
        assert _status(rows) == ["done", "queued", "queued"]  # bob trains between alice's first and second run
        assert any(j.group and j.group.group_id == exp_id for j in m._queue)  # her experiment waits its turn
        assert not any(runs.yield_file(runs.safe_run_dir(r.run_id)).exists() for r in rows)
        assert m.queue_position(rows[1].run_id) == 1 and m.wait_estimate(rows[1].run_id) > 0
        assert read_experiment(exp_id).status == "queued"
        experiment_queue.stop_all(exp_id, Workspace("alice"), manager=m)  # stopped while it has yielded
        assert _status(rows) == ["done", "stopped", "stopped"]
        assert not any(j.group for j in m._queue)
        _drive(m, lambda: not m.active_ids())
        assert read_status(runs.safe_run_dir(bob)).status == "done"
        assert _status(rows) == ["done", "stopped", "stopped"]  # nothing of hers started again
    finally:
        m.shutdown()


@pytest.mark.slow
def test_a_restart_with_a_yielded_experiment_resumes_where_it_was(tiny_llama_dir, runs_dir):
    m, exp_id, bob, rows = _yielded(tiny_llama_dir)
    m.shutdown(kill=True)  # the server dies while alice's experiment waits its turn
    first_scored = (runs.safe_run_dir(rows[0].run_id) / "metrics.json").stat().st_mtime
    fresh = RunManager(max_concurrent=1, poll_interval=0.2, policy="fair")
    try:
        fresh.recover()
        assert _status(rows)[0] == "done" and set(_status(rows)[1:]) <= {"failed", "stopped"}
        experiment_queue.resume(exp_id, Workspace("alice"), manager=fresh)
        _drive(fresh, lambda: not fresh.active_ids())
        assert _status(rows) == ["done", "done", "done"]
        assert read_experiment(exp_id).status == "done"
        assert (runs.safe_run_dir(rows[0].run_id) / "metrics.json").stat().st_mtime == first_scored  # not again
    finally:
        fresh.shutdown()


# --------------------------------------------------------------------------- the instructor's controls (no training)

def test_instructor_sees_the_order_moves_a_job_to_the_front_and_pauses(runs_dir):
    from workbench.core.serving import instructor
    m = SleepManager(max_concurrent=1, policy="fair", max_queued_per_owner=3)
    try:
        spec = RunSpec()
        spec.train.max_steps = 3
        busy = m.submit(spec, owner="alice")
        a2, b1, c1 = m.submit(spec, owner="alice"), m.submit(spec, owner="bob"), m.submit(spec, owner="carol")
        assert [rid for rid, _ in m.plan()] == [b1, c1, a2]  # round-robin: alice was served last
        room = instructor.room(m)
        waiting = [r for r in room.rows if r.queue_position]
        assert [r.run_id for r in waiting] == [b1, c1, a2]  # the waiting runs first, in their turn
        assert all(r.starts_in_s and r.starts_in_s > 0 for r in waiting)
        assert [r.starts_in_s for r in waiting] == sorted(r.starts_in_s for r in waiting)
        instructor.move_to_front(a2, m)
        assert [rid for rid, _ in m.plan()] == [a2, b1, c1]
        with pytest.raises(runs.RunError):
            instructor.move_to_front(busy, m)  # running, not waiting
        instructor.pause_queue(True, m)
        assert "paused" in instructor.room(m).summary.render("en")
        m.stop(busy)
        m.wait(busy, timeout=20)
        m.poll()
        assert m.spawned == [busy] and runs.run_status(a2).status == "queued"  # paused: nothing new starts
        instructor.pause_queue(False, m)
        m.poll()
        assert m.spawned == [busy, a2]
    finally:
        m.shutdown()

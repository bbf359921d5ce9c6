"""Fair share of the training slot between browser sessions, and the waits it implies (no processes here).

The run queue (``run_queue.RunManager``) holds jobs: a single run, or an experiment's runs trained by one worker (a
group). Which job starts next, when a running experiment gives the slot up, and when each waiting run should start
are decided here, from plain descriptions of the jobs, so the policy is tested without a worker:

- ``pick(queue, served, policy)``: the job to start next. ``fair`` (the default, env ``WORKBENCH_QUEUE_POLICY``):
  round-robin by session - the session served longest ago (or never) goes first, first in first out within a session;
  ``fifo``: the order of arrival. A job the instructor moved to the front goes before both.
- ``should_yield(owner, queue, policy)``: an experiment gives the slot up between its runs while a run of another
  session waits (fair share only); when nobody else waits it keeps its worker and its loaded base model.
- ``plan(...)``: every waiting run's expected start, in seconds from now, by playing the queue forward in that very
  order: the running runs end after their ETA plus the measured time a run takes after training (scoring, saving);
  each run after them takes the measured time of a worker's start, its remaining steps times the measured seconds
  per step, and the tail. ``Timing`` keeps those measurements (medians of the last runs), with priors until the
  first run has been measured, so an estimate is never missing.
"""
from __future__ import annotations

import os
import statistics
import time
from collections import deque
from dataclasses import dataclass, field

from workbench.core.runstore import run_dirs as runs

POLICY_ENV = "WORKBENCH_QUEUE_POLICY"
POLICIES = ("fair", "fifo")


def policy() -> str:
    """``fair`` (default) or ``fifo`` (env WORKBENCH_QUEUE_POLICY; an unknown value is refused)."""
    value = (os.environ.get(POLICY_ENV) or "fair").strip().lower()
    if value not in POLICIES:
        raise runs.RunError("runs.bad_queue_policy", value=value, choices=", ".join(POLICIES))
    return value


def _who(owner: str | None) -> str:
    return owner or ""


# --------------------------------------------------------------------------- who goes next

def pick(queue: list, served: dict[str, int], how: str = "fair") -> int:
    """Index in ``queue`` (jobs with ``owner``, ``seq`` and ``front``, kept in ``seq`` order) of the job to start next.

    ``served[owner]``: when the owner's last job started (a counter; absent = never)."""
    fronts = [i for i, j in enumerate(queue) if j.front]
    if fronts:
        return min(fronts, key=lambda i: queue[i].front)
    if how == "fifo":
        return 0
    first: dict[str, int] = {}
    for i, j in enumerate(queue):
        first.setdefault(_who(j.owner), i)
    return min(first.values(), key=lambda i: (served.get(_who(queue[i].owner), -1), queue[i].seq))


def should_yield(owner: str | None, queue: list, how: str = "fair") -> bool:
    """True when a running experiment of ``owner`` should give the slot up before its next run: fair share and a job
    of another session waiting."""
    return how == "fair" and any(_who(j.owner) != _who(owner) for j in queue)


# --------------------------------------------------------------------------- measured time

PRIOR_STEP_S = 3.0
"""Seconds per optimizer step before any run has been measured: the embedded model's LoRA quick recipe on 2 cores."""
PRIOR_START_S = 15.0
"""Seconds from a worker's start to its first step before one has been measured (imports, model, data)."""
PRIOR_TAIL_S = 15.0
"""Seconds from a run's last step to its worker's end before one has been measured (forgetting, saving, scoring)."""


@dataclass
class Timing:
    """Medians of the last ``keep`` measurements of each part of a run's time in the slot."""
    keep: int = 20
    paces: deque = field(default_factory=deque)
    starts: deque = field(default_factory=deque)
    tails: deque = field(default_factory=deque)

    def _add(self, values: deque, x: float | None) -> None:
        if x is not None and x >= 0:
            values.append(float(x))
            while len(values) > self.keep:
                values.popleft()

    def observe(self, pace: float | None = None, start: float | None = None, tail: float | None = None) -> None:
        self._add(self.paces, pace)
        self._add(self.starts, start)
        self._add(self.tails, tail)

    def step_s(self, live: list[float] | None = None) -> float:
        values = [*self.paces, *(live or [])]
        return statistics.median(values) if values else PRIOR_STEP_S

    def start_s(self) -> float:
        return statistics.median(self.starts) if self.starts else PRIOR_START_S

    def tail_s(self) -> float:
        return statistics.median(self.tails) if self.tails else PRIOR_TAIL_S


def observe(timing: Timing, job, ended: bool = False) -> None:
    """Feed ``timing`` what a worker's runs took, as soon as it is known (``run_queue._Job``: ``spawned``, ``group``,
    ``run_id``, ``observed``): its start (spawn to first step), each finished run's s/step and tail (its last step to
    the next run's start, or to the worker's end when ``ended``). Called on every poll: an experiment's worker that
    trains for an hour teaches the queue its pace run by run, not at its end."""
    if not job.spawned:
        return
    trained = []  # read only what can still teach something: not the runs already taken, nor those not started
    for rid in job.group.run_ids if job.group else (job.run_id,):
        if rid in job.observed:
            continue
        s = runs.read_status(runs.safe_run_dir(rid))
        if s.status == "queued":  # the worker trains its runs in order: none after this one has started
            break
        if s.started and s.started >= job.spawned and not s.resumed_from:
            trained.append(s)
    if trained and trained[0].step and "start" not in job.observed:
        job.observed.add("start")
        timing.observe(start=trained[0].started - job.spawned)
    for i, s in enumerate(trained):
        if s.run_id in job.observed or not (s.is_terminal and s.step and s.elapsed_s):
            continue
        end = trained[i + 1].started if i + 1 < len(trained) else (time.time() if ended else None)
        if end is not None:
            job.observed.add(s.run_id)
            timing.observe(pace=s.elapsed_s / s.step, tail=end - (s.started + s.elapsed_s))


# --------------------------------------------------------------------------- the plan

@dataclass
class Unit:
    """One run as the plan sees it: its id and the steps it still has to train."""
    run_id: str
    steps: int


@dataclass
class PlanJob:
    """A queued job: its session, arrival ``seq``, instructor ``front`` mark (0 = none) and runs in order."""
    owner: str | None
    seq: int
    front: int
    units: list[Unit]


@dataclass
class PlanSlot:
    """A busy slot: seconds until its current run ends (training ETA + tail), and for an experiment's worker the
    session and the runs it still has (its job's ``seq``)."""
    free_in: float
    owner: str | None = None
    seq: int = 0
    units: list[Unit] = field(default_factory=list)


def plan(queue: list[PlanJob], slots: list[PlanSlot], max_concurrent: int, served: dict[str, int],
         timing: Timing, how: str = "fair", step_s: float | None = None) -> list[tuple[str, float]]:
    """(run id, expected start in seconds from now) of every waiting run, in the order they are expected to start.

    Plays the queue forward: whenever a slot frees, a running experiment goes on with its next run unless another
    session waits (fair share), otherwise ``pick`` chooses the next job; an experiment whose worker gave the slot up
    is a queued job again (its ``seq`` keeps its place within its session)."""
    pace = step_s if step_s is not None else timing.step_s()
    start, tail = timing.start_s(), timing.tail_s()
    queue = [PlanJob(j.owner, j.seq, j.front, list(j.units)) for j in queue if j.units]
    served = dict(served)
    counter = max(served.values(), default=0)
    free = [(s.free_in, s) for s in slots] + [(0.0, None)] * max(0, max_concurrent - len(slots))
    out: list[tuple[str, float]] = []
    while queue or any(s is not None and s.units for _, s in free):
        i = min(range(len(free)), key=lambda k: free[k][0])
        t, holder = free[i]
        if holder is not None and holder.units:
            if not should_yield(holder.owner, queue, how):  # the worker goes on: no new start
                unit = holder.units.pop(0)
                out.append((unit.run_id, t))
                free[i] = (t + unit.steps * pace + tail, holder)
                continue
            queue.append(PlanJob(holder.owner, holder.seq, 0, holder.units))
            queue.sort(key=lambda j: j.seq)
        if not queue:
            free[i] = (float("inf"), None)
            continue
        job = queue.pop(pick(queue, served, how))
        counter += 1
        served[_who(job.owner)] = counter
        unit = job.units.pop(0)
        out.append((unit.run_id, t))
        free[i] = (t + start + unit.steps * pace + tail, PlanSlot(0.0, job.owner, job.seq, job.units))
    return out


def current_run(job, status) -> str:
    """The run a running job's worker trains now (a group's: the first whose status says so)."""
    if job.group:
        for rid in job.group.run_ids:
            if status(rid).status in ("running", "stopping"):
                return rid
    return job.run_id


def plan_queue(queue: list, running: list, served: dict[str, int], timing: Timing, max_concurrent: int,
               how: str = "fair") -> list[tuple[str, float]]:
    """``plan`` for the run queue's own jobs (``run_queue._Job``: ``run_id``, ``owner``, ``seq``, ``front``,
    ``group``, ``spawned``), reading each run's status.json: steps left, the running runs' ETA and live pace."""
    status: dict[str, runs.RunStatus] = {}

    def st(rid: str) -> runs.RunStatus:
        if rid not in status:
            status[rid] = runs.read_status(runs.safe_run_dir(rid))
        return status[rid]

    def units(job, skip: str | None = None) -> list[Unit]:
        ids = job.group.run_ids if job.group else (job.run_id,)
        return [Unit(rid, max(0, st(rid).max_steps - st(rid).step)) for rid in ids
                if rid != skip and (st(rid).status == "queued" or not job.group)]
    live = [s.elapsed_s / s.step for s in (st(current_run(j, st)) for j in running) if s.step and s.elapsed_s]
    pace = timing.step_s(live)
    slots = []
    for job in running:
        cur = st(current_run(job, st))
        if cur.eta_s is not None and cur.step:
            eta = cur.eta_s
        else:  # still starting: what is left of a worker's start, then its steps
            now = time.time()
            since = now - (job.spawned or now)
            eta = max(0.0, timing.start_s() - since) + max(0, cur.max_steps - cur.step) * pace
        slots.append(PlanSlot(eta + timing.tail_s(), job.owner, job.seq, units(job, skip=cur.run_id) if job.group else []))
    jobs = [PlanJob(j.owner, j.seq, j.front, units(j)) for j in queue]
    return plan(jobs, slots, max_concurrent, served, timing, how, step_s=pace)

"""One generation scheduler per loaded VariantModel: requests of many users, grouped into batches.

A request (``requests.Request``) is (prompt, variant, settings, owner). ``Scheduler.submit`` checks each request on
its own (settings, variant, prompt type and length) and fails a bad one at once, alone; the good ones wait in a
queue. One worker thread per scheduler takes the oldest waiting request, waits up to ``WORKBENCH_BATCH_WINDOW_MS``
(default 15 ms) for others to arrive, and runs every compatible waiting request with it as ONE batch, taking requests
from each submission in turn so that a long evaluation cannot shut a Compare click out. Greedy batches decode
continuously (``decoding.RunningBatch``): a finished row leaves at once, and compatible requests that arrive while the
batch decodes join it between two steps (up to the batch cap, and only while no request of another kind waits: that
one starts when the batch drains). Sampled and prompt-learning batches run through ``generate``
(``batching.run_batch``); ``WORKBENCH_CONTINUOUS=0`` sends every batch there.

- compatible = same batch kind (the base and the LoRA adapters of one base copy mix; DoRA, IA3 and prompt-learning
  adapters run per variant) and the same decoding settings; ``max_new_tokens`` may differ (each row stops on its
  own). Sampled requests only share a batch with their own submission (the Compare columns, ``columns``), so a
  seeded sampled comparison repeats exactly.
- each request streams through its own queue (``requests.Handle``: iterate for the growing text, or ``result()``),
  and is finished as soon as its own row ends.
- an exception in a batch is retried request by request (those not finished yet), so it reaches only the request
  that causes it.

``WORKBENCH_BATCHING=0`` turns batching across requests off: each request then runs alone, in arrival order, and
the Compare columns one after another (the path before this scheduler). ``WORKBENCH_MAX_BATCH`` caps a batch
(default 32 rows). Threads: a batch runs on the torch threads of its process (the web server limits them with
``run_queue.limit_server_threads``), and only one batch computes at a time in a process, over all schedulers
(``WORKBENCH_GEN_CONCURRENCY``), so generation stays within that budget however many models are loaded.
"""
from __future__ import annotations

import atexit
import queue
import threading
import time
import weakref
from dataclasses import dataclass

from workbench.errors import WorkbenchError
from workbench.core.generation import decoding
from workbench.core.generation.answers import GenResult, GenSettings
from workbench.core.generation.batching import Row, RowResult, batch_kind, needs_equal_lengths, run_batch
from workbench.core.generation.requests import Handle, Request
from workbench.core.env import env_flag, env_int, env_number
from workbench.core.generation.variants import VariantModel

IDLE_S = 30.0
"""A worker with nothing to do for this long ends (the next submit starts another)."""
_COMPUTE = threading.Semaphore(env_int("WORKBENCH_GEN_CONCURRENCY", 1, lo=1))
"""Batches that may compute at once in this process, over all schedulers (env WORKBENCH_GEN_CONCURRENCY, default
1): each batch uses the process's torch threads, so one at a time keeps generation within the thread budget."""


def max_batch_default() -> int:
    """Most requests in one batch (env WORKBENCH_MAX_BATCH, default 32: a 30-person room fits one batch; see
    ``generation_slots``). On the 30-user load benchmark 32 gave a /compare p95 of 10.3 s, 16 gave 12.6 s."""
    return env_int("WORKBENCH_MAX_BATCH", 32, lo=1)


def generation_slots(default: int) -> int:
    """How many generation calls the web server lets wait in the scheduler at once: a batch's worth
    (``max_batch_default``), so that they can share it; with batching off the scheduler runs one call at a time,
    and ``default`` (the app's limit for its other events) applies."""
    return max_batch_default() if batching_enabled() else default


def continuous_enabled() -> bool:
    """``WORKBENCH_CONTINUOUS=0`` decodes every batch with ``generate`` (``batching.run_batch``) instead of
    ``decoding.RunningBatch``: rows then neither leave a batch early nor join a running one."""
    return env_flag("WORKBENCH_CONTINUOUS")


def batching_enabled() -> bool:
    return env_flag("WORKBENCH_BATCHING")


@dataclass
class _Item:
    handle: Handle
    ids: list[int]
    key: tuple
    submission: int
    cap: int
    arrival: float


class Scheduler:
    """Batches the generation requests for one VariantModel (see the module doc)."""

    def __init__(self, vm: VariantModel, batching: bool | None = None, window_s: float | None = None,
                 max_batch: int | None = None):
        self.vm = vm
        self.batching = batching_enabled() if batching is None else batching
        self.window_s = env_number("WORKBENCH_BATCH_WINDOW_MS", 15.0, lo=0.0) / 1000 if window_s is None else window_s
        self.max_batch = max(1, int(max_batch or max_batch_default()))
        self._cv = threading.Condition()
        self._pending: list[_Item] = []
        self._thread: threading.Thread | None = None
        self._submissions = 0
        self.batch_sizes: list[int] = []
        """How many requests each batch started with (for tests and benchmarks)."""
        self.joined = 0
        """Requests that joined a batch already decoding (continuous batching)."""
        self.continuous = continuous_enabled()
        self._running = 0
        _LIVE.add(self)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no batch is generating and none is waiting (True) or ``timeout`` seconds pass (False)."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._running and not self._pending, timeout)

    # ------------------------------------------------------------------ submitting

    def submit(self, requests: list[Request], max_batch: int | None = None,
               events: "queue.Queue | None" = None) -> list[Handle]:
        """Queue ``requests`` (one submission); a request that fails its checks fails at once, alone.

        ``max_batch`` caps how many requests a batch holding these may have (1 = each alone; default: the
        scheduler's ``max_batch``). ``events``: one queue for every handle of this submission, receiving
        (index, kind, value) tuples.
        """
        with self._cv:
            self._submissions += 1
            submission = self._submissions
        cap = max(1, int(max_batch)) if max_batch else self.max_batch
        handles, items = [], []
        for i, request in enumerate(requests):
            handle = Handle(request, events, i)
            handles.append(handle)
            try:
                items.append(self._check(request, handle, submission, cap))
            except Exception as e:  # this request only
                handle._fail(e)
        if items:
            with self._cv:
                self._pending.extend(items)
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._loop, name="workbench-generation", daemon=True)
                    self._thread.start()
                self._cv.notify_all()
        return handles

    def _check(self, request: Request, handle: Handle, submission: int, cap: int) -> _Item:
        vm = self.vm
        settings = request.settings if request.settings is not None else GenSettings()
        if not isinstance(settings, GenSettings):
            raise TypeError(f"settings must be GenSettings, not {type(settings).__name__}")
        request.settings = settings
        kind = batch_kind(vm, request.variant)  # unknown variant -> its own error
        text = request.text
        if text is None:
            if not isinstance(request.prompt, str):
                raise WorkbenchError("compare.bad_prompt", kind=type(request.prompt).__name__)
            text = vm.render(request.prompt, settings.use_chat_template)
        elif not isinstance(text, str):
            raise WorkbenchError("compare.bad_prompt", kind=type(text).__name__)
        ids = vm.encode_ids(text, settings.use_chat_template)
        if not ids:
            raise WorkbenchError("compare.no_prompt")
        limit = getattr(vm.base_models()[0].config, "max_position_embeddings", None)
        if limit and len(ids) + settings.max_new_tokens > limit:
            raise WorkbenchError("compare.prompt_too_long", tokens=len(ids), new=settings.max_new_tokens, limit=limit)
        if settings.do_sample:  # sampled rows stay within their submission: the same seed gives the same text
            decoding = (True, settings.temperature, settings.top_p, settings.repetition_penalty, settings.seed,
                        submission)
        else:
            decoding = (False, settings.repetition_penalty)
        if needs_equal_lengths(vm, request.variant):
            kind = kind + (len(ids),)
        return _Item(handle, ids, (kind, decoding), submission, cap, time.monotonic())

    # ------------------------------------------------------------------ the worker

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._pending:
                    if not self._cv.wait(IDLE_S) and not self._pending:
                        if self._thread is threading.current_thread():
                            self._thread = None
                        return
                if self.batching:  # a short window for other users' requests to join
                    deadline = self._pending[0].arrival + self.window_s
                    while len(self._pending) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                        self._cv.wait(left)
                batch = self._take()
                self._running += 1  # under the lock: wait_idle never sees an empty queue and nothing running here
            self._run(batch)

    def _take(self) -> list[_Item]:
        """The oldest request and the compatible ones, taken from each submission in turn (call with the lock)."""
        head = self._pending[0]
        limit = head.cap
        if head.handle.cancelled:
            batch = [head]
        elif not self.batching:  # only the rows of one submission (an evaluation's prompts) share a batch
            batch = [it for it in self._pending if it.submission == head.submission and it.key == head.key][:limit]
        else:
            by_submission: dict[int, list[_Item]] = {}
            for it in self._pending:
                if it.key == head.key and not it.handle.cancelled:
                    by_submission.setdefault(it.submission, []).append(it)
            lists, batch = list(by_submission.values()), []
            while len(batch) < limit and any(lists):
                for lst in lists:
                    if lst and len(batch) < limit and lst[0].cap > len(batch):
                        batch.append(lst.pop(0))
                        limit = min(limit, batch[-1].cap)
                    else:
                        lst.clear()  # full, or this submission wants smaller batches: it waits for the next one
        taken = {id(it) for it in batch}
        self._pending = [it for it in self._pending if id(it) not in taken]
        return batch

    def _run(self, batch: list[_Item]) -> None:
        try:
            self._run_batch(batch)
        finally:
            with self._cv:
                self._running -= 1
                self._cv.notify_all()

    def _run_batch(self, batch: list[_Item]) -> None:
        live = [it for it in batch if not it.handle.cancelled]
        for it in batch:
            if it.handle.cancelled:
                it.handle._fail(WorkbenchError("compare.cancelled"))
        if not live:
            return
        try:
            self._generate(live)
        except Exception as e:
            if len(live) == 1:
                live[0].handle._fail(e)
                return
            for it in live:  # which request broke it? each alone
                if not it.handle.done:
                    try:
                        self._generate([it])
                    except Exception as single:
                        it.handle._fail(single)

    def _row(self, it: _Item) -> Row:
        h = it.handle
        return Row(it.ids, h.request.variant, h.request.settings.max_new_tokens, on_text=h._text,
                   on_done=lambda r, h=h: h._finish(_result(h, r)), cancelled=lambda h=h: h.cancelled,
                   score_ids=h.request.score_ids)

    def _generate(self, items: list[_Item]) -> None:
        settings = items[0].handle.request.settings
        self.batch_sizes.append(len(items))
        if self.continuous and decoding.supported(self.vm, items[0].handle.request.variant, settings):
            self._decode(items)
            return
        with _COMPUTE:
            run_batch(self.vm, [self._row(it) for it in items], settings)

    def _decode(self, items: list[_Item]) -> None:
        """Continuous batching (``decoding.RunningBatch``): compatible requests that arrive while these decode join
        between steps, up to the batch cap, unless a request of another kind is waiting (it then runs as soon as
        this batch has drained). A failure fails the batch's unfinished requests over to one at a time."""
        head = items[0]
        batch = decoding.RunningBatch(self.vm, head.handle.request.variant, head.handle.request.settings)
        held, cap = list(items), min(it.cap for it in items)
        try:
            with _COMPUTE:
                batch.admit([self._row(it) for it in items])
            while batch.live:
                with _COMPUTE:
                    batch.step()
                joiners = self._joiners(head, cap, batch.live)
                if joiners:
                    held += joiners
                    cap = min([cap] + [it.cap for it in joiners])
                    self.joined += len(joiners)
                    with _COMPUTE:
                        batch.admit([self._row(it) for it in joiners])
        except Exception as e:
            undone = [it for it in held if not it.handle.done]
            if len(held) == 1:
                held[0].handle._fail(e)
                return
            for it in undone:  # which request broke it? each alone
                try:
                    self._generate([it])
                except Exception as single:
                    it.handle._fail(single)

    def _joiners(self, head: _Item, cap: int, live: int) -> list[_Item]:
        """Waiting requests that may join the running batch of ``head`` now (taken off the queue)."""
        with self._cv:
            if not self._pending or not live or live >= cap:  # a drained batch ends: the queue starts the next
                return []
            if any(it.key != head.key for it in self._pending):  # another kind waits: let this batch drain
                return []
            room, out = cap - live, []
            for it in self._pending:
                if len(out) >= room:
                    break
                if it.handle.cancelled or it.cap <= live + len(out):
                    continue
                if not self.batching and it.submission != head.submission:
                    continue
                out.append(it)
            taken = {id(it) for it in out}
            self._pending = [it for it in self._pending if id(it) not in taken]
            return out


def _result(handle: Handle, row: RowResult) -> GenResult:
    return GenResult(handle.request.variant, row.text, len(row.ids), row.nll, row.nll_tokens)


_LIVE: "weakref.WeakSet[Scheduler]" = weakref.WeakSet()


@atexit.register
def _finish_batches_before_exit() -> None:
    """A request's result arrives as soon as its row ends, while the rest of its batch may still be generating in
    the worker thread. A process that exits then (a CLI command that printed its answers) would tear torch down
    under that thread and abort ("terminate called without an active exception", exit -6): let the batches end."""
    for sched in list(_LIVE):
        sched.wait_idle(timeout=60)


# --------------------------------------------------------------------------- one scheduler per VariantModel

_LOCK = threading.Lock()


def scheduler_for(vm: VariantModel) -> Scheduler:
    """The scheduler of ``vm`` (made on first use; it lives as long as the VariantModel)."""
    with _LOCK:
        sched = vm.__dict__.get("_scheduler")
        if sched is None or sched.batching != batching_enabled() or sched.continuous != continuous_enabled():
            sched = vm.__dict__["_scheduler"] = Scheduler(vm)
        return sched


def generate_many(vm: VariantModel, requests: list[Request], max_batch: int | None = None) -> list[GenResult]:
    """Results of ``requests`` in order (batched by the scheduler); raises the first request's error."""
    handles = scheduler_for(vm).submit(requests, max_batch=max_batch)
    return [h.result() for h in handles]

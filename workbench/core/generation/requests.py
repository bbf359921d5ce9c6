"""What the scheduler is given and hands back: a ``Request`` (prompt or rendered text, variant, settings, owner) and
its ``Handle`` (iterate it for the growing answer, or wait for ``result()``; each handle streams through its own
queue, or through one queue shared by a submission, as ``(index, kind, value)`` events).
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Iterator

from workbench.core.generation.answers import GenResult, GenSettings
from workbench.core.generation.batching import BASE


@dataclass
class Request:
    """One generation request: ``prompt`` (a user message, wrapped per ``settings.use_chat_template``) or ``text``
    (already rendered), for one variant."""
    variant: str = BASE
    settings: GenSettings | None = None
    prompt: str | None = None
    text: str | None = None
    owner: str | None = None
    score_ids: tuple[int, ...] | None = None
    """A reference answer's tokens, scored in the same prefill where the batch decodes continuously
    (``batching.Row.score_ids``; the result's ``nll``): how evaluation gets perplexity without a second pass."""


class Handle:
    """A submitted request: iterate it for the growing answer, or wait for ``result()``."""

    def __init__(self, request: Request, events: "queue.Queue | None" = None, tag: int = 0):
        self.request = request
        self._events = events or queue.Queue()
        self._tag = tag
        self._cancel = threading.Event()
        self._done = threading.Event()
        self.value: GenResult | None = None
        self.error: BaseException | None = None

    def _text(self, text: str) -> None:
        self._events.put((self._tag, "text", text))

    def _finish(self, result: GenResult) -> None:
        if not self._done.is_set():
            self.value = result
            self._done.set()
            self._events.put((self._tag, "done", result))

    def _fail(self, error: BaseException) -> None:
        if not self._done.is_set():
            self.error = error
            self._done.set()
            self._events.put((self._tag, "error", error))

    def cancel(self) -> None:
        """Stop generating for this request (its consumer has gone)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float | None = None) -> GenResult:
        if not self._done.wait(timeout):
            raise TimeoutError("generation did not finish in time")
        if self.error is not None:
            raise self.error
        return self.value

    def __iter__(self) -> Iterator[str]:
        """The growing answer; raises this request's error; closing the iterator cancels the request."""
        try:
            while True:
                _tag, kind, value = self._events.get()
                if kind == "text":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            self.cancel()

"""The Compare columns: one prompt to several variants at once (default: the base and every adapter), as ONE
submission to the variant model's scheduler, so that the columns share a batch where PEFT allows (one after
another with batching off). ``generate_columns`` returns the answers, ``stream_columns`` yields them as they grow.
"""
from __future__ import annotations

import queue
from typing import Iterator

from workbench.core.generation.answers import GenResult, GenSettings
from workbench.core.generation.requests import Request
from workbench.core.generation.scheduler import batching_enabled, generate_many, scheduler_for
from workbench.core.generation.variants import VariantModel


def _columns(vm: VariantModel, prompt: str, variants: list[str], settings: GenSettings | None,
             owner: str | None) -> list[Request]:
    settings = settings or GenSettings()
    return [Request(v, settings, prompt=prompt, owner=owner) for v in variants]


def generate_columns(vm: VariantModel, prompt: str, variants: list[str] | None = None,
                     settings: GenSettings | None = None, owner: str | None = None) -> list[GenResult]:
    """One answer per variant (default: base and every adapter) to the same prompt, in ONE batch where PEFT allows
    (one after another with batching off)."""
    variants = list(variants or vm.variants)
    cap = None if batching_enabled() else 1
    return generate_many(vm, _columns(vm, prompt, variants, settings, owner), max_batch=cap)


def stream_columns(vm: VariantModel, prompt: str, variants: list[str] | None = None,
                   settings: GenSettings | None = None, owner: str | None = None) -> Iterator[list[str]]:
    """Yield [text of each variant] whenever a column grows; every column streams, all from one batch.

    Closing the iterator cancels the requests; a failing column raises its error after the others are stopped.
    """
    variants = list(variants or vm.variants)
    events: queue.Queue = queue.Queue()
    cap = None if batching_enabled() else 1
    handles = scheduler_for(vm).submit(_columns(vm, prompt, variants, settings, owner), max_batch=cap, events=events)
    texts = [""] * len(handles)
    left = len(handles)
    try:
        while left:
            i, kind, value = events.get()
            if kind == "error":
                raise value
            if kind == "done":
                left -= 1
                value = value.text
            if value != texts[i]:
                texts[i] = value
                yield list(texts)
    finally:
        for h in handles:
            h.cancel()

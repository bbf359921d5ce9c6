"""The values a method's size knob (its record's ``budget_knob``: ``r``, ``n_frequency``, ``num_layers`` ...) is
swept over when nobody names them, and the check of a list of sizes before anything is counted.

    default_sizes(name)          # a rank-sized method: (2, 4, 8, 16)
    default_sizes(name)          # a block size defaulting to 4: its default times 1/2, 1, 2, 4 -> (2, 4, 8, 16)
    default_sizes(name)          # () - no size knob
    check_sizes(spec, [1000, 2000])   # SpecError on "sizes" for a bad value

Plain Python (no torch): the Rank tab's "any method against its own size knob" section and the CLI can both use it.
"""
from __future__ import annotations

from workbench.errors import SpecError
from workbench.messages import Message
from workbench.spec import methods
from workbench.spec.settings import AdapterSpec

DEFAULT_SIZES: dict[str, tuple[int, ...]] = {
    "r": (2, 4, 8, 16),
    "num_virtual_tokens": (10, 20, 40, 80),
    "n_frequency": (500, 1000, 2000, 4000),
    "num_layers": (1, 2, 4, 8),
}
"""Size knob -> the values swept by default. A knob not listed: its default times SCALES, within its range."""

SCALES = (0.5, 1, 2, 4)
"""Multiples of a knob's default swept when DEFAULT_SIZES does not list it."""

MAX_SIZES = 16
"""Most sizes one sweep counts: methods PEFT counts on real weights (BOFT, SHiRA, UniLoRA) take about a second a
value on the embedded model."""


def default_sizes(method: str) -> tuple[int, ...]:
    """The values of ``method``'s size knob to sweep by default (sorted, distinct); () when it has none."""
    record = methods.get(method)
    knob = record.budget_knob
    if knob is None:
        return ()
    if knob in DEFAULT_SIZES:
        return DEFAULT_SIZES[knob]
    option = record.option(knob)
    default = AdapterSpec(method=method).knob(knob)
    lo = option.lo if option is not None and option.lo is not None else 1
    hi = option.hi if option is not None and option.hi is not None else None
    values = set()
    for s in SCALES:
        v = max(int(lo), int(round(default * s)))
        values.add(v if hi is None else min(int(hi), v))
    return tuple(sorted(values))


def check_sizes(spec: AdapterSpec, sizes: list[int]) -> list[int]:
    """``sizes`` as given when each is a valid value of ``spec``'s size knob (an integer in its range, accepted by
    the method's own checks), else a SpecError on ``sizes`` naming the knob, the value and why. A method without a
    size knob takes no sizes: [] (its caller shows its one count)."""
    knob = methods.get(spec.method).budget_knob
    if knob is None:
        return []
    if not sizes:
        raise SpecError("sizes", "settings.sizes_empty", knob=knob or "-")
    if len(sizes) > MAX_SIZES:
        raise SpecError("sizes", "settings.too_many_sizes", most=MAX_SIZES, got=len(sizes))
    for v in sizes:
        if not isinstance(v, int) or isinstance(v, bool):
            raise SpecError("sizes", "settings.bad_size", method=spec.method, knob=knob, value=v,
                            detail=Message("settings.integer", {"value": v}))
        try:
            spec.with_knob(knob, v)
        except SpecError as e:
            raise SpecError("sizes", "settings.bad_size", method=spec.method, knob=knob, value=v,
                            detail=e.message) from None
    return list(sizes)


__all__ = ["DEFAULT_SIZES", "SCALES", "MAX_SIZES", "default_sizes", "check_sizes"]

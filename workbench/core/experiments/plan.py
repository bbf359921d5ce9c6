"""An experiment expanded into runs before anything trains: one RunSpec per variant, sized to the budget.

``expand(spec)`` crosses every variant with every grid point, applies the dotted overrides to the base config
(``adapter.target_modules`` through the one target grammar, ``targets.parse``), sets the experiment's defaults
(max_steps, held-out loss every ``eval_steps``) and, with a ``budget``, each variant's size knob
(``methods.get(method).budget_knob``: LoRA / DoRA / QLoRA rank, prompt / prefix / P-tuning virtual tokens; for
P-tuning also the encoder hidden size, whichever lands closer) to the value whose exact trainable count
(``counting.count`` on the meta model) is closest to the budget. Counts grow with the knob, so a binary search finds
it. Variants without a knob (IA3) run as they are and say so. Pure: meta models only, nothing trains.
"""
from __future__ import annotations

import copy
import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

from workbench.messages import Message
from workbench.errors import SpecError
from workbench.spec.settings import AdapterSpec, RunSpec
from workbench.core.experiments.definition import DEFAULT_HELDOUT_LIMIT, ExperimentSpec, _check_key, spec_error

KNOB_RANGE = {"r": (1, 4096), "num_virtual_tokens": (1, 1024), "encoder_hidden_size": (1, 16384)}
"""Values a size knob may take (AdapterSpec's own limits; the encoder width is not capped there)."""
SHORT_KEYS = {"target_modules": "targets", "num_virtual_tokens": "tokens"}
"""How a varied field is written in an automatic label (``r=8``, ``targets=q_proj,v_proj``)."""


# --------------------------------------------------------------------------- expansion

@dataclass
class Variant:
    """One run of an experiment: its label, the RunSpec it trains and how it was sized."""
    label: str
    spec: RunSpec
    overrides: dict[str, Any]
    """The dotted settings this variant changes (grid values and explicit overrides, before sizing)."""
    trainable: int
    total: int
    percent: float
    sized: bool = False
    """True when the budget set a size knob."""
    knob: str | None = None
    """The AdapterSpec field the budget set (``r``, ``num_virtual_tokens``, ``encoder_hidden_size``)."""
    note: Message | None = None
    """What sizing did (or why it could not), in any language."""


@dataclass
class PlanRow:
    """``experiment plan --json``: one row per run it would start."""
    label: str
    method: str
    r: int | None
    num_virtual_tokens: int | None
    target_modules: list[str] | str | None
    trainable: int
    total: int
    percent: float
    sized: bool
    note: str


def _short(key: str, value: Any) -> str:
    name = key.rsplit(".", 1)[-1]
    if name == "target_modules":
        from workbench.spec import targets
        from workbench.errors import WorkbenchError
        try:
            value = targets.parse(value)
        except WorkbenchError:  # reported with its field when the run is built
            pass
        value = "default" if value is None else value
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return f"{SHORT_KEYS.get(name, name)}={value}"


def _apply(base: dict[str, Any], overrides: dict[str, Any], where: str, label: str) -> RunSpec:
    d = copy.deepcopy(base)
    for key, value in overrides.items():
        section, name = _check_key(key, where)
        if name == "target_modules":
            value = _targets(value, f"{where}.{key}")
        d.setdefault(section, {})
        d[section] = dict(d[section] or {})
        d[section][name] = value
    try:
        return RunSpec.from_dict(d)
    except SpecError as e:  # the run setting's own message, in any language, after the place it came from
        raise spec_error(where, "experiments.in_run", label=label, detail=_detail(e)) from None


def _detail(e: Exception) -> Message | str:
    message = getattr(e, "message", None)
    if isinstance(e, SpecError) and isinstance(message, Message):
        return Message("common.prefixed", {"prefix": e.field, "detail": message})
    return message if isinstance(message, Message) else str(e)


def _targets(value: Any, where: str):
    from workbench.spec import targets
    from workbench.errors import WorkbenchError
    try:
        return targets.parse(value)
    except WorkbenchError as e:
        raise spec_error(where, "experiments.in_run", label=where, detail=_detail(e)) from None


def points(spec: ExperimentSpec) -> list[tuple[str, dict[str, Any], str]]:
    """(label, dotted overrides, where) for every run: each variant crossed with each grid point."""
    keys = list(spec.vary)
    grid = [dict(zip(keys, combo)) for combo in itertools.product(*(spec.vary[k] for k in keys))] if keys else [{}]
    variants = spec.variants or [{}]
    out = []
    for i, v in enumerate(variants):
        extra = {k: val for k, val in v.items() if k != "label"}
        for g in grid:
            auto = " ".join(_short(k, val) for k, val in g.items())
            own = str(v["label"]) if v.get("label") is not None else " ".join(_short(k, val) for k, val in extra.items())
            label = " ".join(x for x in (own, auto) if x) or f"run {len(out) + 1}"
            where = f"variants[{i}]" if spec.variants else "vary"
            out.append((label, {**extra, **g}, where))
    labels = [p[0] for p in out]
    for i, (label, _, where) in enumerate(out):  # grid labels can collide only if two values print the same
        if labels.index(label) != i:
            raise spec_error(where, "experiments.duplicate_label", label=label)
    return out


def _defaults(spec: ExperimentSpec, run: RunSpec, label: str, max_steps: int | None) -> RunSpec:
    """The experiment's steps, evaluation interval and held-out loss set (``data.heldout_limit``); no separate final
    evaluation (``eval_at_end`` off), since the experiment scores every run when it ends (its held-out loss and task
    metric). Its runs share one tracker project named after it (``train.tracker_project``, unless the file sets one)."""
    t = run.train
    steps = max_steps or spec.max_steps or t.max_steps
    eval_steps = spec.eval_steps or t.eval_steps or max(1, steps // 3)
    train = dataclasses.replace(t, max_steps=steps, eval_steps=eval_steps, eval_at_end=False,
                                save_steps=min(t.save_steps, steps), tracker_project=t.tracker_project or spec.name)
    heldout = spec.heldout_limit or run.data.heldout_limit or DEFAULT_HELDOUT_LIMIT
    data = dataclasses.replace(run.data, heldout_limit=heldout)
    return dataclasses.replace(run, train=train, data=data, name=f"{spec.name} / {label}")


def size_knobs(method: str) -> tuple[str, ...]:
    """The AdapterSpec fields a budget may set for ``method`` (empty for IA3): its record's ``budget_knob``, then
    its ``more_budget_knobs`` (the P-tuning encoder dwarfs its virtual tokens)."""
    from workbench.spec import methods
    return methods.get(method).size_knobs


def knob_range(method: str, knob: str) -> tuple[int, int]:
    """Values a size knob may take: AdapterSpec's own limits for the shared ones, the option's range for a method's
    own (capped at 2^20: a budget search needs an upper end)."""
    from workbench.spec import methods
    option = methods.get(method).option(knob)
    if option is None:
        return KNOB_RANGE[knob]
    lo = int(option.lo) if option.lo is not None else 1
    return max(lo, 1), int(min(option.hi if option.hi is not None else 1 << 20, 1 << 20))


SMOOTH_VALUES = sorted({m * 2 ** k for m in (1, 3) for k in range(21)})
"""The values a constrained size knob is tried at (a block size must divide the layer widths: OFT, BOFT)."""


def size_to_budget(model, adapter: AdapterSpec, knob: str, budget: int) -> tuple[int, int]:
    """(value, trainable): the ``knob`` value whose exact trainable count is closest to ``budget`` (ties: smaller).
    A knob that PEFT refuses at some values (a block size that must divide the layer widths) is tried at 1, 2, 3, 4,
    6, 8, 12 ... instead, keeping the values PEFT builds."""
    try:
        return _search(model, adapter, knob, budget)
    except SpecError:
        lo, hi = knob_range(adapter.method, knob)
        from workbench.core.model.counting import count
        found = []
        for v in (v for v in SMOOTH_VALUES if lo <= v <= hi):
            try:
                found.append((v, count(model, adapter.with_knob(knob, v)).trainable))
            except SpecError:
                continue
            if found[-1][1] > budget:
                break
        if not found:
            raise
        return min(found, key=lambda f: (abs(f[1] - budget), f[0]))


def _search(model, adapter: AdapterSpec, knob: str, budget: int) -> tuple[int, int]:
    """size_to_budget for a knob PEFT accepts at every value of its range.

    A binary search (counts grow with every size knob); for a count affine in the knob (most methods: LoRA's rank,
    FourierFT's coefficients) the line through two counts names the value first, and a third count confirms it, so
    a method PEFT counts itself costs about four builds instead of twenty."""
    from workbench.core.model.counting import count
    lo, hi = knob_range(adapter.method, knob)
    cache: dict[int, int] = {}

    def trainable(v: int) -> int:
        if v not in cache:
            cache[v] = count(model, adapter.with_knob(knob, v)).trainable
        return cache[v]

    a, b = trainable(lo), trainable(min(lo + 1, hi))
    if b > a and a < budget:  # affine guess, then its neighbours to confirm
        guess = max(lo, min(hi, lo + (budget - a) // (b - a)))
        if guess + 1 <= hi and trainable(guess) <= budget < trainable(guess + 1):
            lo, hi = guess, guess + 1

    if trainable(lo) >= budget:
        return lo, trainable(lo)
    if trainable(hi) <= budget:
        return hi, trainable(hi)
    while hi - lo > 1:  # invariant: trainable(lo) < budget < trainable(hi)
        mid = (lo + hi) // 2
        if trainable(mid) <= budget:
            lo = mid
        else:
            hi = mid
    best = lo if budget - trainable(lo) <= trainable(hi) - budget else hi
    return best, trainable(best)


def _size(model, run: RunSpec, label: str, budget: int) -> tuple[RunSpec, str | None, Message]:
    a = run.adapter
    knobs = size_knobs(a.method)
    if not knobs:
        from workbench.core.model.counting import count
        c = count(model, a)
        return run, None, Message("experiments.note_unsized", {"method": a.method, "trainable": c.trainable})
    best = None
    for knob in knobs:
        lo = knob_range(a.method, knob)[0]
        value, got = size_to_budget(model, a, knob, budget)
        if value == lo and got > budget:
            if best is None:
                best = ("small", knob, lo, got)
            continue
        if best is None or best[0] == "small" or abs(got - budget) < abs(best[3] - budget):
            best = ("ok", knob, value, got)
    kind, knob, value, got = best
    if kind == "small":
        raise spec_error("budget", "experiments.budget_too_small", budget=budget, label=label, smallest=got,
                         knob=knob, value=value)
    sized = dataclasses.replace(run, adapter=a.with_knob(knob, value))
    return sized, knob, Message("experiments.note_sized", {"knob": knob, "value": value, "budget": budget})


def expand(spec: ExperimentSpec, max_steps: int | None = None) -> list[Variant]:
    """Every run of ``spec`` as a RunSpec, sized to the budget; pure (meta models only, nothing trains). An experiment
    with more runs, or more training steps in all, than the server allows is refused here, before any model is looked
    at (``ExperimentSpec.check_run_cap``, ``check_step_cap``)."""
    spec.check_run_cap()
    planned = [(label, overrides, _defaults(spec, _apply(spec.base, overrides, where, label), label, max_steps))
               for label, overrides, where in points(spec)]
    spec.check_step_cap(sum(run.train.max_steps for _label, _overrides, run in planned))
    from workbench.core.model.loading import MODEL_CACHE
    from workbench.core.model.counting import count
    out: list[Variant] = []
    for label, overrides, run in planned:
        model = MODEL_CACHE.meta(run.model.name)
        knob, note = None, None
        if spec.budget:
            run, knob, note = _size(model, run, label, spec.budget)
        c = count(model, run.adapter)
        out.append(Variant(label=label, spec=run, overrides=overrides, trainable=c.trainable, total=c.total,
                           percent=c.percent, sized=knob is not None, knob=knob, note=note))
    return out


def plan_rows(variants: list[Variant], lang: str = "en") -> list[PlanRow]:
    """The rows ``experiment plan`` prints (and the Experiments tab shows before launching)."""
    from workbench.spec import methods
    from workbench.core.model.loading import MODEL_CACHE
    from workbench.core.model.modules import default_targets
    rows = []
    for v in variants:
        a = v.spec.adapter
        m = methods.get(a.method)
        targets = a.target_modules
        if targets is None and m.wraps_layers:
            targets = default_targets(MODEL_CACHE.meta(v.spec.model.name), a.method)
        rows.append(PlanRow(label=v.label, method=a.method, r=a.r if m.has_rank else None,
                            num_virtual_tokens=a.num_virtual_tokens if m.is_prompt_learning else None,
                            target_modules=targets if m.wraps_layers else None, trainable=v.trainable,
                            total=v.total, percent=round(v.percent, 4), sized=v.sized,
                            note=v.note.render(lang) if v.note else ""))
    return rows

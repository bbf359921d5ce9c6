"""What the methods PEFT counts itself share: a record builder, the PEFT config kwargs from the shared fields and the
method's options, and the exact count taken from PEFT (``get_nb_trainable_parameters``) on the meta device.

The families LoRA, prompt, IA3 and LN have analytic plans (a rank sweep costs one walk of the model). LoRA's kin
(LoHa, LoKr, VeRA, OFT, FourierFT ...) each have their own shapes, shared banks and rounding rules; writing those
formulas again would be a second copy of PEFT to keep in step. Their count is PEFT's own, built on the meta device
(no weights: 0.05-0.4 s on the embedded model) and cached per (architecture, settings). A few PEFT methods read
weight values while they build (BOFT calls ``.item()``, UniLoRA ``bincount``, SHiRA ``nonzero``); they are built on
uninitialised CPU weights instead, for models up to ``REAL_COUNT_MAX`` parameters.
Light at import: torch and peft are imported when a function runs.
"""
from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from workbench.spec import methods

if TYPE_CHECKING:
    import torch.nn as nn

    from workbench.core.model.counting import CountPlan
    from workbench.spec.settings import AdapterSpec

REAL_COUNT_MAX = 1_500_000_000
"""Largest model (parameters) a method that cannot be built on the meta device is counted on (uninitialised CPU
weights: 4 bytes a parameter while it is counted)."""
_CACHE: OrderedDict[str, tuple[int, int, int]] = OrderedDict()
_CACHE_SIZE = 512


def config_kwargs(shared: dict[str, str], wraps: bool):
    """The PEFT config kwargs builder of a method: ``shared`` maps AdapterSpec fields to the PEFT names they set
    (``{"r": "r", "dropout": "vera_dropout"}``); the method's options follow under their PEFT names."""
    def build(spec: AdapterSpec, config, task_type: str) -> dict[str, Any]:
        kw: dict[str, Any] = dict(task_type=task_type)
        if wraps:
            kw["target_modules"] = spec.target_modules
        for field, peft_name in shared.items():
            kw[peft_name] = getattr(spec, field)
        kw.update(spec.peft_options())
        return kw
    return build


def _key(model: nn.Module, spec: AdapterSpec) -> str:
    settings = dataclasses.asdict(spec)
    return json.dumps([type(model).__name__, model.config.to_json_string(use_diff=False), settings], sort_keys=True,
                      default=str)


def _build(model: nn.Module, spec: AdapterSpec, on_meta: bool) -> tuple[int, int, int]:
    """(trainable, total, wrapped layers) of ``spec`` from PEFT, on a fresh model of ``model``'s architecture."""
    import contextlib
    import warnings

    import peft
    import torch
    from peft.tuners.tuners_utils import BaseTunerLayer

    from workbench.core.model.loading import build_meta_model
    from workbench.core.model.peft_config import build_peft_config
    fresh = build_meta_model(model.config)
    if not on_meta:
        total = sum(p.numel() for p in fresh.parameters())
        if total > REAL_COUNT_MAX:
            from workbench.core.model.errors import ModelError
            raise ModelError("methods.count_needs_weights", method=spec.method, total=total, most=REAL_COUNT_MAX)
        fresh = fresh.to_empty(device="cpu")
        fresh.tie_weights()  # to_empty gives tied weights storage of their own: tie them again (counted once)
        with torch.no_grad():
            for p in fresh.parameters():
                p.normal_(0, 0.02)  # values some builders read (BOFT's checks, SHiRA's mask, UniLoRA's indices)
    with warnings.catch_warnings(), (torch.device("meta") if on_meta else contextlib.nullcontext()):
        warnings.simplefilter("ignore")
        pm = peft.get_peft_model(fresh, build_peft_config(spec, fresh.config))
    trainable, total = pm.get_nb_trainable_parameters()
    layers = sum(1 for m in pm.modules() if isinstance(m, BaseTunerLayer))
    return trainable, total, layers


def peft_count(model: nn.Module, spec: AdapterSpec, on_meta: bool = True) -> tuple[int, int, int]:
    """(trainable, total, wrapped layers) exactly as PEFT counts them; cached per architecture and settings. PEFT's
    refusals (a target it cannot wrap, a size that does not fit the layers) become a SpecError naming the method."""
    from workbench.errors import SpecError
    spec = dataclasses.replace(spec, init_lora_weights=True, prompt_tuning_init="random", prompt_tuning_init_text=None)
    key = _key(model, spec)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    try:
        found = _build(model, spec, on_meta)
    except (ValueError, TypeError, RuntimeError, KeyError, AssertionError) as e:
        raise SpecError("adapter", "methods.peft_refused", method=spec.method,
                        detail=f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}") from None
    _CACHE[key] = found
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return found


def plan(on_meta: bool = True):
    """A counting plan hook that asks PEFT (see the module's docstring); targets are checked first, so a target
    that matches nothing gets the workbench's own error, with the closest names."""
    def counted(model: nn.Module, spec: AdapterSpec, named: list, base_total: int) -> CountPlan:
        from workbench.core.model.counting import CountPlan
        from workbench.core.model.modules import match_targets
        if methods.get(spec.method).wraps_layers:
            match_targets(model, spec.target_modules, spec.method, named=named)
        trainable, total, layers = peft_count(model, spec, on_meta)
        return CountPlan(spec.method, False, base_total, 0, trainable, total - base_total, layers or None)
    return counted


def card_rows(knobs: tuple[str, ...]):
    """The model card's rows of a method: each of its knobs and the value the run used."""
    def rows(a: AdapterSpec) -> list[tuple[str, Any]]:
        out = []
        for k in knobs:
            v = a.knob(k)
            out.append((k, "PEFT default" if (k == "target_modules" and v is None) else v))
        return out
    return rows


def register(name: str, family: str, peft_config: str, peft_type: str, *, shared: dict[str, str] | None = None,
             options: tuple = (), budget_knob: str | None = None, on_meta: bool = True, wraps: bool = True,
             paper: str = "", **more: Any) -> methods.Method:
    """Register a method PEFT counts itself: the shared fields it reads (``shared``), its options and size knob.
    ``about_id`` is ``methods.about.<name>``; methods that wrap layers take PEFT's default targets table for their
    type (``TRANSFORMERS_MODELS_TO_<TYPE>_TARGET_MODULES_MAPPING``) and the usual Linear-layer rule."""
    shared = dict(shared or {})
    knobs = (("target_modules",) if wraps else ()) + tuple(shared)
    extra: dict[str, Any] = {}
    if wraps:
        extra = dict(target_table=f"TRANSFORMERS_MODELS_TO_{peft_type}_TARGET_MODULES_MAPPING",
                     wraps_id="targets.wraps_linear", form_groups=("lora",))  # the form's targets (and rank) box
    base = dict(config_kwargs=config_kwargs(shared, wraps), plan=plan(on_meta),
                card_rows=card_rows(knobs + tuple(o.name for o in options)), **extra)
    record = methods.Method(
        name=name, family=family, peft_config=peft_config, peft_type=peft_type, knobs=knobs, options=options,
        budget_knob=budget_knob, about_id=f"methods.about.{name}", paper=paper, **{**base, **more})
    return methods.register(record)


__all__ = ["config_kwargs", "peft_count", "plan", "card_rows", "register", "REAL_COUNT_MAX"]

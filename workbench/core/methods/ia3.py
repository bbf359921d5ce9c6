"""The IA3 family: ia3. One learned scaling vector per wrapped Linear / Conv1D layer.

Counting: ``in`` values for a feed-forward layer (scaled on its input), ``out`` for the others.
Light at import: torch, peft and the model helpers are imported when a function runs.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from workbench.errors import SpecError
from workbench.spec import methods

if TYPE_CHECKING:
    import torch.nn as nn

    from workbench.core.model.counting import CountPlan
    from workbench.spec.settings import AdapterSpec


def ia3_kwargs(spec: AdapterSpec, config, task_type: str) -> dict[str, Any]:
    kw: dict[str, Any] = dict(task_type=task_type)
    if spec.target_modules is not None:
        kw["target_modules"] = spec.target_modules
        kw["feedforward_modules"] = spec.feedforward_modules if spec.feedforward_modules is not None else []
    return kw


def ia3_plan(model: nn.Module, spec: AdapterSpec, named: list, base_total: int) -> CountPlan:
    from workbench.core.model.counting import CountPlan
    from workbench.core.model.modules import default_feedforward, default_targets, features, match_targets
    if spec.target_modules is None:  # PEFT's defaults come as a pair
        targets, ff = default_targets(model, spec.method), default_feedforward(model)
    else:
        targets, ff = spec.target_modules, spec.feedforward_modules if spec.feedforward_modules is not None else []
        if isinstance(targets, list) and isinstance(ff, list) and not set(ff) <= set(targets):
            raise SpecError("adapter.feedforward_modules", "settings.ff_subset", value=ff)
    modules = dict(named)
    names = match_targets(model, targets, spec.method, named=named)
    vectors = 0
    for name in names:
        n_in, n_out = features(modules[name])
        if isinstance(ff, str):
            is_ff = re.fullmatch(ff, name) is not None
        else:
            is_ff = any(name.endswith(t) for t in ff)  # PEFT: a plain endswith here (no dot)
        vectors += n_in if is_ff else n_out
    return CountPlan(spec.method, False, base_total, 0, vectors, vectors, len(names))


def activation_bytes(model: nn.Module, spec: AdapterSpec, wrapped: list, act: int) -> int:
    """Bytes per token IA3 keeps over the wrapped layers: the scaled input of a feed-forward layer, else its output."""
    from workbench.core.model.modules import default_feedforward, features
    ff = spec.feedforward_modules if spec.target_modules is not None else default_feedforward(model)
    total = 0
    for name, module in wrapped:
        n_in, n_out = features(module)
        is_ff = bool(ff) and any(name == f or name.endswith("." + f) for f in ([ff] if isinstance(ff, str) else ff))
        total += act * (n_in if is_ff else n_out)
    return total


def card_rows(a: AdapterSpec) -> list[tuple[str, Any]]:
    return [("target_modules", a.target_modules)] if a.target_modules is not None else []


methods.register(methods.Method(
    name="ia3", family="ia3", group="additive", peft_config="IA3Config", peft_type="IA3", config_kwargs=ia3_kwargs,
    plan=ia3_plan,
    knobs=("target_modules", "feedforward_modules"), help_id="help.method.ia3", about_id="methods.about.ia3", paper="Liu et al. 2022",
    target_table="TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING", wraps_id="targets.wraps_ia3",
    card_rows=card_rows, chart_refs=(("charts.ref.ia3", ()),), activation_bytes=activation_bytes))

"""The LN family: ln_tuning, the first selective method. PEFT's LN tuning (Zhao et al. 2023, "Tuning LayerNorm in
Attention") wraps each target module, by default the normalization layers of the architecture (PEFT's
``TRANSFORMERS_MODELS_TO_LNTUNING_TARGET_MODULES_MAPPING``), and trains a copy of it that runs in its place: nothing
else of the model changes.

Counting: the parameters of every wrapped module (its copy is new and trainable; the original stays, frozen). PEFT
wraps any module a target names (a norm, an MLP block, a Linear layer with ``all-linear``), but not one inside a
module it wraps too: that is an error here, before PEFT would fail on it.
Light at import: torch and the model helpers are imported when a function runs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.spec import methods

if TYPE_CHECKING:
    import torch.nn as nn

    from workbench.core.model.counting import CountPlan
    from workbench.spec.settings import AdapterSpec

TARGET_TABLE = "TRANSFORMERS_MODELS_TO_LNTUNING_TARGET_MODULES_MAPPING"


def ln_tuning_kwargs(spec: AdapterSpec, config, task_type: str) -> dict[str, Any]:
    """LNTuningConfig: the targets (None: PEFT's default for the architecture)."""
    return dict(task_type=task_type, target_modules=spec.target_modules)


def _check_not_nested(names: list[str]) -> None:
    """PEFT cannot wrap a module inside one it wraps already (it looks the inner one up in the wrapper and fails)."""
    from workbench.spec.targets import TargetError
    for outer in names:
        inner = next((n for n in names if n.startswith(outer + ".")), None)
        if inner is not None:
            raise TargetError("methods.ln_nested", inner=inner, outer=outer)


def ln_tuning_plan(model: nn.Module, spec: AdapterSpec, named: list, base_total: int) -> CountPlan:
    from workbench.core.model.counting import CountPlan
    from workbench.core.model.modules import match_targets, numel
    names = match_targets(model, spec.target_modules, spec.method, named=named)
    _check_not_nested(names)
    modules = dict(named)
    copies = sum(numel(p) for n in names for p in modules[n].parameters())  # weights shared inside a module: once
    return CountPlan(spec.method, False, base_total, 0, copies, copies, len(names))


def card_rows(a: AdapterSpec) -> list[tuple[str, Any]]:
    return [("target_modules", a.target_modules or "PEFT default")]


methods.register(methods.Method(
    name="ln_tuning", family="ln", group="selective", peft_config="LNTuningConfig", peft_type="LN_TUNING",
    config_kwargs=ln_tuning_kwargs, plan=ln_tuning_plan, knobs=("target_modules",), help_id="help.method.ln_tuning",
    about_id="methods.about.ln_tuning", target_table=TARGET_TABLE, wraps_any=True, wraps_id="methods.wraps.ln_tuning",
    card_rows=card_rows, chart_refs=(("methods.ref.ln_tuning", ()),)))

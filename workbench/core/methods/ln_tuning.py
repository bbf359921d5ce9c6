"""The LN family: ln_tuning and last_layers, selective methods. PEFT's LN tuning (Zhao et al. 2023, "Tuning LayerNorm in
Attention") wraps each target module, by default the normalization layers of the architecture (PEFT's
``TRANSFORMERS_MODELS_TO_LNTUNING_TARGET_MODULES_MAPPING``), and trains a copy of it that runs in its place: nothing
else of the model changes.

Counting: the parameters of every wrapped module (its copy is new and trainable; the original stays, frozen). PEFT
wraps any module a target names (a norm, an MLP block, a Linear layer with ``all-linear``), but not one inside a
module it wraps too: that is an error here, before PEFT would fail on it.
last_layers trains the last N decoder blocks whole: it is LN tuning pointed at those blocks (PEFT's LN tuning copies
each named module and trains the copy), so what it saves is a plain PEFT adapter that ``PeftModel.from_pretrained``
loads, and ``merge_and_unload`` gives a plain transformers model with the trained blocks in place.
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


def _num_blocks(config) -> int:
    for name in ("num_hidden_layers", "n_layer", "num_layers"):
        if isinstance(getattr(config, name, None), int):
            return getattr(config, name)
    from workbench.errors import SpecError
    raise SpecError("adapter.options.num_layers", "methods.no_layer_count", model_type=config.model_type)


def last_blocks(config, n: int) -> str:
    """A PEFT target regex naming the last ``n`` decoder blocks (``model.layers.28``, ``transformer.h.11``)."""
    total = _num_blocks(config)
    if n > total:
        from workbench.errors import SpecError
        raise SpecError("adapter.options.num_layers", "methods.too_many_layers", n=n, total=total)
    picked = "|".join(str(i) for i in range(total - n, total))
    return rf"(.*\.)?(layers|h|blocks|block)\.({picked})"


def _with_blocks(spec: AdapterSpec, config) -> AdapterSpec:
    """A copy of ``spec`` that targets the blocks (not validated again: its own check refuses targets)."""
    import copy
    picked = copy.copy(spec)
    picked.target_modules = last_blocks(config, spec.knob("num_layers"))
    return picked


def last_layers_kwargs(spec: AdapterSpec, config, task_type: str) -> dict[str, Any]:
    return ln_tuning_kwargs(_with_blocks(spec, config), config, task_type)


def last_layers_plan(model: nn.Module, spec: AdapterSpec, named: list, base_total: int) -> CountPlan:
    return ln_tuning_plan(model, _with_blocks(spec, model.config), named, base_total)


def check_last_layers(a: AdapterSpec) -> None:
    """last_layers picks its targets itself (the last ``num_layers`` blocks): a target list would be ignored."""
    if a.target_modules is not None:
        from workbench.errors import SpecError
        raise SpecError("adapter.target_modules", "methods.last_layers_targets")


def last_layers_backward(config, a: AdapterSpec) -> int:
    """Memory: autograd keeps activations only from the first trained block up."""
    return int(a.knob("num_layers"))


def last_layers_card(a: AdapterSpec) -> list[tuple[str, Any]]:
    return [("num_layers (last decoder blocks trained)", a.knob("num_layers"))]


def card_rows(a: AdapterSpec) -> list[tuple[str, Any]]:
    return [("target_modules", a.target_modules or "PEFT default")]


methods.register(methods.Method(
    name="ln_tuning", family="ln", group="selective", peft_config="LNTuningConfig", peft_type="LN_TUNING",
    config_kwargs=ln_tuning_kwargs, plan=ln_tuning_plan, knobs=("target_modules",), help_id="help.method.ln_tuning",
    about_id="methods.about.ln_tuning", target_table=TARGET_TABLE, wraps_any=True, wraps_id="methods.wraps.ln_tuning",
    card_rows=card_rows, chart_refs=(("methods.ref.ln_tuning", ()),), paper="Zhao et al. 2023"))
methods.register(methods.Method(
    name="last_layers", family="ln", group="selective", peft_config="LNTuningConfig", peft_type="LN_TUNING",
    config_kwargs=last_layers_kwargs, plan=last_layers_plan, knobs=(), about_id="methods.about.last_layers",
    options=(methods.Option("num_layers", 2, "the last decoder blocks that train (each whole)", 1, 1024,
                            peft_name="-"),),
    budget_knob="num_layers", wraps_any=True, check=check_last_layers, backward_layers=last_layers_backward, wraps_id="methods.wraps.ln_tuning", card_rows=last_layers_card,
    paper="Lee et al. 2019 (freezing all but the last layers)"))

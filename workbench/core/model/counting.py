"""Exact trainable-parameter counts for every PEFT method, without building the PEFT model (memory estimates:
``workbench.core.model.memory_estimate``).

The counts are analytic (shapes only) yet equal ``PeftModel.get_nb_trainable_parameters()``;
``count_with_peft`` builds the real PEFT model on the ``meta`` device and is the truth tests compare to.
Each method's counting plan (its formula, a ``CountPlan``) lives with its family in ``workbench.core.methods``;
the registry record (``workbench.spec.methods``) names it. This file holds the machinery: a plan, a count, a sweep.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import warnings
from dataclasses import dataclass

import torch.nn as nn

from workbench.errors import SpecError
from workbench.spec.settings import AdapterSpec
from workbench.spec import methods
from workbench.core.model.modules import TargetError, named_modules, total_params


@dataclass
class ParamCount:
    """Trainable and total parameters of one adapter setup (equal to PEFT's own count)."""
    method: str
    rank: int | None
    """LoRA rank; None for methods without one."""
    trainable: int
    total: int
    """All parameters of the PEFT model: base (tied weights once) + adapter + modules_to_save copies."""
    percent: float
    adapter_bytes_fp32: int
    """Size of the trainable weights saved in float32 (4 bytes each)."""
    adapter_bytes_bf16: int
    """Size of the trainable weights saved in bfloat16 (2 bytes each)."""
    layers: int | None
    """Wrapped layers (LoRA, IA3), transformer layers given a prefix (prefix tuning), else None."""
    knob: str | None = None
    """The size knob a sweep set (``r``, ``n_frequency``, ``num_layers`` ...); None for a single count."""
    size: int | None = None
    """Its value in this row."""


@dataclass
class CountPlan:
    """A method's counting plan (its family file builds it): everything a count needs, worked out once per
    (model, spec), so a sweep over ranks is then free.

    trainable(r) = r * rank_sum + fixed_trainable;  total(r) = base_total + r * rank_sum + added
    """
    method: str
    has_rank: bool
    base_total: int
    rank_sum: int  # sum of (in + out) over wrapped layers
    fixed_trainable: int  # DoRA magnitudes, trained biases, modules_to_save copies, prompt encoders, IA3 vectors
    added: int  # new parameters that are not LoRA A/B (DoRA magnitudes, copies, encoders, vectors)
    layers: int | None

    def at(self, r: int | None) -> ParamCount:
        lora = r * self.rank_sum if self.has_rank else 0
        trainable = lora + self.fixed_trainable
        total = self.base_total + lora + self.added
        return ParamCount(method=self.method, rank=r if self.has_rank else None, trainable=trainable, total=total,
                          percent=100.0 * trainable / total if total else 0.0,
                          adapter_bytes_fp32=4 * trainable, adapter_bytes_bf16=2 * trainable, layers=self.layers)


def _plan(model: nn.Module, spec: AdapterSpec) -> CountPlan:
    """The counting plan of ``spec``'s method (its registry record names it)."""
    named = named_modules(model)  # the one walk over the module tree
    base_total = total_params(model, named)
    return methods.get(spec.method).counting_plan(model, spec, named, base_total)


# --------------------------------------------------------------------------- public API

def count(model: nn.Module, spec: AdapterSpec) -> ParamCount:
    """Exact trainable / total parameters of ``spec`` on ``model`` (meta or real), without building PEFT."""
    return _plan(model, spec).at(spec.r)


def sweep(model: nn.Module, spec: AdapterSpec, sizes: list[int], knob: str | None = None) -> list[ParamCount]:
    """Counts for several values of one size knob (default: the method's ``budget_knob``): LoRA ranks at the cost of
    about one count (layer shapes are summed once), any other knob one exact count per value (cached).

    A method without a size knob (IA3, LN tuning ...) returns a single row.
    """
    knob = knob or methods.get(spec.method).budget_knob
    if not sizes or not all(isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in sizes):
        raise SpecError("ranks" if knob == "r" else "sizes", "settings.int_list", range=">= 0", value=sizes)
    plan = _plan(model, spec)
    if knob is None:
        return [plan.at(None)]
    if plan.has_rank and knob == "r":
        if not all(1 <= r <= 4096 for r in sizes):
            raise SpecError("ranks", "settings.int_list", range="1..4096", value=sizes)
        return [dataclasses.replace(plan.at(r), knob=knob, size=r) for r in sizes]
    return [dataclasses.replace(count(model, spec.with_knob(knob, v)), knob=knob, size=v) for v in sizes]


def count_with_peft(model_config_or_meta_model, spec: AdapterSpec) -> tuple[int, int]:
    """Ground truth: (trainable, total) from ``get_peft_model(...).get_nb_trainable_parameters()``.

    Given a config, the model is built on ``meta``; given a model, PEFT runs on a fresh copy (a meta
    model is rebuilt from its config when that gives the same class, which is faster than deepcopy).
    On meta, PEFT runs under ``torch.device("meta")`` so its new layers skip random init.
    Init options that need data or a tokenizer (PiSSA, text init) are swapped for ones that do not:
    they never change the count.
    """
    import peft
    import torch
    from transformers import PretrainedConfig
    from workbench.core.model.loading import build_meta_model
    from workbench.core.model.peft_config import build_peft_config
    spec = dataclasses.replace(spec, init_lora_weights=True, prompt_tuning_init="random", prompt_tuning_init_text=None)
    src = model_config_or_meta_model
    if isinstance(src, PretrainedConfig):
        model = build_meta_model(src)
    else:
        model = None
        if all(p.is_meta for p in src.parameters()):
            fresh = build_meta_model(src.config)
            model = fresh if type(fresh) is type(src) else None
        model = model if model is not None else copy.deepcopy(src)
    on_meta = all(p.is_meta for p in model.parameters())
    with warnings.catch_warnings(), (torch.device("meta") if on_meta else contextlib.nullcontext()):
        warnings.simplefilter("ignore")
        # on meta, the new adapter layers are made on meta too (no random init): same count, ~8x faster
        pm = peft.get_peft_model(model, build_peft_config(spec, model.config))
    return pm.get_nb_trainable_parameters()


__all__ = ["CountPlan", "ParamCount", "count", "sweep", "count_with_peft", "TargetError"]

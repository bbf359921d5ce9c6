"""The method registry: one record per PEFT method the workbench knows (after PEFT's ``register_peft_method``).

Everything that needs to know about methods reads it: settings validation (``AdapterSpec.method``), the PEFT
config builder (``peft_config.py``), the exact counter (``params.py``), target defaults and matching
(``modules.py``), the Train form (which groups it shows, its help text), the CLI ``--method`` checks and the
experiment budget sizing (``budget_knob``). Adding a method = one ``Method`` record + ``register`` + its tests.

This module is plain Python (no torch / peft at import time) so ``settings.py`` can import it. The config
builder and counting plan of a record are callables or ``"package.module:function"`` names imported on first use.

    from workbench.core import methods
    methods.get("qlora").quantized          # True
    methods.get("prefix_tuning").budget_knob  # "num_virtual_tokens"
    methods.names()                          # ("lora", "dora", ...), in registration order
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Union

FAMILIES = ("lora", "prompt", "ia3")
"""lora: low-rank updates of wrapped layers; prompt: learned virtual tokens / prefixes; ia3: learned scaling vectors."""

Hook = Union[str, Callable[..., Any]]
"""A callable, or its dotted name ``"workbench.core.params:_lora_plan"`` (imported when first used)."""


def _resolve(hook: Hook) -> Callable[..., Any]:
    if callable(hook):
        return hook
    module, _, attr = hook.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Method:
    """One adapter method: what it is, how it becomes a PEFT config, how it is counted and shown."""
    name: str
    """The ``adapter.method`` value (``lora``, ``qlora``, ...)."""
    family: str
    """``lora`` | ``prompt`` | ``ia3`` (see FAMILIES)."""
    peft_config: str
    """PEFT config class name (``LoraConfig``, ``PromptTuningConfig``, ...)."""
    peft_type: str
    """PEFT's ``PeftType`` value, as written in ``adapter_config.json`` (``LORA``, ``PREFIX_TUNING``, ...)."""
    config_kwargs: Hook
    """``(spec, model_config, task_type) -> kwargs`` of the PEFT config class (what 'show code' prints too)."""
    plan: Hook
    """Exact counting plan: ``(model, spec, named, base_total) -> params._Plan``."""
    knobs: tuple[str, ...]
    """The AdapterSpec fields that matter for this method."""
    form_groups: tuple[str, ...] = ()
    """Train-form groups shown for it: ``lora``, ``prompt``, ``qlora``."""
    help_id: str = ""
    """Help text id (``help.method.<name>``), rendered by the UI in the page's language."""
    budget_knob: str | None = None
    """The AdapterSpec field an experiment's parameter budget sizes (``r``, ``num_virtual_tokens``) or None."""
    quantized: bool = False
    """The frozen base is loaded in 4-bit (QLoRA)."""
    is_prompt_learning: bool = False
    """PEFT prompt learning: adds virtual tokens instead of wrapping layers."""
    target_table: str | None = None
    """Name of PEFT's default-targets table in ``peft.utils.constants`` (None: the method wraps no layers)."""
    fixed_knobs: tuple[tuple[str, Any], ...] = ()
    """AdapterSpec settings the method always sets, as (field, value) pairs: dora sets ``use_dora`` True."""

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"method {self.name!r}: family must be one of {', '.join(FAMILIES)} (got {self.family!r})")
        if self.budget_knob is not None and self.budget_knob not in self.knobs:
            raise ValueError(f"method {self.name!r}: budget_knob {self.budget_knob!r} is not one of its knobs")

    @property
    def wraps_layers(self) -> bool:
        """True when the method adapts existing layers (so target_modules applies)."""
        return self.family in ("lora", "ia3")

    @property
    def has_rank(self) -> bool:
        """True for the LoRA family (a rank ``r`` sizes the update)."""
        return self.family == "lora"

    def peft_kwargs(self, spec, model_config, task_type: str) -> dict[str, Any]:
        return _resolve(self.config_kwargs)(spec, model_config, task_type)

    def counting_plan(self, model, spec, named: list, base_total: int):
        return _resolve(self.plan)(model, spec, named, base_total)


_REGISTRY: dict[str, Method] = {}


def register(method: Method, replace: bool = False) -> Method:
    """Add ``method`` to the registry (``replace=True`` to overwrite a record of the same name)."""
    if method.name in _REGISTRY and not replace:
        raise ValueError(f"method {method.name!r} is registered already")
    _REGISTRY[method.name] = method
    return method


def unregister(name: str) -> None:
    """Remove a record (tests that register a temporary method clean up with this)."""
    _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    """Every registered method name, in registration order."""
    return tuple(_REGISTRY)


def all_methods() -> tuple[Method, ...]:
    return tuple(_REGISTRY.values())


def get(name: str) -> Method:
    """The record of ``name``; an unknown name is a SpecError on ``adapter.method`` listing the valid names."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        from ..settings import SpecError
        raise SpecError("adapter.method", "settings.one_of", choices=", ".join(names()), value=name) from None


def family(name: str) -> str:
    """``lora`` | ``prompt`` | ``ia3`` for a method name."""
    return get(name).family


def in_family(fam: str) -> tuple[str, ...]:
    """Names of the registered methods of one family, in registration order."""
    return tuple(m.name for m in _REGISTRY.values() if m.family == fam)


def prompt_learning_peft_types() -> tuple[str, ...]:
    """PEFT types (``adapter_config.json`` ``peft_type``) of the registered prompt-learning methods."""
    return tuple(dict.fromkeys(m.peft_type for m in _REGISTRY.values() if m.is_prompt_learning))


# --------------------------------------------------------------------------- the shipped methods

_LORA_KNOBS = ("r", "alpha", "dropout", "target_modules", "use_rslora", "init_lora_weights", "bias", "modules_to_save")
_QUANT_KNOBS = ("bnb_4bit_quant_type", "bnb_4bit_use_double_quant", "bnb_4bit_compute_dtype")
_PC = "workbench.core.peft_config"
_P = "workbench.core.params"

for _m in (
    Method("lora", "lora", "LoraConfig", "LORA", f"{_PC}:lora_kwargs", f"{_P}:_lora_plan", _LORA_KNOBS,
           ("lora",), "help.method.lora", "r", target_table="TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING"),
    Method("dora", "lora", "LoraConfig", "LORA", f"{_PC}:lora_kwargs", f"{_P}:_lora_plan", _LORA_KNOBS + ("use_dora",),
           ("lora",), "help.method.dora", "r", target_table="TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING",
           fixed_knobs=(("use_dora", True),)),
    Method("qlora", "lora", "LoraConfig", "LORA", f"{_PC}:lora_kwargs", f"{_P}:_lora_plan", _LORA_KNOBS + _QUANT_KNOBS,
           ("lora", "qlora"), "help.method.qlora", "r", quantized=True,
           target_table="TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING"),
    Method("prompt_tuning", "prompt", "PromptTuningConfig", "PROMPT_TUNING", f"{_PC}:prompt_tuning_kwargs",
           f"{_P}:_prompt_tuning_plan", ("num_virtual_tokens", "prompt_tuning_init", "prompt_tuning_init_text"),
           ("prompt",), "help.method.prompt_tuning", "num_virtual_tokens", is_prompt_learning=True),
    Method("p_tuning", "prompt", "PromptEncoderConfig", "P_TUNING", f"{_PC}:p_tuning_kwargs", f"{_P}:_p_tuning_plan",
           ("num_virtual_tokens", "encoder_reparameterization_type", "encoder_hidden_size"),
           ("prompt",), "help.method.p_tuning", "num_virtual_tokens", is_prompt_learning=True),
    Method("prefix_tuning", "prompt", "PrefixTuningConfig", "PREFIX_TUNING", f"{_PC}:prefix_tuning_kwargs",
           f"{_P}:_prefix_tuning_plan", ("num_virtual_tokens", "prefix_projection", "prefix_hidden_size"),
           ("prompt",), "help.method.prefix_tuning", "num_virtual_tokens", is_prompt_learning=True),
    Method("ia3", "ia3", "IA3Config", "IA3", f"{_PC}:ia3_kwargs", f"{_P}:_ia3_plan",
           ("target_modules", "feedforward_modules"), (), "help.method.ia3", None,
           target_table="TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING"),
):
    register(_m)
del _m

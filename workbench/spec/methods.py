"""The method registry: one record per PEFT method the workbench knows (after PEFT's ``register_peft_method``).

Everything that needs to know about methods reads it: settings validation (``AdapterSpec.method`` and the
record's ``check``), the PEFT config builder (``core/model/peft_config.py``), the exact counter
(``core/model/counting.py``), target defaults and matching (``core/model/modules.py``), the model card, the Train
form (which groups it shows, its help text), the rank explorer's reference lines, the CLI ``--method`` checks and
the experiment budget sizing (``budget_knob``). Nothing outside a method's own family file tests a method's name.

The records live with their family, one file each under ``workbench/core/methods/`` (as PEFT registers each tuner
from its own package), and ``register`` themselves when the package is imported (``workbench/__init__`` imports
``workbench.core.methods``, so any ``import workbench...`` fills the registry). Adding a method = one record in its family file (or a new family file) + its
tests. This module is plain Python (no torch / peft, nothing from ``workbench.core``) so ``settings.py`` can import
it; the hooks of a record are callables.

    import workbench                           # fills the registry
    from workbench.spec import methods
    methods.get("qlora").quantized             # True
    methods.get("prefix_tuning").budget_knob   # "num_virtual_tokens"
    methods.names()                            # ("lora", "dora", ...), in registration order
    methods.get("ia3").group                   # "additive" (GROUPS: the article's three groups and full fine-tuning)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from workbench.errors import SpecError
from workbench.messages import CATALOGUE, text

FAMILIES = ("lora", "prompt", "ia3", "ln")
"""lora: low-rank updates of wrapped layers; prompt: learned virtual tokens / prefixes; ia3: learned scaling vectors;
ln: a trained copy of each wrapped module (LN tuning: the normalization layers)."""

GROUPS = ("full", "selective", "reparameterized", "additive")
"""What a method trains, in the order they are shown: ``full`` every weight (full fine-tuning, the costly reference);
then the three groups of PEFT methods (Lialin et al. 2023): ``selective`` a chosen subset of the model's own
parameters, ``reparameterized`` a low-rank form of a weight update (LoRA), ``additive`` new parameters (prompt
tuning, IA3). Each has a label ``methods.group.<group>`` in the message catalogue."""

FAMILY_GROUPS = {"lora": "reparameterized", "prompt": "additive", "ia3": "additive", "ln": "selective"}
"""A family's group, for a record that does not name its own."""

_WRAPPING_FAMILIES = ("lora", "ia3", "ln")
"""Families whose methods adapt existing modules of the model (``target_modules`` applies)."""


@dataclass(frozen=True)
class Method:
    """One adapter method: what it is, how it becomes a PEFT config, how it is counted and shown."""
    name: str
    """The ``adapter.method`` value (``lora``, ``qlora``, ...)."""
    family: str
    """``lora`` | ``prompt`` | ``ia3`` | ``ln`` (see FAMILIES)."""
    peft_config: str
    """PEFT config class name (``LoraConfig``, ``PromptTuningConfig``, ...)."""
    peft_type: str
    """PEFT's ``PeftType`` value, as written in ``adapter_config.json`` (``LORA``, ``PREFIX_TUNING``, ...)."""
    config_kwargs: Callable[..., dict]
    """``(spec, model_config, task_type) -> kwargs`` of the PEFT config class (what 'show code' prints too)."""
    plan: Callable[..., Any]
    """Exact counting plan: ``(model, spec, named, base_total) -> counting.CountPlan``."""
    knobs: tuple[str, ...]
    """The AdapterSpec fields that matter for this method."""
    form_groups: tuple[str, ...] = ()
    """Train-form groups shown for it: ``lora``, ``prompt``, ``quantization``."""
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
    """AdapterSpec settings the method always sets, as (field, value) pairs: dora sets ``use_dora`` True. They also
    tell an adapter's method from its ``adapter_config.json`` (same names there), see ``adapter_method``."""
    more_budget_knobs: tuple[str, ...] = ()
    """Size knobs an experiment budget tries after ``budget_knob`` (P-tuning: its encoder dwarfs its tokens)."""
    wraps_embeddings: bool = False
    """Besides Linear / Conv1D layers, the method can wrap Embedding layers (LoRA)."""
    wraps_id: str = ""
    """Catalogue id naming the layers it can wrap (the 'cannot wrap' error), for methods that wrap layers."""
    check: Callable[[Any], None] | None = None
    """Extra validation of an AdapterSpec of this method (raises SpecError), run by ``AdapterSpec.__post_init__``."""
    card_rows: Callable[[Any], list[tuple[str, Any]]] | None = None
    """The model card's method-specific hyperparameter rows for an AdapterSpec: ``[(setting, value), ...]``."""
    card_tags: tuple[str, ...] = ()
    """Hub tags the model card puts before the method's name (``lora`` for the LoRA family)."""
    chart_refs: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    """Reference lines of the rank explorer: (label message id, AdapterSpec settings) pairs; prompt-learning
    methods get the chart's virtual-token count too, and the label its ``v``."""
    kv_prefix: bool = False
    """Its virtual tokens are key/value prefixes in every layer (prefix tuning), not tokens in front of the input."""
    group: str = ""
    """``full`` | ``selective`` | ``reparameterized`` | ``additive`` (see GROUPS); empty: its family's group."""
    about_id: str = ""
    """Catalogue id of its one-line description (``methods.about.<name>``, English and Chinese)."""
    wraps_any: bool = False
    """It can wrap any module a target names, not only Linear / Conv1D layers (LN tuning copies the module whole)."""
    activation_bytes: Callable[..., int] | None = None
    """Memory terms: ``(model, spec, wrapped, act) -> bytes`` the adapter's own ops keep per token, where ``wrapped``
    is [(name, module)] of the layers it wraps and ``act`` the activation bytes (2 in bf16, 4 in fp32); None: nothing
    beyond the frozen model's own activations."""
    estimate_label: str = ""
    """Its name in the memory estimate's rows (default: the method name): QLoRA's row says 'LoRA r=..'."""

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"method {self.name!r}: family must be one of {', '.join(FAMILIES)} (got {self.family!r})")
        if not self.group:
            object.__setattr__(self, "group", FAMILY_GROUPS[self.family])
        if self.group not in GROUPS:
            raise ValueError(f"method {self.name!r}: group must be one of {', '.join(GROUPS)} (got {self.group!r})")
        if self.about_id and self.about_id not in CATALOGUE:
            raise ValueError(f"method {self.name!r}: about_id {self.about_id!r} is not in the message catalogue")
        if self.budget_knob is not None and self.budget_knob not in self.knobs:
            raise ValueError(f"method {self.name!r}: budget_knob {self.budget_knob!r} is not one of its knobs")
        if not set(self.more_budget_knobs) <= set(self.knobs):
            raise ValueError(f"method {self.name!r}: more_budget_knobs {self.more_budget_knobs!r} are not all knobs")
        for hook in ("config_kwargs", "plan", "check", "card_rows", "activation_bytes"):
            value = getattr(self, hook)
            if not callable(value) and not (value is None and hook in ("check", "card_rows", "activation_bytes")):
                raise ValueError(f"method {self.name!r}: {hook} must be a function (got {value!r})")
        if self.wraps_layers and not self.wraps_id:
            raise ValueError(f"method {self.name!r}: a method that wraps layers needs a wraps_id")

    @property
    def wraps_layers(self) -> bool:
        """True when the method adapts existing layers (so target_modules applies)."""
        return self.family in _WRAPPING_FAMILIES

    @property
    def has_rank(self) -> bool:
        """True for the LoRA family (a rank ``r`` sizes the update)."""
        return self.family == "lora"

    @property
    def size_knobs(self) -> tuple[str, ...]:
        """The AdapterSpec fields a budget may set, in the order they are tried (empty for IA3)."""
        return ((self.budget_knob,) if self.budget_knob else ()) + self.more_budget_knobs

    def description(self, lang: str = "en") -> str:
        """Its one-line description in ``lang`` ('' when the record names none)."""
        return text(self.about_id, lang) if self.about_id else ""

    def peft_kwargs(self, spec, model_config, task_type: str) -> dict[str, Any]:
        return self.config_kwargs(spec, model_config, task_type)

    def counting_plan(self, model, spec, named: list, base_total: int):
        return self.plan(model, spec, named, base_total)


_REGISTRY: dict[str, Method] = {}


def _registry() -> dict[str, Method]:
    """The records; empty means the family files were never imported, a programming error worth naming."""
    if not _REGISTRY:
        raise RuntimeError("no PEFT method is registered: import workbench.core.methods (it registers the "
                           "shipped methods from workbench/core/methods/; import workbench does it)")
    return _REGISTRY


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
    return tuple(_registry())


def all_methods() -> tuple[Method, ...]:
    return tuple(_registry().values())


def get(name: str) -> Method:
    """The record of ``name``; an unknown name is a SpecError on ``adapter.method`` listing the valid names."""
    try:
        return _registry()[name]
    except (KeyError, TypeError):
        raise SpecError("adapter.method", "settings.one_of", choices=", ".join(names()), value=name) from None


def family(name: str) -> str:
    """``lora`` | ``prompt`` | ``ia3`` | ``ln`` for a method name."""
    return get(name).family


def group_id(group: str) -> str:
    """The catalogue id of a group's label (``methods.group.additive``)."""
    return f"methods.group.{group}"


def by_group() -> dict[str, tuple[str, ...]]:
    """Registered method names by group, in GROUPS order (groups without a method left out), each in registration
    order."""
    found = {g: tuple(m.name for m in _registry().values() if m.group == g) for g in GROUPS}
    return {g: names for g, names in found.items() if names}


def grouped_names() -> tuple[str, ...]:
    """Every registered method name, group by group (``by_group`` flattened): the order lists of methods show."""
    return tuple(n for names in by_group().values() for n in names)


def label(name: str, lang: str = "en") -> str:
    """A method as a list of methods shows it: ``group · name`` with the group in ``lang``."""
    return text("methods.choice", lang, group=text(group_id(get(name).group), lang), name=name)


def in_family(fam: str) -> tuple[str, ...]:
    """Names of the registered methods of one family, in registration order."""
    return tuple(m.name for m in _registry().values() if m.family == fam)


def prompt_learning_peft_types() -> tuple[str, ...]:
    """PEFT types (``adapter_config.json`` ``peft_type``) of the registered prompt-learning methods."""
    return tuple(dict.fromkeys(m.peft_type for m in _registry().values() if m.is_prompt_learning))


def _matching(peft_type: str, settings: Mapping[str, Any]) -> list[Method]:
    """Unquantized records of ``peft_type`` whose fixed knobs ``settings`` all has, the most specific first
    (registration order among equals)."""
    found = [m for m in _registry().values() if m.peft_type == peft_type and not m.quantized
             and all(settings.get(k) == v for k, v in m.fixed_knobs)]
    return sorted(found, key=lambda m: -len(m.fixed_knobs))


def variant(base: str, **knobs: Any) -> str:
    """The registered method that is ``base`` with ``knobs`` set: ``variant("lora", use_dora=True)`` is dora,
    ``variant("lora", use_dora=False)`` is lora."""
    record = get(base)
    found = _matching(record.peft_type, {**dict(record.fixed_knobs), **knobs})
    return found[0].name if found else base


def quantized_twin(name: str, quantized: bool) -> str:
    """The registered method that is ``name`` on a 4-bit base (``quantized``) or on a plain one: lora <-> qlora;
    ``name`` itself when it has no such twin (the memory table's setups of one adapter)."""
    record = get(name)
    if record.quantized == quantized:
        return name
    twins = [m.name for m in _registry().values()
             if m.peft_type == record.peft_type and m.quantized == quantized and not m.fixed_knobs]
    return twins[0] if twins else name


def adapter_method(peft_type: str, config: Mapping[str, Any], run_method: str | None = None) -> str:
    """The method of an adapter folder, from its ``adapter_config.json`` (``peft_type``, ``config``) and, for a run's
    adapter, the run's own method: a quantized run's method (the 4-bit base is not in the adapter config), else the
    registered method of that PEFT type whose fixed knobs the config has (``use_dora: true`` -> dora), else the PEFT
    type in lower case."""
    if run_method in _registry() and _REGISTRY[run_method].quantized:
        return run_method
    found = _matching(str(peft_type).upper(), config)
    return found[0].name if found else str(peft_type).lower()

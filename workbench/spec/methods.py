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

FAMILIES = ("lora", "prompt", "ia3", "ln", "low_rank", "orthogonal", "spectral", "sparse", "tokens", "full")
"""One file each under ``workbench/core/methods/``. lora: low-rank updates of wrapped layers (LoRA, DoRA, QLoRA);
prompt: learned virtual tokens / prefixes; ia3: learned scaling vectors; ln: a trained copy of each wrapped module
(LN tuning: the normalization layers; last_layers: the last decoder blocks); low_rank: LoRA's kin (LoHa, LoKr, VeRA,
AdaLoRA ...); orthogonal: rotations of the frozen weights (OFT, BOFT, HRA ...); spectral: updates in a frequency or
wavelet basis (FourierFT, WaveFT, C3A); sparse: a few trained entries of each weight (SHiRA, Super-Tuning);
tokens: trained rows of the embedding (trainable tokens); full: every weight (full fine-tuning, no PEFT)."""

GROUPS = ("full", "selective", "reparameterized", "additive")
"""What a method trains, in the order they are shown: ``full`` every weight (full fine-tuning, the costly reference);
then the three groups of PEFT methods (Lialin et al. 2023): ``selective`` a chosen subset of the model's own
parameters, ``reparameterized`` a low-rank form of a weight update (LoRA), ``additive`` new parameters (prompt
tuning, IA3). Each has a label ``methods.group.<group>`` in the message catalogue."""

FAMILY_GROUPS = {"lora": "reparameterized", "prompt": "additive", "ia3": "additive", "ln": "selective",
                 "low_rank": "reparameterized", "orthogonal": "reparameterized", "spectral": "reparameterized",
                 "sparse": "selective", "tokens": "selective", "full": "full"}
"""A family's group, for a record that does not name its own."""

_WRAPPING_FAMILIES = ("lora", "ia3", "ln", "low_rank", "orthogonal", "spectral", "sparse")
"""Families whose methods adapt existing modules of the model (``target_modules`` applies)."""


@dataclass(frozen=True)
class Option:
    """A setting of one method only, beyond AdapterSpec's shared fields: a key of ``AdapterSpec.options`` (FourierFT's
    ``n_frequency``, last_layers' ``num_layers``). Its value must have the default's type (an int where the default
    is an int ...) and lie in [lo, hi] / ``choices`` when they are given."""
    name: str
    default: Any
    doc: str
    """One line on what it does (``workbench methods`` prints it)."""
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()
    peft_name: str = ""
    """The PEFT config field it sets (default: ``name``); empty with ``peft_name="-"``: the workbench reads it."""

    def check(self, value: Any, where: str) -> None:
        kind = type(self.default)
        ok = (isinstance(value, bool) == isinstance(self.default, bool) and
              (isinstance(value, kind) or (kind is float and isinstance(value, int)) or self.default is None))
        if kind is list and isinstance(value, list):
            ok = all(isinstance(v, int) and not isinstance(v, bool) for v in value) and len(value) > 0
        if not ok:
            raise SpecError(where, "settings.option_type", kind=kind.__name__, value=value)
        if self.choices and value not in self.choices:
            raise SpecError(where, "settings.one_of", choices=", ".join(map(str, self.choices)), value=value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi)):
            raise SpecError(where, "settings.in_range", range=f"[{self.lo}, {self.hi}]", value=value)


@dataclass(frozen=True)
class Method:
    """One adapter method: what it is, how it becomes a PEFT config, how it is counted and shown."""
    name: str
    """The ``adapter.method`` value (``lora``, ``qlora``, ...)."""
    family: str
    """``lora`` | ``prompt`` | ``ia3`` | ``ln`` (see FAMILIES)."""
    peft_config: str | None
    """PEFT config class name (``LoraConfig``, ``PromptTuningConfig``, ...); None: no PEFT (full fine-tuning)."""
    peft_type: str | None
    """PEFT's ``PeftType`` value, as written in ``adapter_config.json`` (``LORA``, ``PREFIX_TUNING``, ...)."""
    config_kwargs: Callable[..., dict]
    """``(spec, model_config, task_type) -> kwargs`` of the PEFT config class (what 'show code' prints too)."""
    plan: Callable[..., Any]
    """Exact counting plan: ``(model, spec, named, base_total) -> counting.CountPlan``."""
    knobs: tuple[str, ...]
    """The AdapterSpec fields that matter for this method, then the names of its ``options``."""
    form_groups: tuple[str, ...] = ()
    """Train-form groups shown for it: ``lora``, ``prompt``, ``quantization``."""
    help_id: str = ""
    """Help text id (``help.method.<name>``), rendered by the UI in the page's language (default: ``about_id``)."""
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
    options: tuple[Option, ...] = ()
    """Its own settings (keys of ``AdapterSpec.options``); their names end ``knobs`` (added by __post_init__)."""
    paper: str = ""
    """Where the method comes from (a paper's short reference), for ``workbench methods`` and the README table."""
    bind_run: Callable[[Any, Any], dict] | None = None
    """``(adapter, train) -> options`` a run fixes from its training settings (AdaLoRA's schedule: the run's steps)."""
    train_callback: Callable[[Any], Any] | None = None
    """``(peft_model) -> transformers.TrainerCallback`` the run adds (AdaLoRA's rank allocation after each step)."""
    backward_layers: Callable[[Any, Any], int] | None = None
    """Memory terms: ``(model_config, spec) -> n``: only the last ``n`` decoder layers keep activations for the
    backward pass, every weight in them training (last_layers: autograd saves nothing below the first trained
    block); None: every layer keeps the frozen model's activations."""
    full_model: bool = False
    """It trains the model's own weights and saves a whole transformers checkpoint, not a PEFT adapter."""
    before_training: Callable[[Any, Any, str], bool] | None = None
    """``(peft_model, run_spec, device) -> bool`` run on the freshly wrapped model before the Trainer starts: an init
    that needs the wrapped model (QLoRA's LoftQ), raising a WorkbenchError where it cannot run; True when the init
    moved part of the base weights into the adapter (PiSSA, OLoRA), so the run keeps its initial adapter and saves
    the trained one as a plain LoRA of the unchanged base (PEFT's ``path_initial_model_for_weight_conversion``)."""
    optimizer: Callable[[Any, Any, Any], Any] | None = None
    """``(peft_model, adapter, train) -> torch optimizer | None`` for the run; None: the Trainer's own AdamW (LoRA+
    gives lora_B a larger learning rate when its ratio is set)."""

    def __post_init__(self):
        extra = tuple(o.name for o in self.options if o.name not in self.knobs)
        object.__setattr__(self, "knobs", tuple(self.knobs) + extra)
        if self.family not in FAMILIES:
            raise ValueError(f"method {self.name!r}: family must be one of {', '.join(FAMILIES)} (got {self.family!r})")
        if not self.group:
            object.__setattr__(self, "group", FAMILY_GROUPS[self.family])
        if not self.help_id:  # the form explains the method with its one-line description
            object.__setattr__(self, "help_id", self.about_id)
        if self.group not in GROUPS:
            raise ValueError(f"method {self.name!r}: group must be one of {', '.join(GROUPS)} (got {self.group!r})")
        if self.about_id and self.about_id not in CATALOGUE:
            raise ValueError(f"method {self.name!r}: about_id {self.about_id!r} is not in the message catalogue")
        if self.budget_knob is not None and self.budget_knob not in self.knobs:
            raise ValueError(f"method {self.name!r}: budget_knob {self.budget_knob!r} is not one of its knobs")
        if not set(self.more_budget_knobs) <= set(self.knobs):
            raise ValueError(f"method {self.name!r}: more_budget_knobs {self.more_budget_knobs!r} are not all knobs")
        optional = ("check", "card_rows", "activation_bytes", "bind_run", "train_callback", "before_training",
                    "optimizer")
        for hook in ("config_kwargs", "plan") + optional:
            value = getattr(self, hook)
            if not callable(value) and not (value is None and hook in optional):
                raise ValueError(f"method {self.name!r}: {hook} must be a function (got {value!r})")
        if self.wraps_layers and not self.wraps_id:
            raise ValueError(f"method {self.name!r}: a method that wraps layers needs a wraps_id")

    @property
    def wraps_layers(self) -> bool:
        """True when the method adapts existing layers (so target_modules applies; last_layers sets it itself)."""
        return self.family in _WRAPPING_FAMILIES

    @property
    def has_rank(self) -> bool:
        """True for the LoRA family (a rank ``r`` sizes the update)."""
        return self.family == "lora"

    @property
    def size_knobs(self) -> tuple[str, ...]:
        """The AdapterSpec fields a budget may set, in the order they are tried (empty for IA3)."""
        return ((self.budget_knob,) if self.budget_knob else ()) + self.more_budget_knobs

    def option(self, name: str) -> Option | None:
        """Its own setting called ``name`` (None: not one of its options)."""
        return next((o for o in self.options if o.name == name), None)

    def check_options(self, options: Mapping[str, Any]) -> None:
        """SpecError on ``adapter.options.<key>`` for a key the method lacks (naming the knobs it has) or a bad value."""
        for key, value in options.items():
            found = self.option(key)
            if found is None:
                import difflib
                close = difflib.get_close_matches(str(key), [o.name for o in self.options], n=3)
                raise SpecError(f"adapter.options.{key}", "settings.knob_not_of_method", method=self.name,
                                knobs=", ".join(self.knobs) or "-", close=", ".join(close) or "-")
            found.check(value, f"adapter.options.{key}")

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
    """The record of ``name``; an unknown name is a SpecError on ``adapter.method`` naming the closest ones."""
    try:
        return _registry()[name]
    except (KeyError, TypeError):
        raise unknown(name) from None


def unknown(name: Any) -> SpecError:
    """The error for a method name nobody registered: the closest names first, then where the full list is."""
    import difflib
    close = difflib.get_close_matches(str(name).lower().replace("-", "_"), names(), n=3, cutoff=0.5)
    return SpecError("adapter.method", "settings.unknown_method", value=name, close=", ".join(close) or "-",
                     count=len(names()))


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


def kv_prefix_peft_types() -> tuple[str, ...]:
    """PEFT types whose virtual tokens are key/value prefixes (their token size is the key/value width, not the
    hidden size): prefix tuning, Cartridges."""
    return tuple(dict.fromkeys(m.peft_type for m in _registry().values() if m.kv_prefix))


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
    registered method of that PEFT type whose fixed knobs the config has (a run's own method when it has that type) (``use_dora: true`` -> dora), else the PEFT
    type in lower case."""
    if run_method in _registry() and _REGISTRY[run_method].quantized:
        return run_method
    found = _matching(str(peft_type).upper(), config)
    if found and run_method in [m.name for m in found if len(m.fixed_knobs) == len(found[0].fixed_knobs)]:  # last_layers and ln_tuning write the same kind of config
        return run_method
    return found[0].name if found else str(peft_type).lower()

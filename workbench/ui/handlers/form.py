"""The Train form <-> the run config: recipes, form values, YAML. Plain Python (no Gradio needed).

The form shows a chosen subset of the settings (FORM_FIELDS, in component order); everything else about a
field comes from the settings dataclasses: its type (which decides how a Gradio value is coerced: numbers
arrive as floats, an empty box as '' or 0 for "not set"), its default and its docstring.

The YAML config is the single source of truth. A form edit changes only the field the user edited
(``form_to_yaml({field: value}, yaml)``), so a setting typed into the YAML box survives later form edits; a
YAML edit is read back into the form (``yaml_to_form``).
"""
from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any

from workbench.core.model import loading as models
from workbench.spec import targets
from workbench.errors import SpecError, WorkbenchError
from workbench.spec.settings import RunSpec, field_docs
from workbench.core.serving.workspace import Workspace
from workbench.ui.handlers.common import user_errors

RECIPES_DIR = models.REPO_ROOT / "presets" / "recipes"
DEFAULT_RECIPE = "lora-quick"

FORM_FIELDS = (
    "name", "model.name", "adapter.method", "adapter.r", "adapter.alpha", "adapter.dropout", "adapter.target_modules",
    "adapter.use_rslora", "adapter.bias", "adapter.num_virtual_tokens", "adapter.prompt_tuning_init",
    "adapter.prompt_tuning_init_text", "adapter.encoder_reparameterization_type", "adapter.prefix_projection",
    "adapter.bnb_4bit_quant_type", "adapter.bnb_4bit_use_double_quant", "data.name", "data.max_length",
    "data.train_on_prompt", "train.max_steps", "train.learning_rate", "train.batch_size", "train.grad_accum",
    "train.warmup_steps", "train.lr_scheduler", "train.save_steps", "train.eval_steps", "train.seed",
    "train.precision", "train.device", "train.report_to",
)
"""The settings the form shows, as dotted config paths (``name`` is the run's name), in component order."""


# --------------------------------------------------------------------------- fields from the dataclasses

@dataclass(frozen=True)
class FormField:
    """One form field, described by its settings dataclass field."""
    path: str
    """Dotted config path: ``adapter.r``; ``name`` for RunSpec.name."""
    kind: str
    """How a form value is read: ``int`` | ``float`` | ``bool`` | ``str`` | ``targets`` (the target grammar) |
    ``choices`` (a list of names, from a checkbox group)."""
    optional: bool
    """None is allowed (shown as 0 in a number box, '' in a text box)."""
    default: Any
    doc: str
    """The field's docstring in settings.py."""


def _kind(hint) -> tuple[str, bool]:
    """(kind, optional) of a resolved type hint such as ``int | None``."""
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union \
        else (hint,)
    optional = type(None) in args
    args = tuple(a for a in args if a is not type(None))
    if any(typing.get_origin(a) is list for a in args):
        if str not in args:
            return "choices", optional  # list[str]: several names picked at once (train.report_to)
        return "targets", optional  # list[str] | str | None: the target grammar
    for t, name in ((bool, "bool"), (int, "int"), (float, "float")):
        if args == (t,):
            return name, optional
    return "str", optional


def _section_class(section: str):
    return typing.get_type_hints(RunSpec)[section]


@functools.lru_cache(maxsize=None)
def form_field(path: str) -> FormField:
    """The FormField for a dotted config path (KeyError for a path that names no settings field)."""
    if "." in path:
        section, key = path.split(".", 1)
        klass = _section_class(section)
    else:
        key, klass = path, RunSpec
    fields = {f.name: f for f in dataclasses.fields(klass)}
    if key not in fields:
        raise KeyError(f"{path!r} is not a settings field")
    f = fields[key]
    kind, optional = _kind(typing.get_type_hints(klass)[key])
    default = f.default_factory() if f.default is dataclasses.MISSING else f.default
    return FormField(path, kind, optional, default, field_docs(klass).get(key, ""))


def to_form_value(path: str, value: Any) -> Any:
    """A config value -> what the form component shows."""
    ff = form_field(path)
    if ff.kind == "targets":
        return targets.format(value)
    if ff.kind == "choices":
        return list(value or [])
    if value is None:
        return 0 if ff.kind in ("int", "float") else ""  # a Number shows 0 for 'not set'
    return value


def from_form_value(path: str, value: Any, current: Any) -> Any:
    """A Gradio value -> the config value (``current`` is kept for an emptied required number)."""
    ff = form_field(path)
    if ff.kind == "targets":
        return targets.parse(value)
    if ff.kind == "choices":
        return list(value or [])
    if ff.kind == "bool":
        return bool(value)
    if ff.kind in ("int", "float"):
        if value is None or value == "" or (ff.optional and value == 0):
            return None if ff.optional else current
        if ff.kind == "float":
            return float(value)
        number = float(value)  # Gradio sends numbers as floats (8.0); 8.5 stays 8.5 so validation names it
        return int(number) if number.is_integer() else value
    if ff.kind == "str" and isinstance(value, str):
        value = value.strip() if path == "name" else value
        return (value or None) if ff.optional else value
    return value


def tracker_choices() -> list[str]:
    """The Train form's trackers (``train.report_to``): what this server offers (public mode: the local ones)."""
    return list(Workspace(None).trackers())


# --------------------------------------------------------------------------- recipes, form values, YAML

def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def recipe_spec(name: str) -> RunSpec:
    if name not in recipe_names():
        raise WorkbenchError("ui.unknown_recipe", name=name, choices=", ".join(recipe_names()))
    return RunSpec.load(RECIPES_DIR / f"{name}.yaml")


def _get(d: dict, path: str) -> Any:
    section, _, key = path.rpartition(".")
    return d[section][key] if section else d[key]


def _set(d: dict, path: str, value: Any) -> None:
    section, _, key = path.rpartition(".")
    (d[section] if section else d)[key] = value


def spec_to_form(spec: RunSpec) -> dict:
    """RunSpec -> {form field: value} (the UI's view of a config)."""
    d = spec.to_dict()
    return {f: to_form_value(f, _get(d, f)) for f in FORM_FIELDS}


@user_errors
def recipe_form(name: str) -> dict:
    """Form values of a shipped recipe."""
    return spec_to_form(recipe_spec(name))


def form_to_spec(values: dict, base_yaml: str | None = None) -> RunSpec:
    """{form field: value} laid over ``base_yaml`` (the current config: settings not in ``values`` are kept)
    -> a validated RunSpec (errors.SpecError names the bad field)."""
    base = yaml_to_spec(base_yaml).to_dict() if base_yaml and base_yaml.strip() else RunSpec().to_dict()
    for f, v in values.items():
        try:
            v = from_form_value(f, v, _get(base, f))
        except targets.TargetError as e:
            raise SpecError(f, "common.unexpected", detail=e.message) from None
        _set(base, f, v)
    return RunSpec.from_dict(base)


@user_errors
def form_to_yaml(values: dict, base_yaml: str | None = None) -> str:
    """The config after a form edit; pass only the edited field(s) so YAML-only edits are kept."""
    return form_to_spec(values, base_yaml).to_yaml()


def yaml_to_spec(config_yaml: str) -> RunSpec:
    return RunSpec.from_yaml(config_yaml or "")


def yaml_to_form(config_yaml: str) -> dict:
    """Form values of the config in the YAML box; {} while it is not a valid config (the user is typing)."""
    try:
        return spec_to_form(yaml_to_spec(config_yaml))
    except (SpecError, WorkbenchError):
        return {}

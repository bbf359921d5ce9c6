"""Experiments: one run config plus what varies, expanded into ordinary RunSpecs before anything trains.

An experiment file (``presets/experiments/<name>.yaml``)::

    name: rank-sweep                      # letters, digits, '.', '_', '-'
    title: {en: Does the rank matter?, zh: 秩重要吗？}       # or plain text
    description: {en: ..., zh: ...}       # what the paper found and what to look for
    base: presets/recipes/lora-quick.yaml # a run config file (repo-relative or next to this file), or a mapping
    vary:                                 # a grid: one run per combination of the listed values
      adapter.r: [1, 2, 4, 8, 16, 64]
    variants:                             # and/or explicit variants: dotted overrides of the base, with a label
      - {label: "prompt tuning", adapter.method: prompt_tuning, train.learning_rate: 0.03}
    budget: 230400                        # trainable-parameter budget: each variant's size knob is set to it
    max_steps: 15                         # per-experiment defaults (train.max_steps, train.eval_steps)
    eval_steps: 5                         # held-out loss every N steps (default: max_steps // 3)
    eval_limit: 16                        # held-out prompts the task metric is computed on
    heldout_limit: 16                     # held-out examples in the held-out loss (data.heldout_limit; default 16)
    subspace: [r=8, r=64]                 # two LoRA variants whose learned directions are compared (LoRA Fig. 3)

``adapter.target_modules`` values in experiment files use the one target grammar (``spec.targets.parse``):
``[q_proj, v_proj]``, ``"q_proj, v_proj"``, ``all-linear``, ``"re:.*\\.q_proj"`` or ``default``.

With both ``vary`` and ``variants`` every variant is crossed with every grid point. With a ``budget``, each
variant's size knob (``methods.get(method).budget_knob``: LoRA / DoRA / QLoRA rank, prompt / prefix / P-tuning
virtual tokens; for P-tuning also the encoder hidden size, whichever lands closer) is set to the value whose exact
trainable count (``counting.count`` on the meta model) is closest to the budget. Counts grow with the knob, so a
binary search finds it. Variants without a knob (IA3) run as they are and say so.

Expansion into runs, budget sizing and plan rows live in ``plan.py``
(``expand(spec)`` is pure: no weights, no training).
"""
from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from workbench.messages import Message
from workbench.errors import SpecError
from workbench.spec.settings import AdapterSpec, DataSpec, ModelSpec, RunSpec, TrainSpec
from workbench.core.paths import REPO_ROOT
from workbench.core.training.run_limits import experiment_limits

EXPERIMENTS_DIR = REPO_ROOT / "presets" / "experiments"
DEFAULT_HELDOUT_LIMIT = 16
"""Held-out examples in an experiment's held-out loss unless it says otherwise: the loss over all 50 of the json
dataset took 7 s a run on 2 cores (a fifth of a method-zoo run), and 16 rank the same runs the same way."""
SECTIONS = {"model": ModelSpec, "adapter": AdapterSpec, "data": DataSpec, "train": TrainSpec}
TOP_KEYS = ("name", "title", "description", "base", "vary", "variants", "budget", "max_steps", "eval_steps",
            "eval_limit", "heldout_limit", "subspace")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def max_runs() -> int:
    """The most runs one experiment may start: env WORKBENCH_MAX_EXPERIMENT_RUNS (default 40, 8 in public mode)."""
    return experiment_limits().max_runs


def max_total_steps() -> int | None:
    """The most training steps one experiment may take in all (None: no cap): env WORKBENCH_MAX_EXPERIMENT_STEPS
    (default 300 in public mode, no cap locally)."""
    return experiment_limits().max_steps


def spec_error(field_name: str, msg_id: str, /, **params: Any) -> SpecError:
    """A SpecError on ``field_name`` with the catalogue message ``msg_id`` (workbench/messages/experiments.py)."""
    return SpecError(field_name, msg_id, **params)


def _hint(word: str, choices) -> Message | str:
    close = difflib.get_close_matches(word, sorted(choices), n=3)
    return Message("settings.did_you_mean", {"close": ", ".join(close)}) if close else ""


# --------------------------------------------------------------------------- the spec

@dataclass
class ExperimentSpec:
    """One experiment file, validated (see the module docstring for the format)."""
    name: str
    base: dict[str, Any]
    """The base run config as a mapping (a file's content, or the inline mapping)."""
    title: dict[str, str] = field(default_factory=dict)
    """{"en": ..., "zh": ...} (a plain string becomes both)."""
    description: dict[str, str] = field(default_factory=dict)
    """What the paper found and what to look for, {"en": ..., "zh": ...}."""
    vary: dict[str, list] = field(default_factory=dict)
    variants: list[dict[str, Any]] = field(default_factory=list)
    budget: int | None = None
    max_steps: int | None = None
    eval_steps: int | None = None
    eval_limit: int | None = None
    heldout_limit: int | None = None
    """Held-out examples in each run's held-out loss (its curve and its row's eval_loss) and the base row's:
    ``data.heldout_limit`` of every run, by default ``DEFAULT_HELDOUT_LIMIT``."""
    subspace: list[str] | None = None
    """Two variant labels whose LoRA A matrices are compared (LoRA paper, Figure 3)."""
    base_path: str | None = None
    """The base config file, when ``base`` was a path."""
    source: str | None = None
    """The experiment file this came from."""

    def text(self, what: str, lang: str = "en") -> str:
        """``title`` or ``description`` in ``lang`` (English when there is no Chinese)."""
        d = getattr(self, what) or {}
        return (d.get("zh") if str(lang).lower().startswith("zh") else None) or d.get("en") or ""

    def to_dict(self) -> dict[str, Any]:
        """The YAML-able form (``from_dict`` reads it back; the base is inlined)."""
        out = {"name": self.name, "title": self.title, "description": self.description, "base": self.base,
               "vary": self.vary, "variants": self.variants, "budget": self.budget, "max_steps": self.max_steps,
               "eval_steps": self.eval_steps, "eval_limit": self.eval_limit,
               "heldout_limit": self.heldout_limit, "subspace": self.subspace}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}

    @classmethod
    def from_dict(cls, d: Any, folder: Path | None = None) -> "ExperimentSpec":
        """Validate a parsed experiment file; every error names its field."""
        if not isinstance(d, dict):
            raise spec_error("experiment", "experiments.not_mapping")
        for key in d:
            if key not in TOP_KEYS:
                raise spec_error(str(key), "experiments.unknown_key", hint=_hint(str(key), TOP_KEYS))
        name = d.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise spec_error("name", "experiments.bad_name", value=name)
        base, base_path = _load_base(d.get("base"), folder)
        vary = _check_vary(d.get("vary"))
        variants = _check_variants(d.get("variants"))
        numbers = {}
        for key in ("budget", "max_steps", "eval_steps", "eval_limit", "heldout_limit"):
            v = d.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise spec_error(key, "experiments.positive_int", value=v)
            numbers[key] = v
        sub = d.get("subspace")
        if sub is not None and not (isinstance(sub, list) and len(sub) == 2 and all(isinstance(s, str) for s in sub)):
            raise spec_error("subspace", "experiments.values_list", value=sub)
        spec = cls(name=name, base=base, title=_text(d.get("title"), "title"),
                   description=_text(d.get("description"), "description"), vary=vary, variants=variants,
                   subspace=sub, base_path=base_path, **numbers)
        if n_runs(spec) == 0:
            raise spec_error("vary", "experiments.empty_grid")
        return spec

    def check_run_cap(self) -> None:
        """SpecError when the experiment would start more runs than this server allows (``max_runs``): checked when
        its runs are planned, not when it is read, so a shipped experiment bigger than a public server's cap still
        opens (on its recorded answer)."""
        n = n_runs(self)
        if n > max_runs():
            raise spec_error("variants" if self.variants and not self.vary else "vary", "experiments.too_many_runs",
                             n=n, limit=max_runs())

    def check_step_cap(self, total: int) -> None:
        """SpecError when the experiment's runs would train more than ``max_total_steps`` steps in all (``total``: every
        planned run's max_steps summed, after the experiment's override); checked with the run cap, before anything is
        written."""
        cap = max_total_steps()
        if cap is not None and total > cap:
            raise spec_error("max_steps", "experiments.too_many_steps", n=total, runs=n_runs(self), limit=cap)

    @classmethod
    def from_yaml(cls, text: str, folder: Path | None = None) -> "ExperimentSpec":
        try:
            d = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise spec_error("experiment", "settings.invalid_yaml", detail=" ".join(str(e).split())) from None
        return cls.from_dict(d, folder)


def _text(value: Any, field_name: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"en": value}
    if isinstance(value, dict) and set(value) <= {"en", "zh"} and all(isinstance(v, str) for v in value.values()):
        return dict(value)
    raise spec_error(field_name, "experiments.text")


def _load_base(value: Any, folder: Path | None) -> tuple[dict[str, Any], str | None]:
    if value is None:
        raise spec_error("base", "experiments.base_missing")
    if isinstance(value, dict):
        RunSpec.from_dict(copy.deepcopy(value))  # validates (errors name the run setting)
        return copy.deepcopy(value), None
    if not isinstance(value, str) or not value.strip():
        raise spec_error("base", "experiments.base_missing")
    candidates = [Path(value).expanduser()] if Path(value).expanduser().is_absolute() else \
        [REPO_ROOT / value] + ([folder / value] if folder is not None else []) + [Path(value)]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise spec_error("base", "experiments.base_not_found", path=value)
    spec = RunSpec.load(path)
    return spec.to_dict(), str(path)


def _check_key(key: Any, where: str) -> tuple[str, str]:
    """``section.field`` of a run setting (checked against the settings dataclasses), else a SpecError."""
    section, _, name = str(key).partition(".")
    if section not in SECTIONS or name not in {f.name for f in fields(SECTIONS[section])}:
        known = [f"{s}.{f.name}" for s, k in SECTIONS.items() for f in fields(k)]
        raise spec_error(f"{where}.{key}", "experiments.unknown_field", hint=_hint(str(key), known))
    return section, name


def _check_vary(vary: Any) -> dict[str, list]:
    if vary is None:
        return {}
    if not isinstance(vary, dict):
        raise spec_error("vary", "experiments.vary_mapping")
    out: dict[str, list] = {}
    for key, values in vary.items():
        _check_key(key, "vary")
        if not isinstance(values, list):
            raise spec_error(f"vary.{key}", "experiments.values_list", value=values)
        if not values:
            raise spec_error(f"vary.{key}", "experiments.empty_values")
        out[str(key)] = list(values)
    return out


def _check_variants(variants: Any) -> list[dict[str, Any]]:
    if variants is None:
        return []
    if not isinstance(variants, list):
        raise spec_error("variants", "experiments.variants_list")
    seen: set[str] = set()
    out = []
    for i, v in enumerate(variants):
        if not isinstance(v, dict):
            raise spec_error(f"variants[{i}]", "experiments.variant_mapping")
        for key in v:
            if key != "label":
                _check_key(key, f"variants[{i}]")
        label = v.get("label")
        if label is not None:
            if str(label) in seen:
                raise spec_error(f"variants[{i}].label", "experiments.duplicate_label", label=str(label))
            seen.add(str(label))
        out.append(dict(v))
    return out


def n_runs(spec: ExperimentSpec) -> int:
    """How many runs ``spec`` starts (before the model is looked at)."""
    grid = 1
    for values in spec.vary.values():
        grid *= len(values)
    if not spec.vary and not spec.variants:
        return 0
    return grid * (len(spec.variants) or 1)


# --------------------------------------------------------------------------- files

def shipped() -> list[str]:
    """Names of the shipped experiments (presets/experiments/*.yaml)."""
    return sorted(p.stem for p in EXPERIMENTS_DIR.glob("*.yaml"))


def find(name_or_path: str) -> Path:
    """The experiment file for a shipped name or a path."""
    p = Path(str(name_or_path)).expanduser()
    if p.is_file():
        return p
    q = EXPERIMENTS_DIR / f"{name_or_path}.yaml"
    if q.is_file():
        return q
    from workbench.errors import WorkbenchError
    raise WorkbenchError("experiments.not_found", name=str(name_or_path), names=", ".join(shipped()))


def load(name_or_path: str | Path) -> ExperimentSpec:
    """Read and validate an experiment file (a shipped name such as ``rank-sweep`` or a path)."""
    path = find(str(name_or_path))
    spec = ExperimentSpec.from_yaml(path.read_text(encoding="utf-8"), folder=path.parent)
    spec.source = str(path)
    return spec

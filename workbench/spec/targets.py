"""The one target-module grammar: how people write ``target_modules`` and what PEFT receives.

The same text means the same thing in the CLI (``--targets``), the Train form's target box, the Inspect tab and
experiment files::

    ""  or "default"       -> None             PEFT's default for the architecture (q_proj, v_proj on Llama ...)
    "all-linear"           -> "all-linear"     every Linear / Conv1D layer except the output layer
    "q_proj, v_proj"       -> ["q_proj", "v_proj"]   names (comma or space separated); a name matches a module whose
                                               full name equals it or ends with "." + name ("mlp.c_proj" works)
    "re:.*\\.(q|v)_proj"   -> ".*\\.(q|v)_proj"  a regular expression that must match the WHOLE module name
                                               (PEFT's ``re.fullmatch``)

``parse(text)`` reads that grammar, ``format(value)`` writes it back (``parse(format(v)) == v``).

In a run YAML (``adapter.target_modules``) the value is PEFT's own: a list stays a list of names, null is the
default, and a plain string that is not ``all-linear`` is a regular expression, exactly as PEFT reads it
(``re:`` in front is accepted and dropped, so text copied from the form or the CLI means the same there).
``from_config(value)`` applies that rule.

A name with regex characters (``*``, ``(``, ``|`` ...) but no ``re:`` is refused with a hint, rather than guessed.
Which modules a value picks on a model, and the named sets the rank explorer compares (PEFT default, attention, MLP,
all-linear), are model inspection: ``match_targets`` and ``target_sets`` in ``workbench.core.model.modules``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from workbench.errors import WorkbenchError

ALL_LINEAR = "all-linear"
REGEX_PREFIX = "re:"
DEFAULT_WORDS = ("", "default", "none")
"""Text meaning 'PEFT's default' (case-insensitive)."""

TargetValue = Union[list, str, None]
"""What PEFT's ``target_modules`` takes: None (default), "all-linear", a list of names, or a full-match regex."""

_REGEX_CHARS = re.compile(r"[\\^$*+?()\[\]{}|]")


class TargetError(WorkbenchError):
    """A target module value is malformed, or matches nothing (or something an adapter cannot wrap)."""


@dataclass(frozen=True)
class TargetSpec:
    """A parsed target value with its kind; ``value`` is what PEFT's ``target_modules`` takes."""
    kind: str
    """``default`` | ``all-linear`` | ``names`` | ``regex``."""
    value: TargetValue

    @classmethod
    def of(cls, value: TargetValue) -> "TargetSpec":
        if value is None:
            return cls("default", None)
        if isinstance(value, str):
            return cls(ALL_LINEAR, ALL_LINEAR) if _is_all_linear(value) else cls("regex", value)
        return cls("names", list(value))

    @property
    def text(self) -> str:
        return format(self.value)


def _is_all_linear(text: str) -> bool:
    return text.strip().lower() == ALL_LINEAR


def check_regex(regex: str) -> str:
    """``regex`` if it compiles and is not empty, else a TargetError naming the problem."""
    if not regex:
        raise TargetError("targets.empty_regex")
    try:
        re.compile(regex)
    except re.error as e:
        raise TargetError("targets.bad_regex", regex=regex, detail=str(e)) from None
    return regex


def _names(items) -> list[str]:
    names = [str(t).strip() for t in items if str(t).strip()]
    for n in names:
        if _REGEX_CHARS.search(n):
            raise TargetError("targets.name_looks_like_regex", name=n, prefix=REGEX_PREFIX)
    return names


def parse(text: str | list | tuple | None) -> TargetValue:
    """Target text (CLI ``--targets``, the Train form's box) -> PEFT's ``target_modules`` value.

    A list (already split, e.g. from YAML or checkboxes) is taken as names.
    """
    if text is None:
        return None
    if isinstance(text, (list, tuple)):
        return _names(text) or None
    text = str(text).strip()
    if text.lower() in DEFAULT_WORDS:
        return None
    if _is_all_linear(text):
        return ALL_LINEAR
    if text[:len(REGEX_PREFIX)].lower() == REGEX_PREFIX:
        return check_regex(text[len(REGEX_PREFIX):].strip())
    return _names(re.split(r"[,\s]+", text)) or None


def format(value: TargetValue) -> str:  # noqa: A001 - the pair of parse()
    """PEFT's ``target_modules`` value -> target text that ``parse`` reads back to the same value."""
    if value is None:
        return ""
    if isinstance(value, str):
        return ALL_LINEAR if _is_all_linear(value) else REGEX_PREFIX + value
    return ", ".join(value)


def from_config(value: TargetValue) -> TargetValue:
    """A run YAML's ``adapter.target_modules`` -> PEFT's value: lists and null unchanged, a string is all-linear or
    a regex (PEFT's meaning); an ``re:`` prefix is dropped so form / CLI text means the same in YAML."""
    if isinstance(value, str):
        if _is_all_linear(value):
            return ALL_LINEAR
        if value[:len(REGEX_PREFIX)].lower() == REGEX_PREFIX:
            return check_regex(value[len(REGEX_PREFIX):].strip())
        return check_regex(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def from_picker(checked: list[str] | None, regex: str | None, all_linear: bool) -> TargetValue:
    """The Inspect tab's three inputs (checkboxes, a regex box, an all-linear switch) -> PEFT's value.

    The regex box holds a regular expression (``re:`` in front is accepted too); all-linear wins, then the regex.
    """
    if all_linear:
        return ALL_LINEAR
    regex = (regex or "").strip()
    if regex:
        if regex[:len(REGEX_PREFIX)].lower() == REGEX_PREFIX:
            regex = regex[len(REGEX_PREFIX):].strip()
        return check_regex(regex)
    if checked:
        return list(checked)
    raise TargetError("targets.pick_one")

"""Settings read from environment variables: one parser and one error for every knob (``WORKBENCH_MAX_STEPS``,
``WORKBENCH_MAX_BATCH``, ...), and where the app runs (a Hugging Face Space, a public server). An unset or empty
variable gives the default; a value that is not a number is a clear error naming the variable
(``runs.env_number``), never a silent fallback or a bare ``ValueError``."""
from __future__ import annotations

import os

from workbench.errors import WorkbenchError


def env_number(name: str, default, cast=float, lo=None):
    """``cast(os.environ[name])``, at least ``lo`` (when given); ``default`` when unset or empty."""
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise WorkbenchError("runs.env_number", name=name, value=raw) from None
    return value if lo is None else max(lo, value)


def env_int(name: str, default, lo=None):
    """``env_number`` for whole numbers."""
    return env_number(name, default, int, lo)


def env_flag(name: str, default: bool = True) -> bool:
    """An on/off switch: ``0``, ``false``, ``no`` or ``off`` (any case) turn it off, any other value on;
    ``default`` when unset or empty."""
    raw = (os.environ.get(name) or "").strip().lower()
    return default if not raw else raw not in ("0", "false", "no", "off")


def on_space() -> bool:
    """True on a Hugging Face Space (``SPACE_ID`` set)."""
    return bool((os.environ.get("SPACE_ID") or "").strip())


def is_public() -> bool:
    """True when the app faces strangers: WORKBENCH_PUBLIC=1 (or true / yes / on) or on a Hugging Face Space."""
    flag = (os.environ.get("WORKBENCH_PUBLIC") or "").strip().lower() in ("1", "true", "yes", "on")
    return flag or on_space()

"""Numbers read from environment variables: one parser and one error for every knob (``WORKBENCH_MAX_STEPS``,
``WORKBENCH_MAX_BATCH``, ...). An unset or empty variable gives the default; a value that is not a number is a
clear error naming the variable (``runs.env_number``), never a silent fallback or a bare ``ValueError``."""
from __future__ import annotations

import os

from ..errors import WorkbenchError


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

"""Helpers shared by handlers: turning engine errors into gr.Error, parsing target inputs."""
from __future__ import annotations

import functools
import re

import gradio as gr

from ...errors import user_error_types


def user_errors(fn):
    """Run ``fn``; engine errors (bad input) become a gr.Error with the engine's message."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except user_error_types() as e:
            raise gr.Error(str(e), print_exception=False) from None
    return wrapper


def user_errors_gen(fn):
    """Same as user_errors for generator handlers (streaming)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            yield from fn(*args, **kwargs)
        except user_error_types() as e:
            raise gr.Error(str(e), print_exception=False) from None
    return wrapper


def parse_targets(checked: list[str] | None, regex: str | None, all_linear: bool):
    """The UI's three ways to pick targets -> what PEFT's target_modules takes."""
    from ...errors import WorkbenchError
    if all_linear:
        return "all-linear"
    if regex and regex.strip():
        try:
            re.compile(regex.strip())
        except re.error as e:
            raise WorkbenchError(f"The regex {regex.strip()!r} is not valid: {e}") from None
        return regex.strip()
    if checked:
        return list(checked)
    raise WorkbenchError("Pick at least one target module (tick a box, type a regex, or choose all-linear).")


def parse_int_list(text: str, field: str) -> list[int]:
    from ...errors import WorkbenchError
    try:
        vals = [int(x) for x in re.split(r"[,\s]+", (text or "").strip()) if x]
    except ValueError:
        raise WorkbenchError(f"{field}: expected whole numbers separated by commas, got {text!r}") from None
    if not vals or any(v < 1 for v in vals):
        raise WorkbenchError(f"{field}: expected positive whole numbers, got {text!r}")
    return sorted(set(vals))

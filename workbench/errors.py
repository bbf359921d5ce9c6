"""Exception types that mean 'the user gave bad input' (shown as one clear line, not a traceback)."""
from __future__ import annotations


class WorkbenchError(RuntimeError):
    """Base class for clear, user-facing errors raised by the engine."""


def user_error_types() -> tuple[type[BaseException], ...]:
    from .settings import SpecError
    from .core.models import ModelError
    types: list[type[BaseException]] = [WorkbenchError, SpecError, ModelError, FileNotFoundError]
    return tuple(types)

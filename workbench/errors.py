"""Exception types that mean 'the user gave bad input' (shown as one clear line, not a traceback).

Every user-facing error carries a catalogue message (``workbench.messages``): ``raise RunError("runs.not_found",
run_id=run_id)``. ``str(e)`` is the English rendering (the CLI prints it unchanged); ``e.render("zh-CN")`` words
it for a Chinese page; ``e.message`` is the ``Message`` (id + parameters) to store in files.
"""
from __future__ import annotations

from typing import Any

from .messages import CATALOGUE, Message


class WorkbenchError(RuntimeError):
    """Base class for clear, user-facing errors raised by the engine: ``WorkbenchError(msg_id, **params)``."""

    def __init__(self, msg_id: str, /, **params: Any):
        # TRANSITION: a plain English sentence (not an id) is still accepted while raise sites are converted;
        # tests/test_messages.py fails for every raise that does not use an id.
        self.message: Message | None = Message(msg_id, params) if msg_id in CATALOGUE else None
        self._legacy = None if self.message else msg_id
        super().__init__(self.render("en"))

    def render(self, lang: str = "en") -> str:
        return self.message.render(lang) if self.message else str(self._legacy)


def user_error_types() -> tuple[type[BaseException], ...]:
    from .settings import SpecError
    types: list[type[BaseException]] = [WorkbenchError, SpecError, FileNotFoundError]
    return tuple(types)

"""Exception types that mean 'the user gave bad input' (shown as one clear line, not a traceback).

Every user-facing error carries a catalogue message (``workbench.messages``): ``raise RunError("runs.not_found",
run_id=run_id)``. ``str(e)`` is the English rendering (the CLI prints it unchanged); ``e.render("zh-CN")`` words
it for a Chinese page; ``e.message`` is the ``Message`` (id + parameters) to store in files.
tests/test_messages.py checks that every construction of one of these classes passes a catalogue id.
"""
from __future__ import annotations

from typing import Any

from workbench.messages import Message, text


class WorkbenchError(RuntimeError):
    """Base class for clear, user-facing errors raised by the engine: ``WorkbenchError(msg_id, **params)``."""

    def __init__(self, msg_id: str, /, **params: Any):
        self.message: Message = Message(msg_id, params)  # KeyError for an id not in the catalogue
        super().__init__(self.message.render("en"))

    def render(self, lang: str = "en") -> str:
        """The message in ``lang`` ('en' or 'zh-CN')."""
        return self.message.render(lang)


class SpecError(ValueError):
    """A setting is invalid: ``SpecError(field, msg_id, **params)``. ``field`` names it (dotted, e.g.
    ``adapter.r``); ``message`` is the catalogue Message; ``str(e)`` is "field: English"."""

    def __init__(self, field_name: str, msg_id: str, /, **params: Any):
        self.field = field_name
        self.message = Message(msg_id, params)
        super().__init__(self.render("en"))

    def render(self, lang: str = "en") -> str:
        """"field: message" in ``lang``."""
        return text("common.prefixed", lang, prefix=self.field, detail=self.message)


def user_error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [WorkbenchError, SpecError, FileNotFoundError]
    return tuple(types)

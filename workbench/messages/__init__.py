"""The message catalogue: every engine error, server-built status line and text of the page is an id (with
parameters where the text has fields). The page's own labels and explanations are ``ui.page.*`` and ``help.*``
(put on the page by ``workbench.ui.language.t``).

One table per area (``workbench/messages/<area>.py``, a dict ``MESSAGES = {id: (english, chinese)}``), English
and Chinese side by side; this module merges them. Templates are ``str.format`` templates with the same fields
in both languages. Nothing here translates by matching English text: a message is *created* from its id, and
rendered in whichever language the reader wants.

    from workbench.messages import Message, text, translator
    m = Message("runs.not_found", {"run_id": "x"})
    m.render("en"), m.render("zh-CN")
    text("runs.not_found", "zh-CN", run_id="x")
    _ = translator("zh-CN"); _("runs.not_found", run_id="x")

Parameters that are themselves ``Message`` objects (or lists of them) are rendered in the same language, so an
optional hint ("; did you mean …?") is a nested message, not string surgery. ``status.json`` and other files store
``Message.to_dict()`` (``{"id": …, "params": {…}}``); ``Message.from_dict`` reads it back.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

LANGUAGES = ("en", "zh-CN")
AREAS = ("common", "settings", "models", "targets", "data", "runs", "training", "compare", "experiments", "cli",
         "ui", "charts", "exptab", "classroom", "help", "methods")
"""Modules of this package holding a part of the catalogue (one MESSAGES dict each; a folder, such as ui/, merges
its modules' in its __init__)."""


def _load() -> dict[str, tuple[str, str]]:
    merged: dict[str, tuple[str, str]] = {}
    for area in AREAS:
        try:
            mod = importlib.import_module(f"{__name__}.{area}")
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{area}":
                continue
            raise
        for key, pair in mod.MESSAGES.items():
            if key in merged:
                raise RuntimeError(f"message id {key!r} is defined twice (in {area} and before)")
            merged[key] = pair
    return merged


CATALOGUE: dict[str, tuple[str, str]] = _load()
"""id -> (English template, Chinese template)."""


def normalize_language(value: str | None) -> str:
    """'zh', 'zh-CN', 'zh-Hans' -> 'zh-CN'; anything else (None, 'en', 'en-GB', ...) -> 'en'."""
    return "zh-CN" if (value or "").strip().lower().startswith("zh") else "en"


def template(msg_id: str, lang: str = "en") -> str:
    """The raw template of ``msg_id`` in ``lang`` (KeyError for an unknown id: a programming error)."""
    en, zh = CATALOGUE[msg_id]
    return zh if normalize_language(lang) == "zh-CN" else en


def _value(v: Any, lang: str) -> Any:
    if isinstance(v, Message):
        return v.render(lang)
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, Message) for x in v):
        return type(v)(x.render(lang) for x in v)
    return v


@dataclass(frozen=True)
class Message:
    """A message id and its parameters; rendered in a language on demand."""
    id: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.id not in CATALOGUE:
            raise KeyError(f"unknown message id {self.id!r} (add it to workbench/messages/<area>.py)")

    def render(self, lang: str = "en") -> str:
        values = {k: _value(v, lang) for k, v in self.params.items()}
        return template(self.id, lang).format(**values)

    def __str__(self) -> str:
        return self.render("en")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (nested messages become dicts too) for files such as status.json."""
        def plain(v):
            if isinstance(v, Message):
                return {"__message__": v.to_dict()}
            if isinstance(v, (list, tuple)):
                return [plain(x) for x in v]
            if isinstance(v, dict):
                return {str(k): plain(x) for k, x in v.items()}
            if v is None or isinstance(v, (str, int, float, bool)):
                return v
            return str(v)  # e.g. a date from YAML or a numpy number: its text, so the dict is always JSON-able
        return {"id": self.id, "params": {k: plain(v) for k, v in self.params.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Message":
        def back(v):
            if isinstance(v, dict) and set(v) == {"__message__"}:
                return cls.from_dict(v["__message__"])
            if isinstance(v, list):
                return [back(x) for x in v]
            return v
        return cls(d["id"], {k: back(v) for k, v in (d.get("params") or {}).items()})


def text(msg_id: str, lang: str = "en", /, **params: Any) -> str:
    """``msg_id`` rendered in ``lang`` with ``params``."""
    return Message(msg_id, params).render(lang)


def translator(lang: str) -> Callable[..., str]:
    """A function ``(msg_id, **params) -> str`` bound to one language (one per request; nothing global)."""
    lang = normalize_language(lang)

    def _(msg_id: str, /, **params: Any) -> str:
        return Message(msg_id, params).render(lang)
    return _


def render(obj: Any, lang: str = "en") -> str:
    """Any engine error or message in ``lang``: a Message, its ``to_dict()`` (as stored in status.json), an
    exception carrying one (WorkbenchError, SpecError: their ``render``), or anything else as ``str()``."""
    if isinstance(obj, Message):
        return obj.render(lang)
    if isinstance(obj, dict) and isinstance(obj.get("id"), str) and obj["id"] in CATALOGUE:
        return Message.from_dict(obj).render(lang)
    render_fn = getattr(obj, "render", None)
    if callable(render_fn) and isinstance(obj, BaseException):
        return render_fn(lang)
    return "" if obj is None else str(obj)


def joined(items: list[Any]) -> Any:
    """Messages (or texts) joined with '; ' (Chinese '；'), as one nested Message ('' for none)."""
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return Message("common.semicolon_list", {"first": items[0], "rest": joined(items[1:])})

"""UI strings: English and 简体中文. Every label and explanation goes through ``t``.

``t(key)`` returns a gradio I18nData: the browser shows the language chosen with the page's language
switch (or the browser's locale). Keys are the English text itself, or ``help.*`` ids for long texts.
"""
from __future__ import annotations

import contextvars
import re

import gradio as gr

from ..messages import render as render_message
from ..messages import translator
from ..messages.runs import state
from .help_text import EN as HELP_EN
from .help_text import ZH as HELP_ZH
from .i18n_zh import ZH

LANGUAGES = {"en": "English", "zh-CN": "中文"}
"""Locale codes as Gradio's front end knows them (its built-in tables use zh-CN, not zh)."""


def english(key: str) -> str:
    """The English text for a key (the key itself unless it is a help id)."""
    return HELP_EN.get(key, key)


I18N = gr.I18n(**{"en": {**{k: k for k in ZH}, **HELP_EN}, "zh-CN": {**ZH, **HELP_ZH}})


def t(key: str):
    """A translatable UI string."""
    return I18N(key)


# The language switch: the choice is kept in the browser's local storage and the page reloads; a
# <head> script makes Gradio start in that language (it reads navigator.language at start-up), so
# every label, including tabs not yet opened, renders in it. Without a stored choice the browser's
# own language decides. Both scripts also set the cookie LANG_COOKIE to the language the page shows,
# so the server can word its messages (errors, live status lines) in it: see request_language().
LANG_COOKIE = "peft-workbench-lang"

SET_LANGUAGE_JS = """
(lang) => {
  try { localStorage.setItem('peft-workbench-lang', lang); } catch (e) {}
  document.cookie = 'peft-workbench-lang=' + lang + '; path=/; SameSite=Lax';
  const shown = (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
  if (lang !== shown) { location.reload(); }
  return lang;
}
"""

CURRENT_LANGUAGE_JS = """
() => ((navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en')
"""


def normalize_language(value: str | None) -> str | None:
    """'zh', 'zh-CN', 'zh-Hans-TW'... -> 'zh-CN'; 'en', 'en-GB'... -> 'en'; anything else -> None."""
    v = (value or "").strip().lower()
    if v.startswith("zh"):
        return "zh-CN"
    if v.startswith("en"):
        return "en"
    return None


def _header(request, name: str) -> str:
    """One request header, case-insensitively ('' when absent); works on gr.Request and Starlette requests."""
    headers = getattr(request, "headers", None)
    if not headers:
        return ""
    try:
        value = headers.get(name)
    except Exception:
        value = None
    if value is None:
        value = next((v for k, v in dict(headers).items() if str(k).lower() == name), None)
    return str(value or "")


def _cookie(request, name: str) -> str | None:
    for part in _header(request, "cookie").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key.strip() == name:
            return value.strip().strip('"')
    try:
        cookies = getattr(request, "cookies", None)
        return cookies.get(name) if cookies else None
    except Exception:
        return None


def _accept_language(header: str) -> str | None:
    """The supported language the browser prefers most in an Accept-Language header, or None."""
    best, best_q = None, 0.0
    for i, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        m = re.search(r"q\s*=\s*([0-9.]+)", params)
        try:
            q = float(m.group(1)) if m else 1.0
        except ValueError:
            q = 0.0
        lang = normalize_language(tag)
        if lang and q > best_q:
            best, best_q = lang, q
    return best


def request_language(request: gr.Request | None) -> str:
    """The page language of the browser that sent ``request``: 'en' or 'zh-CN'.

    The language cookie (set by the page's scripts) decides; without it the Accept-Language header
    (zh* -> zh-CN); without either (or with no request: tests, the CLI) English.
    """
    if request is None:
        return "en"
    return (normalize_language(_cookie(request, LANG_COOKIE))
            or _accept_language(_header(request, "accept-language"))
            or "en")


CURRENT_LANG: contextvars.ContextVar[str | None] = contextvars.ContextVar("workbench_lang", default=None)
"""The language of the request being handled, set by handlers.common.user_errors for the call."""


def gradio_request() -> gr.Request | None:
    """The gr.Request of the event Gradio is running now (Gradio keeps it in a context variable while
    it calls an event function, so helpers reach it without a gr.Request parameter); None outside one."""
    try:
        from gradio.context import LocalContext
        return LocalContext.request.get(None)
    except Exception:  # an older/newer Gradio without it: English
        return None


def current_language() -> str:
    """The language to word server-built text in: CURRENT_LANG when set, else that of the request
    Gradio is serving, else English."""
    return CURRENT_LANG.get() or request_language(gradio_request())


# Server-built text: catalogue messages (workbench.messages) rendered in the page's language. The language
# is resolved per call from the request being served (CURRENT_LANG, set by handlers.common's decorators).

def page_translator(lang: str | None = None):
    """The catalogue translator ``(msg_id, **params) -> str`` bound to ``lang`` (default: the page's language);
    figure builders (workbench.plots) take it as ``tr=``."""
    return translator(normalize_language(lang) or current_language() if lang else current_language())


def tr(msg_id: str, /, **params) -> str:
    """A status line: catalogue message ``msg_id`` with ``params`` in the page's language."""
    return page_translator()(msg_id, **params)


def word(status: str | None) -> str:
    """A run state ('queued', 'running', ...) in the page's language (an unknown state as it is)."""
    return state(status).render(current_language())


def page_text(obj) -> str:
    """An engine error (WorkbenchError, SpecError), a Message or its stored dict, in the page's language."""
    return render_message(obj, current_language())


_TAB_LABELS_ZH = {k: v for k, v in ZH.items() if len(k) < 40}

# Gradio (6.31) translates a tab's header only once that tab has rendered; headers of tabs not yet
# opened stay in English. The head script below relabels those headers from the same table.
HEAD = """
<script>
(function () {
  let lang = null;
  try { lang = localStorage.getItem('peft-workbench-lang'); } catch (e) {}
  if (lang !== 'en' && lang !== 'zh-CN') { lang = null; }
  const browser = (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
  // The server words its messages in the page's language: tell it with every request.
  document.cookie = 'peft-workbench-lang=' + (lang || browser) + '; path=/; SameSite=Lax';
  if (lang && lang !== browser) {
    Object.defineProperty(navigator, 'language', { get: () => lang, configurable: true });
    Object.defineProperty(navigator, 'languages', { get: () => [lang], configurable: true });
    // Gradio mounts this <head> content after its i18n set-up: switch its locale store directly too.
    const url = performance.getEntriesByType('resource').map(e => e.name)
                  .find(n => n.includes('/assets/core-') && n.endsWith('.js'));
    if (url) { import(url).then(m => m.changeLocale && m.changeLocale(lang)).catch(() => {}); }
  }
  if ((lang || browser) !== 'zh-CN') { return; }
  const labels = __TAB_LABELS__;
  const relabel = () => document.querySelectorAll('[role="tab"]').forEach(b => {
    const k = b.textContent.trim();
    if (labels[k]) { b.textContent = labels[k]; }
  });
  new MutationObserver(relabel).observe(document.body, { childList: true, subtree: true });
  relabel();
})();
</script>
""".replace("__TAB_LABELS__", __import__("json").dumps(_TAB_LABELS_ZH, ensure_ascii=False))

"""The page's language: its own text by id, the language switch, and the text the server words for it.

``t(id)`` puts a label, explanation or button text on the page: a ``ui.page.*`` or ``help.*`` id of the message
catalogue (workbench/messages/ui/page.py, help.py: English and Chinese side by side), returned as a gradio I18nData
so the browser shows it in the language chosen with the page's language switch (or the browser's locale). Nothing is
looked up by its English wording.

Text the server builds at request time (status lines, table headers, figure labels, preset descriptions) is worded
per call in the language of the request being served: ``tr``, ``word``, ``page_text``, ``localize_columns``,
``describe_model`` / ``describe_dataset`` / ``task_name``.
"""
from __future__ import annotations

import contextvars
import json
import re

import gradio as gr

from workbench.messages import CATALOGUE, Message, text, translator
from workbench.messages import render as render_message
from workbench.messages.runs import state
from workbench.core.model.modules import ATTENTION, MLP, PEFT_DEFAULT
from workbench.spec.targets import ALL_LINEAR

LANGUAGES = {"en": "English", "zh-CN": "中文"}
"""Locale codes as Gradio's front end knows them (its built-in tables use zh-CN, not zh)."""

PAGE_PREFIXES = ("ui.page.", "help.", "methods.about.")
"""Catalogue ids holding the page's own text (what ``t`` takes): labels and buttons, the explanations, and the
methods' one-line descriptions (the Train form's help of a method without a longer one)."""

PAGE_IDS = tuple(i for i in CATALOGUE if i.startswith(PAGE_PREFIXES))

I18N = gr.I18n(**{lang: {i: text(i, lang) for i in PAGE_IDS} for lang in LANGUAGES})
"""The page's text table as Gradio's front end takes it (``launch(i18n=I18N)``): language -> id -> text."""


def t(msg_id: str):
    """The page text ``msg_id`` (a ``ui.page.*`` or ``help.*`` id), shown in the page's language."""
    if msg_id not in I18N.translations["en"]:
        raise KeyError(f"unknown page text id {msg_id!r} (add it to workbench/messages/ui/page.py or help.py)")
    return I18N(msg_id)


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


# Words the server puts in tables and figures, and the descriptions of shipped presets. Handlers build and read
# their frames with column keys; they rename them (localize_columns) only as the last step before Gradio shows them.

YOUR_PICK = "your pick"
"""The rank explorer's value for the Inspect tab's selection (next to core.model.modules' named sets)."""

TARGET_SET_IDS = {
    PEFT_DEFAULT: "charts.set.peft_default",
    ATTENTION: "charts.set.attention",
    MLP: "charts.set.mlp",
    YOUR_PICK: "charts.set.custom",
    ALL_LINEAR: "charts.set.all_linear",
}
"""Target-set names of the rank explorer (the values its check boxes send) -> their labels in figures/tables."""

COLUMN_IDS = {
    "name": "ui.column.name", "type": "ui.column.type", "in_features": "ui.column.in_features",
    "out_features": "ui.column.out_features", "shape": "ui.column.shape", "params": "ui.column.params",
    "dtype": "ui.column.dtype", "trainable": "ui.column.trainable", "leaf": "ui.column.leaf",
    "params each": "ui.column.params_each", "params total": "ui.column.params_total",
    "matched module": "ui.column.matched_module", "target set": "ui.column.target_set", "method": "ui.column.method",
    "rank": "ui.column.rank", "size": "ui.column.size", "% of model": "ui.column.percent_of_model",
    "layers": "ui.column.layers",
    "adapter fp32": "ui.column.adapter_fp32", "adapter bf16": "ui.column.adapter_bf16", "setup": "ui.column.setup",
    "weights": "ui.column.weights", "gradients": "ui.column.gradients", "optimizer": "ui.column.optimizer",
    "activations": "ui.column.activations", "logits + loss": "ui.column.logits", "baseline": "ui.column.baseline",
    "total (estimate)": "ui.column.total_estimate", "run": "ui.column.run", "status": "ui.column.status",
    "model": "ui.column.model", "dataset": "ui.column.dataset", "step": "ui.column.step",
    "train loss": "ui.column.train_loss", "held-out loss": "ui.column.held_out_loss",
    "held-out score": "ui.column.held_out_score", "variant": "ui.column.variant",
    "metric": "ui.column.metric", "score": "ui.column.score", "perplexity": "ui.column.perplexity",
    "n": "ui.column.n", "prompt": "ui.column.prompt", "reference": "ui.column.reference", "base": "ui.column.base",
}
"""Column key of a frame the handlers build -> its header message."""

MODULE_COLUMN_IDS = {"trainable": "ui.column.trainable_flag"}
"""Headers the module table words differently: there 'trainable' is a yes/no per module, not a count."""


def _lang(lang: str | None) -> str:
    return (normalize_language(lang) or "en") if lang else current_language()


def target_set_label(label: str, tr) -> str:
    """A target set's label (a TARGET_SET_IDS key) in ``tr``'s language; other labels are shown as they are."""
    return tr(TARGET_SET_IDS[label]) if label in TARGET_SET_IDS else label


def localize_columns(df, lang: str | None = None, overrides: dict[str, str] | None = None, first: int | None = None):
    """``df`` with its column headers in ``lang``: the same frame in English, a renamed copy in Chinese.

    ``overrides``: column key -> message id, over COLUMN_IDS. ``first``: only the first ``first`` headers (the
    others are names, e.g. adapters, shown as they are).
    """
    lang = _lang(lang)
    if lang != "zh-CN":
        return df
    ids = {**COLUMN_IDS, **(overrides or {})}
    n = len(df.columns) if first is None else first
    out = df.copy(deep=False)
    out.columns = [text(ids[c], lang) if i < n and isinstance(c, str) and c in ids else c
                   for i, c in enumerate(df.columns)]
    return out


_MODEL_KIND_IDS = {"config": "models.describe_arch_from", "local": "models.describe_local",
                   "hub": "models.describe_hub"}


def describe_model(ref, lang: str | None = None) -> str:
    """A ModelRef's description in ``lang``: a preset's ``description`` / ``description_zh`` (presets/models.yaml
    keeps them side by side); a model that is not a preset described from its kind and path."""
    from workbench.core.model.loading import presets
    lang = _lang(lang)
    if ref.name not in presets() and ref.kind in _MODEL_KIND_IDS:
        return text(_MODEL_KIND_IDS[ref.kind], lang, path=ref.path, name=ref.name)
    if lang == "zh-CN" and getattr(ref, "description_zh", ""):
        return ref.description_zh
    return ref.description


def describe_dataset(info, lang: str | None = None) -> str:
    """A shipped dataset's description (meta.yaml ``description`` / ``description_zh``) in ``lang``."""
    if _lang(lang) == "zh-CN" and getattr(info, "description_zh", ""):
        return info.description_zh
    return info.description


def task_name(task: str, lang: str | None = None) -> str:
    """A dataset's task (meta.yaml ``task``: rewriting, extraction, classification) in ``lang``; unknown: as is."""
    key = f"ui.task.{task}"
    return Message(key).render(_lang(lang)) if key in CATALOGUE else task


# Gradio (6.31) translates a tab's header only once that tab has rendered; headers of tabs not yet
# opened stay in English. The head script below relabels those headers from the same table: it sees only the
# header's English text in the page, so it gets every tab header (``ui.page.tab.*``) as English -> Chinese.
_TAB_LABELS_ZH = {text(i, "en"): text(i, "zh-CN") for i in PAGE_IDS if i.startswith("ui.page.tab.")}
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
""".replace("__TAB_LABELS__", json.dumps(_TAB_LABELS_ZH, ensure_ascii=False))

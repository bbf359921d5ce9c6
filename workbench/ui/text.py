"""UI strings: English and 简体中文. Every label and explanation goes through ``t``.

``t(key)`` returns a gradio I18nData: the browser shows the language chosen with the page's language
switch (or the browser's locale). Keys are the English text itself, or ``help.*`` ids for long texts.
"""
from __future__ import annotations

import gradio as gr

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
# own language decides.
SET_LANGUAGE_JS = """
(lang) => {
  try { localStorage.setItem('peft-workbench-lang', lang); } catch (e) {}
  const shown = (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
  if (lang !== shown) { location.reload(); }
  return lang;
}
"""

CURRENT_LANGUAGE_JS = """
() => ((navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en')
"""

_TAB_LABELS_ZH = {k: v for k, v in ZH.items() if len(k) < 40}

# Gradio (6.31) translates a tab's header only once that tab has rendered; headers of tabs not yet
# opened stay in English. The head script below relabels those headers from the same table.
HEAD = """
<script>
(function () {
  let lang = null;
  try { lang = localStorage.getItem('peft-workbench-lang'); } catch (e) {}
  if (!lang || lang === 'en') { return; }
  Object.defineProperty(navigator, 'language', { get: () => lang, configurable: true });
  Object.defineProperty(navigator, 'languages', { get: () => [lang], configurable: true });
  // Gradio mounts this <head> content after its i18n set-up: switch its locale store directly too.
  const url = performance.getEntriesByType('resource').map(e => e.name)
                .find(n => n.includes('/assets/core-') && n.endsWith('.js'));
  if (url) { import(url).then(m => m.changeLocale && m.changeLocale(lang)).catch(() => {}); }
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

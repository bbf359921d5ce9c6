"""Every text of the page is an id of the message catalogue (ui.page.* labels, help.* explanations) with an English
and a Chinese text (ids collected from the source, not a list); nothing is looked up by its English wording."""
import ast
from pathlib import Path

import pytest

from workbench.messages import CATALOGUE
from workbench.ui.language import HEAD, I18N, PAGE_IDS, PAGE_PREFIXES, t

UI = Path(__file__).resolve().parents[2] / "workbench" / "ui"


def _keys():
    keys, dynamic = set(), []
    for f in UI.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "t" and node.args:
                a = node.args[0]
                if isinstance(a, ast.Constant):
                    keys.add(a.value)
                else:
                    dynamic.append((f.name, ast.unparse(a)))
    return keys, dynamic


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def test_every_key_in_both_languages():
    keys, dynamic = _keys()
    assert len(keys) > 100
    en, zh = I18N.translations["en"], I18N.translations["zh-CN"]
    assert not sorted(k for k in keys if k not in en)
    assert not sorted(k for k in keys if k not in zh)
    # every key is an id of the page's areas, never the English text itself
    assert not sorted(k for k in keys if not k.startswith(PAGE_PREFIXES) or " " in k)
    # the page shows the catalogue's own texts, English and Chinese side by side
    assert all(en[k] == CATALOGUE[k][0] and zh[k] == CATALOGUE[k][1] for k in keys)
    # the only computed keys are the per-method help ids (the method registry's help_id), all present
    assert all("help_id" in expr for _f, expr in dynamic), dynamic
    from workbench.spec import methods
    for m in methods.all_methods():
        assert m.help_id in en and m.help_id in zh, m.name


def test_every_page_text_is_used():
    keys, _ = _keys()
    from workbench.spec import methods
    help_ids = {m.help_id for m in methods.all_methods()} | {m.about_id for m in methods.all_methods()}
    assert not sorted(set(PAGE_IDS) - keys - help_ids)


def test_translations_are_real():
    for i in PAGE_IDS:
        en, zh = CATALOGUE[i]
        assert en.strip() and zh.strip(), i
    # Chinese texts contain Chinese characters (not a copy of the English)
    untranslated = [i for i in PAGE_IDS if CATALOGUE[i][1] == CATALOGUE[i][0] and not _has_chinese(CATALOGUE[i][1])]
    assert len(untranslated) <= 3, untranslated  # e.g. "dropout", "alpha α" stay as they are


def test_english_text_is_not_a_key():
    with pytest.raises(KeyError):
        t("Start training")
    assert "Start training" not in I18N.translations["en"]


def test_tab_headers_not_yet_opened_are_relabelled_in_chinese():
    """The head script relabels the headers of tabs not yet rendered: every ui.page.tab.* text, English -> Chinese."""
    for i in PAGE_IDS:
        if i.startswith("ui.page.tab."):
            en, zh = CATALOGUE[i]
            assert f'"{en}": "{zh}"' in HEAD, i

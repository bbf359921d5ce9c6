"""Every UI string has an English and a Chinese text (keys collected from the source, not a list)."""
import ast
from pathlib import Path

from workbench.ui.help_text import EN as HELP_EN
from workbench.ui.help_text import ZH as HELP_ZH
from workbench.ui.i18n_zh import ZH
from workbench.ui.text import I18N

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


def test_every_key_in_both_languages():
    keys, dynamic = _keys()
    assert len(keys) > 100
    en, zh = I18N.translations["en"], I18N.translations["zh-CN"]
    assert not sorted(k for k in keys if k not in en)
    assert not sorted(k for k in keys if k not in zh)
    # the only computed keys are the per-method help ids (the method registry's help_id), all present
    assert all("help_id" in expr for _f, expr in dynamic), dynamic
    from workbench.core import methods
    for m in methods.all_methods():
        assert m.help_id in en and m.help_id in zh, m.name


def test_translations_are_real():
    assert set(HELP_EN) == set(HELP_ZH)
    for k, v in {**ZH, **HELP_ZH}.items():
        assert v.strip(), k
    # Chinese texts contain Chinese characters (not a copy of the English)
    untranslated = [k for k, v in ZH.items() if v == k and not any("\u4e00" <= c <= "\u9fff" for c in v)]
    assert len(untranslated) <= 3, untranslated  # e.g. "dropout", "alpha α" stay as they are

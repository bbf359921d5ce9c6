"""The message catalogue (workbench.messages): both languages for every id, every user-facing error built from
an id, and messages that survive a trip through a file (status.json)."""
from __future__ import annotations

import ast
import json
import string
from pathlib import Path

import pytest

from workbench.errors import SpecError, WorkbenchError
from workbench.messages import AREAS, CATALOGUE, Message, joined, render, template, text, translator
from workbench.spec.settings import AdapterSpec, RunSpec

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"


def _fields(template_text: str) -> set[str]:
    """The top-level field names of a str.format template ('{n:,}' -> 'n'; '{{' is no field)."""
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template_text)
            if name is not None}


def test_every_id_has_english_and_chinese_with_the_same_fields():
    assert len(CATALOGUE) > 300
    for msg_id, pair in CATALOGUE.items():
        assert isinstance(pair, tuple) and len(pair) == 2, msg_id
        en, zh = pair
        assert isinstance(en, str) and en.strip(), f"{msg_id}: empty English"
        assert isinstance(zh, str) and zh.strip(), f"{msg_id}: empty Chinese"
        assert _fields(en) == _fields(zh), f"{msg_id}: fields differ: {_fields(en)} vs {_fields(zh)}"
        area = msg_id.split(".")[0]
        assert area in AREAS, f"{msg_id}: area {area!r} is not in messages.AREAS"


def test_ids_live_in_their_area_module():
    import importlib
    for area in AREAS:
        try:
            mod = importlib.import_module(f"workbench.messages.{area}")
        except ModuleNotFoundError:
            continue
        wrong = [k for k in mod.MESSAGES if not k.startswith(area + ".")]
        assert not wrong, f"messages/{area}.py holds ids of another area: {wrong}"


# --------------------------------------------------------------------------- every error is built from an id

def _classes() -> tuple[set[str], list[tuple[Path, ast.AST]]]:
    """Names of WorkbenchError and its subclasses defined in workbench/, and every parsed module."""
    trees = [(p, ast.parse(p.read_text(encoding="utf-8"), str(p))) for p in sorted(PACKAGE.rglob("*.py"))]
    bases: dict[str, set[str]] = {}
    for _, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = {b.id if isinstance(b, ast.Name) else b.attr for b in node.bases
                         if isinstance(b, (ast.Name, ast.Attribute))}
                bases.setdefault(node.name, set()).update(names)
    found = {"WorkbenchError"}
    while True:
        more = {c for c, bs in bases.items() if bs & found} - found
        if not more:
            return found, trees
        found |= more


def _calls(tree: ast.AST):
    """(call, name of the called function or class, innermost enclosing function) for every call in ``tree``."""
    def visit(node, fn):
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else fn
            if isinstance(child, ast.Call):
                f = child.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
                yield child, name, fn
            yield from visit(child, inner)
    yield from visit(tree, None)


def _constructions():
    """(where, callee, id argument node) for every call of a user-facing error class in workbench/ (the id is the
    first argument; SpecError's second). A helper that passes its own parameter on as the id (settings._require,
    GenSettings' need) is checked at its call sites instead, so every id is still a literal somewhere."""
    classes, trees = _classes()
    takes_id = {name: 0 for name in classes} | {"SpecError": 1}
    forwarded: dict[str, int] = {}
    calls = [(path, call, name, fn) for path, tree in trees for call, name, fn in _calls(tree)]
    for _ in range(3):  # helpers of helpers
        for path, call, name, fn in calls:
            pos = takes_id.get(name)
            arg = call.args[pos] if pos is not None and len(call.args) > pos else None
            if isinstance(arg, ast.Name) and fn is not None:
                params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
                if arg.id in params and fn.name not in classes:
                    forwarded[fn.name] = params.index(arg.id)
        takes_id.update(forwarded)
    for path, call, name, fn in calls:
        pos = takes_id.get(name)
        if pos is None:
            continue
        arg = call.args[pos] if len(call.args) > pos else None
        if isinstance(arg, ast.Name) and fn is not None and fn.name in forwarded:
            continue  # passed on from the helper's parameter: its callers are checked
        where = f"{path.relative_to(PACKAGE.parent)}:{call.lineno}"
        yield where, name, arg


def _bad() -> tuple[int, list[str]]:
    seen, bad = 0, []
    for where, name, arg in _constructions():
        seen += 1
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            bad.append(f"{where}: {name}(...) does not pass a string literal message id")
        elif arg.value not in CATALOGUE:
            bad.append(f"{where}: {name}({arg.value!r}) is not in the catalogue")
    return seen, bad


def test_every_user_facing_error_is_raised_with_a_catalogue_id():
    seen, bad = _bad()
    assert seen > 150  # the scan really sees the engine's raise sites
    assert not bad, "\n".join(bad)


def test_the_scan_catches_a_plain_english_raise(tmp_path, monkeypatch):
    """The AST check can fail: an English f-string raise is reported."""
    pkg = tmp_path / "workbench"
    pkg.mkdir()
    (pkg / "errors.py").write_text("class WorkbenchError(RuntimeError):\n    pass\n")
    (pkg / "x.py").write_text("from .errors import WorkbenchError\nclass DataError(WorkbenchError):\n    pass\n"
                              "def f(n):\n    raise DataError(f'{n} bad lines')\n"
                              "def g():\n    raise SpecError('data.name', 'must be text')\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", pkg)
    found = list(_constructions())
    assert {name for _, name, _ in found} == {"DataError", "SpecError"}
    (pkg / "y.py").write_text("def need(ok, field, msg_id):\n    if not ok:\n        raise SpecError(field, msg_id)\n"
                              "def h(x):\n    need(x > 0, 'x', 'must be > 0')\n    need(x < 9, 'x', 'settings.positive')\n")
    bad = [(w, n, a.value) for w, n, a in _constructions() if n == "need"]
    assert bad == [("workbench/y.py:5", "need", "must be > 0"), ("workbench/y.py:6", "need", "settings.positive")]
    assert _bad()[1] == ["workbench/x.py:5: DataError(...) does not pass a string literal message id",
                         "workbench/x.py:7: SpecError('must be text') is not in the catalogue",
                         "workbench/y.py:5: need('must be > 0') is not in the catalogue"]


def test_an_unknown_id_is_a_programming_error():
    with pytest.raises(KeyError, match="unknown message id"):
        WorkbenchError("Something went wrong")
    with pytest.raises(KeyError):
        SpecError("adapter.r", "must be an integer")


# --------------------------------------------------------------------------- rendering real errors

def test_spec_error_renders_field_and_message_in_both_languages():
    with pytest.raises(SpecError) as e:
        AdapterSpec(r=0)
    assert str(e.value) == "adapter.r: must be an integer in 1..4096 (got 0)"
    assert e.value.field == "adapter.r"
    assert e.value.render("en") == str(e.value)
    assert e.value.render("zh-CN") == "adapter.r：必须是 1..4096 之间的整数（当前为 0）"
    assert render(e.value, "zh-CN") == e.value.render("zh-CN")


def test_unknown_setting_with_a_did_you_mean_hint():
    with pytest.raises(SpecError) as e:
        RunSpec.from_dict({"adapter": {"alpah": 4}})
    assert str(e.value) == "adapter.alpah: unknown setting; did you mean alpha?"
    assert e.value.render("zh-CN") == "adapter.alpah：未知的设置；你是不是想写 alpha？"
    with pytest.raises(SpecError) as e:
        RunSpec.from_dict({"adapter": {"zzz": 4}})
    assert (str(e.value), e.value.render("zh-CN")) == ("adapter.zzz: unknown setting", "adapter.zzz：未知的设置")


def test_data_error_lists_bad_lines_in_chinese_with_the_values_kept(tmp_path):
    from workbench.core.data.datasets import load_examples
    from workbench.spec.settings import DataSpec
    f = tmp_path / "d.jsonl"
    f.write_text('{"prompt": "a", "response": "b"}\n{"prompt": 1, "response": "x"}\nnot json\n'
                 '{"prompt": "", "response": "y"}\n', encoding="utf-8")
    from workbench.core.data.dataset_files import DataError
    with pytest.raises(DataError) as e:
        load_examples(DataSpec(name=str(f)))
    en, zh = str(e.value), e.value.render("zh-CN")
    assert en == ("d.jsonl: 3 bad lines, so nothing was loaded. line 2: 'prompt' is a number, expected text; "
                  "line 3: not valid JSON (Expecting value at column 1); line 4: empty 'prompt'. "
                  "Fix or remove these lines and load it again.")
    assert zh == ("d.jsonl：有 3 行有问题，因此没有加载任何内容。第 2 行：'prompt' 是数字，应为文本；"
                  "第 3 行：不是合法的 JSON（缺少值（第 1 列））；第 4 行：'prompt' 为空。请修正或删除这些行后重新加载。")


def test_run_and_model_errors_in_chinese():
    from workbench.core.runstore import run_dirs as runs
    with pytest.raises(runs.RunError) as e:
        runs.check_run_id("../x")
    assert "'../x'" in str(e.value) and e.value.render("zh-CN").startswith("无效的运行 ID '../x'：")
    from workbench.core.model.errors import ModelError
    from workbench.core.model.loading import resolve
    with pytest.raises(ModelError) as e:
        resolve("a/b/c")
    assert str(e.value) == "'a/b/c' is neither a preset, a local path nor a hub id like 'org/model'."
    assert e.value.render("zh-CN") == "'a/b/c' 既不是预设，也不是本地路径，也不是 'org/model' 这样的 Hub 模型 ID。"


# --------------------------------------------------------------------------- messages as data

def test_round_trip_through_a_file_keeps_nested_messages():
    hint = Message("settings.did_you_mean", {"close": "r, alpha"})
    m = Message("training.run_failed", {"run_id": "r1", "detail": Message(
        "training.exception", {"kind": "SpecError", "detail": Message("common.prefixed", {
            "prefix": "adapter.rank", "detail": Message("settings.unknown_setting", {"hint": hint})})})})
    stored = json.loads(json.dumps(m.to_dict()))  # what status.json holds
    back = Message.from_dict(stored)
    assert back == m
    assert back.render("en") == "run r1 failed: SpecError: adapter.rank: unknown setting; did you mean r, alpha?"
    assert back.render("zh-CN") == "运行 r1 失败：SpecError：adapter.rank：未知的设置；你是不是想写 r, alpha？"
    assert render(stored, "zh-CN") == back.render("zh-CN")  # the dict itself renders too
    assert render("plain old text", "zh-CN") == "plain old text" and render(None) == ""
    import datetime  # a value JSON cannot hold (a YAML date) is stored as its text: the dict always dumps
    odd = Message("settings.positive", {"value": datetime.date(2020, 1, 2)}).to_dict()
    assert json.loads(json.dumps(odd)) == {"id": "settings.positive", "params": {"value": "2020-01-02"}}


def test_translator_text_and_joined():
    _ = translator("zh")
    assert _("runs.not_found", run_id="x", root="/r") == "/r 中没有名为 'x' 的运行。"
    assert translator("en-GB")("runs.not_found", run_id="x", root="/r") == "No run named 'x' in /r."
    assert text("ui.progress", "zh-CN", step=3, total=10, percent=30.0, status="训练中") == "第 3 / 10 步（30%）· 训练中"
    assert template("charts.loss", "zh-CN") == "损失"
    parts = [Message("data.problem.empty_row"), Message("data.problem.csv"), "x"]
    assert joined(parts).render("en") == "empty row; not valid CSV; x"
    assert joined(parts).render("zh-CN") == "空行；不是合法的 CSV；x"
    assert joined([]) == ""

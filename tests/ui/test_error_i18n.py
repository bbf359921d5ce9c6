"""Messages the server builds at request time (engine errors, live status lines) come out in the page's
language: every raise site has a Chinese template, real errors keep their values, the language reaches the
server (cookie / Accept-Language) through Gradio itself, and the decorators leave endpoint signatures alone."""
from __future__ import annotations

import ast
import contextvars
import inspect
import re
import socket
import string
from pathlib import Path

import gradio as gr
import pytest

from workbench.errors import WorkbenchError, user_error_types
from workbench.ui import error_text as ET
from workbench.ui.error_text import STATUS_ZH, UNTRANSLATED, to_chinese, tr, translate, word
from workbench.ui.handlers import common as C
from workbench.ui.handlers import inspect as IH
from workbench.ui.handlers import train as TH
from workbench.ui.text import CURRENT_LANG, LANG_COOKIE, current_language, request_language

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "workbench"
ZH_COOKIE = f"{LANG_COOKIE}=zh-CN"


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


# --------------------------------------------------------------------------- (i) every raise site is covered

def _user_error_classes(trees) -> set[str]:
    """Names of the user-facing exception classes: user_error_types() and every class defined on them."""
    names = {t.__name__ for t in user_error_types()}
    classes = [n for tree in trees.values() for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    grew = True
    while grew:
        grew = False
        for c in classes:
            bases = {getattr(b, "id", getattr(b, "attr", None)) for b in c.bases}
            if c.name not in names and bases & names:
                names.add(c.name)
                grew = True
    return names


class _Sample:
    """Renders a str / f-string node as a sample message: each formatted value becomes a distinct number."""

    def __init__(self):
        self.tokens: list[str] = []

    def __call__(self, node) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            out = []
            for v in node.values:
                if isinstance(v, ast.Constant):
                    out.append(v.value)
                else:
                    self.tokens.append(str(90001 + len(self.tokens)))
                    out.append(self.tokens[-1])
            return "".join(out)
        return None


SPEC_HELPERS = {"_require": (1, 2), "need": (1, 2)}
"""Helpers that raise SpecError(field, message): call name -> (field arg, message arg)."""
NEED_PREFIX = {"need": "generate."}


def _sites():
    """(where, kind, sample message, value tokens) for every user-facing message in workbench/."""
    trees = {f: ast.parse(f.read_text(encoding="utf-8")) for f in sorted(PKG.rglob("*.py"))}
    classes = _user_error_classes(trees)
    sites = []
    for f, tree in trees.items():
        rel = f.relative_to(ROOT)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            sample = _Sample()
            where = f"{rel}:{node.lineno}"
            if name == "SpecError" and len(node.args) == 2 or name in SPEC_HELPERS and len(node.args) == 3:
                i_field, i_msg = (0, 1) if name == "SpecError" else SPEC_HELPERS[name]
                field = sample(node.args[i_field]) or "some.field"
                msg = sample(node.args[i_msg])
                if msg is not None:
                    sites.append((where, "error", NEED_PREFIX.get(name, "") + f"{field}: {msg}", sample.tokens))
            elif name in classes and node.args:
                msg = sample(node.args[0])
                if msg is not None:
                    sites.append((where, "error", msg, sample.tokens))
            elif name == "_arch_error" and len(node.args) == 3:  # the detail of export._arch_error's message
                msg = sample(node.args[2])
                if msg is not None:
                    sites.append((where, "error", msg, sample.tokens))
            elif name == "add" and ast.unparse(node.func).endswith("problems.add") and len(node.args) >= 2:
                kind = sample(node.args[1])
                detail = sample(node.args[2]) if len(node.args) > 2 else None
                if kind is not None:
                    text = kind if detail is None else f"{kind} ({detail})"
                    sites.append((where, "data problem", text, sample.tokens))
    return sites


def test_every_raise_site_has_a_chinese_template():
    sites = _sites()
    covered, nothing_to_translate, missing = 0, [], []
    for where, kind, sample, tokens in sites:
        if not re.search(r"[A-Za-z]", re.sub(r"\d+", "", sample.replace(":", ""))):
            nothing_to_translate.append(where)  # e.g. f"{path}: {e}": no English of ours in it
            continue
        zh = to_chinese(sample) if kind == "error" else ET.problem_to_chinese(sample)
        if zh is None:
            missing.append(f"{where}: {sample}")
        elif lost := [t for t in tokens if t not in zh]:
            missing.append(f"{where}: values {lost} lost in {zh!r}")
        else:
            covered += 1
    assert not missing, f"{len(missing)} user-facing messages have no Chinese template:\n" + "\n".join(missing)
    assert covered >= 180, covered  # raise sites, SpecError helpers, _arch_error details and data problems
    assert len(nothing_to_translate) <= 2, nothing_to_translate


def _fields(template: str, kind: str) -> set[str]:
    if kind == "format":
        return {f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(template) if f}
    return set(re.findall(r"\{(\w+)(?::\w)?\}", template))


@pytest.mark.parametrize("table", [ET.ERRORS_ZH, ET.DATA_PROBLEMS_ZH])
def test_error_templates_keep_every_value(table):
    english = [en for en, _ in table]
    assert len(english) == len(set(english)), "duplicate English templates"
    for en, zh in table:
        ET.compile_template(en)  # compiles (each name once)
        assert _fields(en, "error") == _fields(zh, "error"), (en, zh)
        assert _has_chinese(zh), zh


def test_every_status_line_in_both_languages():
    """Every tr("...") in the UI has a Chinese text with the same fields; every run state has a word."""
    keys, dynamic = set(), []
    for f in (PKG / "ui").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "tr" and node.args:
                a = node.args[0]
                (keys.add(a.value) if isinstance(a, ast.Constant) else dynamic.append(f"{f.name}:{node.lineno}"))
    assert len(keys) > 30 and not dynamic, dynamic
    assert not sorted(keys - set(STATUS_ZH)), "status lines without Chinese"
    assert not sorted(set(STATUS_ZH) - keys), "Chinese for status lines no longer used"
    for en, zh in STATUS_ZH.items():
        assert _fields(en, "format") == _fields(zh, "format"), (en, zh)
        assert _has_chinese(zh) or en == zh, en
    from workbench.core.runs import STATUSES
    assert all(_has_chinese(word(s, "zh-CN")) for s in STATUSES + ("idle", "unknown"))


def test_translate_english_unchanged_unknown_marked():
    msg = "Unknown recipe 'x'; choose one of a, b."
    assert translate(msg, "en") == msg
    assert translate(msg, "zh-CN") == "未知的配方 'x'；可选：a, b。"
    assert translate("Something new went wrong", "zh-CN") == UNTRANSLATED + "Something new went wrong"
    assert translate("Something new", "zh-CN", untranslated="") == "Something new"
    # a SpecError's field is kept, the message translated; nested messages too
    assert translate("adapter.r: must be an integer in 1..4096 (got 0)", "zh") == \
        "adapter.r：必须是 1..4096 之间的整数（当前为 0）"
    assert translate("run r1 failed: DataError: d.jsonl: 1 bad line, so nothing was loaded. line 2: empty row. "
                     "Fix or remove these lines and load it again.", "zh-CN") == \
        "运行 r1 失败：DataError：d.jsonl：有 1 行有问题，因此没有加载任何内容。第 2 行：空行。请修正或删除这些行后重新加载。"


def test_data_file_problems_in_chinese():
    """The grouped message of datafiles.Problems (built, not a literal): every kind of bad line, in Chinese."""
    from workbench.core.datafiles import Problems
    p = Problems("rows.csv", unit="row")
    for line in range(1, 12):
        p.add(line, "empty row")
    p.add(14, "more values than the header has columns", "3 values, 2 columns; quote fields that contain ','")
    p.add(15, "'messages' has a turn with an unknown role", "got 'bot'; use system, user or assistant")
    zh = translate(p.message(), "zh-CN")
    assert zh == ("rows.csv：有 13 行有问题，因此没有加载任何内容。第 1, 2, 3, 4, 5, 6, 7, 8 行等（另有 3 行）：空行；"
                  "第 14 行：值的个数多于表头的列数（3 个值，2 列；含有 ',' 的字段请加引号）；"
                  "第 15 行：'messages' 中有一个轮次的角色未知（实际为 'bot'；请使用 system、user 或 assistant）。"
                  "请修正或删除这些行后重新加载。"), zh


# --------------------------------------------------------------------------- (ii) real errors, in Chinese

@pytest.fixture()
def zh_page():
    """Calls run as if Gradio were serving a request from a page showing Chinese (its cookie)."""
    from gradio.context import LocalContext
    token = LocalContext.request.set(gr.Request(headers={"cookie": f"other=1; {ZH_COOKIE}", "accept-language": "en"}))
    yield
    LocalContext.request.reset(token)


def _error(fn, *args) -> str:
    with pytest.raises(gr.Error) as ei:
        fn(*args)
    return ei.value.message


def test_wrong_target_module_in_chinese(zh_page):
    tiny = IH.custom_model(64, 2, 4, 2, 128, 1000)
    msg = _error(IH.match_view, tiny, ["q_porj"], "", False, 8)
    assert msg.startswith("目标 'q_porj' 没有匹配到任何模块；最接近的有：") and "q_proj" in msg, msg
    msg = _error(IH.match_view, tiny, [], r"(unclosed", False, 8)
    assert msg.startswith("正则表达式 '(unclosed' 无效："), msg


def test_bad_dataset_upload_in_chinese(zh_page, runs_dir, tmp_path):
    bad = tmp_path / "my data.jsonl"
    bad.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "c", "response": \n{"prompt": "", "response": "d"}\n',
                   encoding="utf-8")
    msg = _error(TH.upload_dataset, str(bad), "owner1")
    assert msg.startswith("my data.jsonl：有 2 行有问题，因此没有加载任何内容。"), msg
    assert "第 2 行：不是合法的 JSON（缺少值（第 " in msg and "第 3 行：'prompt' 为空" in msg, msg
    assert msg.endswith("请修正或删除这些行后重新加载。"), msg
    good = tmp_path / "good.jsonl"
    good.write_text("".join(f'{{"prompt": "p{i}", "response": "r{i}"}}\n' for i in range(20)), encoding="utf-8")
    _name, summary = TH.upload_dataset(str(good), "owner1")
    assert summary == "`good.jsonl`：18 行用于训练，2 行留作验证。看起来没问题。", summary


def test_invalid_config_in_chinese(zh_page, runs_dir):
    msg = _error(TH.start_run, "adapter:\n  r: 0\n", "owner1")
    assert msg == "adapter.r：必须是 1..4096 之间的整数（当前为 0）", msg
    msg = _error(TH.start_run, "adapter:\n  lora_alpha: 8\n", "owner1")
    assert msg == "adapter.lora_alpha：未知的设置；你是不是想写 alpha？", msg
    msg = _error(TH.start_run, "train: [1, 2\n", "owner1")
    assert msg.startswith("config：不是合法的 YAML："), msg


def test_missing_recipe_in_chinese_and_english(zh_page):
    msg = _error(TH.recipe_form, "no-such-recipe")
    assert msg == f"未知的配方 'no-such-recipe'；可选：{', '.join(TH.recipe_names())}。"
    token = CURRENT_LANG.set("en")
    try:
        assert _error(TH.recipe_form, "no-such-recipe").startswith("Unknown recipe 'no-such-recipe'; choose one of ")
    finally:
        CURRENT_LANG.reset(token)


def test_status_lines_follow_the_page(zh_page, runs_dir):
    md, prog, _fig, _b = TH.poll_run("", "owner1")
    assert md == "还没有运行：选择一个配方或填写表单，然后点击 **开始训练**。"
    assert "第 0 / 0 步（0%）· 空闲" in prog and "data-status='idle'" in prog
    md, *_ = TH.poll_run("no-such-run", "owner1")
    assert md.startswith("⚠️ ") and "没有名为 'no-such-run' 的运行" in md, md
    md, _ = IH.match_view(IH.custom_model(64, 2, 4, 2, 128, 1000), ["q_proj"], "", False, 8)
    assert md.startswith("**匹配到 2 层** `q_proj`。  \n秩为 **8** 时："), md


def test_status_lines_english_without_a_request(runs_dir):
    assert current_language() == "en"
    md, prog, _fig, _b = TH.poll_run("", "owner1")
    assert md == "No run yet: choose a recipe or fill the form, then press **Start training**."
    assert "step 0 / 0 (0%) · idle" in prog


# --------------------------------------------------------------------------- (iii) which language a request wants

@pytest.mark.parametrize("headers, lang", [
    ({}, "en"),
    ({"cookie": ZH_COOKIE}, "zh-CN"),
    ({"cookie": f"a=1; {LANG_COOKIE}=en; b=2", "accept-language": "zh-CN,zh;q=0.9"}, "en"),  # the cookie decides
    ({"Cookie": f"{LANG_COOKIE}=zh-CN"}, "zh-CN"),
    ({"cookie": f"{LANG_COOKIE}=fr"}, "en"),  # not a language the page has
    ({"cookie": f"{LANG_COOKIE}=fr", "accept-language": "zh-TW,en;q=0.5"}, "zh-CN"),
    ({"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"}, "zh-CN"),
    ({"accept-language": "en-US,en;q=0.9,zh-CN;q=0.8"}, "en"),
    ({"accept-language": "fr-FR,zh;q=0.7,en;q=0.3"}, "zh-CN"),  # the best language the page has
    ({"accept-language": "de, fr;q=0.5"}, "en"),
])
def test_request_language(headers, lang):
    assert request_language(gr.Request(headers=headers)) == lang
    # a gr.Request around a real Starlette request, as Gradio makes them
    from starlette.requests import Request
    scope = {"type": "http", "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    assert request_language(gr.Request(request=Request(scope))) == lang


def test_request_language_without_a_request():
    assert request_language(None) == "en"


def test_language_scripts_set_the_cookie():
    from workbench.ui.text import HEAD, SET_LANGUAGE_JS
    cookie = "'peft-workbench-lang=' + {} + '; path=/; SameSite=Lax'"
    assert f"document.cookie = {cookie.format('lang')}" in SET_LANGUAGE_JS
    assert f"document.cookie = {cookie.format('(lang || browser)')}" in HEAD
    # set on every load, before the early return for pages already in the right language
    assert HEAD.index("document.cookie") < HEAD.index("return")


# --------------------------------------------------------------------------- (iv) through Gradio itself

def test_decorators_keep_signatures():
    def handler(model_name: str, adapters: list[str], owner: str, max_new_tokens=64, progress=None) -> str:
        return ""
    for deco in (C.user_errors, C.in_page_language):
        assert inspect.signature(deco(handler)) == inspect.signature(handler)
    assert inspect.signature(TH.poll_run) == inspect.signature(TH.poll_run.__wrapped__)


def test_generator_keeps_the_language_on_every_step():
    """Gradio runs each step of a sync generator in a fresh copy of the context: the language must hold."""
    from gradio.context import LocalContext

    @C.user_errors_gen
    def stream():
        yield tr("Pushed to {url}", url="u1")
        yield tr("Pushed to {url}", url="u2")
        raise WorkbenchError("No run selected.")

    gen = stream()

    def first():
        LocalContext.request.set(gr.Request(headers={"cookie": ZH_COOKIE}))
        return next(gen)

    assert contextvars.Context().run(first) == "已推送到 u1"
    assert contextvars.Context().run(next, gen) == "已推送到 u2"  # no request in this context
    with pytest.raises(gr.Error) as ei:
        contextvars.Context().run(next, gen)
    assert ei.value.message == "未选择运行。"
    assert CURRENT_LANG.get() is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_app():
    """A small Blocks served on 127.0.0.1 whose events run the workbench's decorated handlers."""
    def plain(name: str, owner: str = "") -> str:
        return name

    @C.user_errors_gen
    def stream(prompt: str, n: float = 2):
        for i in range(int(n)):
            yield tr("Pushed to {url}", url=f"{prompt}-{i}")
        raise WorkbenchError("Type a prompt (or pick a held-out example) first.")

    def poll(run_id):  # undecorated, like the Train tab's timer: poll_run finds the request itself
        return TH.poll_run(run_id, "owner1")[0]

    with gr.Blocks() as demo:
        a, b, out = gr.Textbox(), gr.Textbox(), gr.Textbox()
        gr.Button().click(plain, [a, b], out, api_name="plain")
        gr.Button().click(C.user_errors(plain), [a, b], out, api_name="decorated")
        gr.Button().click(TH.recipe_form, a, gr.JSON(), api_name="recipe")
        gr.Button().click(stream, [a, gr.Number(2)], out, api_name="stream")
        gr.Button().click(poll, a, out, api_name="poll")
    demo.queue()
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def _client(url, **headers):
    from gradio_client import Client
    return Client(url, headers=headers or None, verbose=False)


def test_gradio_passes_the_page_language(tiny_app):
    from gradio_client.exceptions import AppError
    zh, en = _client(tiny_app, Cookie=ZH_COOKIE), _client(tiny_app)
    with pytest.raises(AppError, match="未知的配方 'nope'；可选："):
        zh.predict("nope", api_name="/recipe")
    with pytest.raises(AppError, match="Unknown recipe 'nope'; choose one of"):
        en.predict("nope", api_name="/recipe")
    with pytest.raises(AppError, match="未知的配方"):
        _client(tiny_app, **{"Accept-Language": "zh-CN,zh;q=0.9"}).predict("nope", api_name="/recipe")
    # status lines: every streamed step, and a handler Gradio calls through an undecorated function
    job = zh.submit("p", 3, api_name="/stream")
    with pytest.raises(AppError, match="请先输入提示"):
        job.result()
    assert job.outputs() == ["已推送到 p-0", "已推送到 p-1", "已推送到 p-2"]
    assert zh.predict("", api_name="/poll").startswith("还没有运行")
    assert en.predict("", api_name="/poll").startswith("No run yet")
    assert zh.predict("x", "o", api_name="/decorated") == "x"


def test_decorated_endpoint_api_unchanged(tiny_app):
    api = _client(tiny_app).view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert api["/decorated"]["parameters"] == api["/plain"]["parameters"]
    assert [p["parameter_name"] for p in api["/decorated"]["parameters"]] == ["name", "owner"]
    assert [p["parameter_name"] for p in api["/stream"]["parameters"]] == ["prompt", "n"]

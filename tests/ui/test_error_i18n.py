"""Messages the server builds at request time (engine errors, live status lines) come out in the page's
language: every status line is a catalogue id, real errors keep their values, the language reaches the server
(cookie / Accept-Language) through Gradio itself, and the decorators leave endpoint signatures alone.
(That every engine error is raised with a catalogue id is tests/test_messages.py's check.)"""
from __future__ import annotations

import ast
import contextvars
import inspect
import socket
from pathlib import Path

import gradio as gr
import pytest

from workbench.errors import WorkbenchError
from workbench.messages import CATALOGUE, Message
from workbench.ui.handlers import common as C
from workbench.ui.handlers import inspect as IH
from workbench.ui.handlers import train as TH
from workbench.ui.language import CURRENT_LANG, LANG_COOKIE, current_language, page_text, request_language, tr, word

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "workbench"
ZH_COOKIE = f"{LANG_COOKIE}=zh-CN"


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


# --------------------------------------------------------------------------- (i) status lines are catalogue ids

def test_every_status_line_is_a_catalogue_id():
    """Every tr(...) and translator call in the UI names a catalogue id (a literal); every run state has a word."""
    ids, bad = set(), []
    for f in (PKG / "ui").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("tr", "shown", "_") and node.args:
                a = node.args[0]
                branches = [a.body, a.orelse] if isinstance(a, ast.IfExp) else [a]  # 'ui.x' if ... else 'ui.y'
                if all(isinstance(b, ast.Constant) and b.value in CATALOGUE for b in branches):
                    ids.update(b.value for b in branches)
                elif f.name == "inspect.py" and ast.unparse(a) == "label_id":  # a method record's chart_refs
                    from workbench.spec import methods
                    refs = [i for m in methods.all_methods() for i, _ in m.chart_refs]
                    assert refs and set(refs) <= set(CATALOGUE), refs
                    ids.update(refs)
                elif getattr(node.func, "id", None) == "tr" and f.name != "language.py":
                    bad.append(f"{f.name}:{node.lineno}: {ast.unparse(a)}")
    assert len(ids) > 40 and not bad, bad
    from workbench.ui import language
    for table in (language.TARGET_SET_IDS, language.COLUMN_IDS, language.MODULE_COLUMN_IDS):
        assert set(table.values()) <= set(CATALOGUE)
    from workbench.core.runstore.run_dirs import STATUSES
    for s in STATUSES + ("idle", "unknown"):
        with_lang = CURRENT_LANG.set("zh-CN")
        try:
            assert _has_chinese(word(s)), s
        finally:
            CURRENT_LANG.reset(with_lang)
        assert word(s) == s  # English: the state itself
    assert word("something-new") == "something-new"


def test_page_text_english_unchanged_chinese_from_the_catalogue():
    e = WorkbenchError("ui.unknown_recipe", name="x", choices="a, b")
    assert str(e) == page_text(e) == "Unknown recipe 'x'; choose one of a, b."
    token = CURRENT_LANG.set("zh-CN")
    try:
        assert page_text(e) == "未知的配方 'x'；可选：a, b。"
        # a run error as status.json stores it (Message.to_dict), with nested messages
        stored = Message("training.run_failed", {"run_id": "r1", "detail": Message(
            "training.exception", {"kind": "DataError", "detail": Message("data.empty_file", {"name": "d.jsonl"})})})
        assert page_text(stored.to_dict()) == "运行 r1 失败：DataError：d.jsonl 是空的：没有任何行。"
        assert page_text("an old status.json's English text") == "an old status.json's English text"
    finally:
        CURRENT_LANG.reset(token)


def test_data_file_problems_in_chinese():
    """The grouped message of dataset_files.Problems (built from messages): every kind of bad line, in Chinese."""
    from workbench.core.data.dataset_files import Problems
    p = Problems("rows.csv", unit="row")
    for line in range(1, 12):
        p.add(line, Message("data.problem.empty_row"))
    p.add(14, Message("data.problem.too_many_values"),
          Message("data.problem.too_many_values_detail", {"values": 3, "columns": 2, "delimiter": ","}))
    p.add(15, Message("data.problem.unknown_role", {"column": "messages"}),
          Message("data.problem.unknown_role_detail", {"role": "bot"}))
    assert p.message().render("en") == (
        "rows.csv: 13 bad rows, so nothing was loaded. rows 1, 2, 3, 4, 5, 6, 7, 8 and 3 more: empty row; "
        "row 14: more values than the header has columns (3 values, 2 columns; quote fields that contain ','); "
        "row 15: 'messages' has a turn with an unknown role (got 'bot'; use system, user or assistant). "
        "Fix or remove these rows and load it again.")
    zh = p.message().render("zh-CN")
    assert zh == ("rows.csv：有 13 行有问题，因此没有加载任何内容。第 1, 2, 3, 4, 5, 6, 7, 8 行等（另有 3 行）：空行；"
                  "第 14 行：值的个数多于表头的列数（3 个值，2 列；含有 ',' 的字段请加引号）；"
                  "第 15 行：'messages' 中有一个轮次的角色未知（实际为 'bot'；请使用 system、user 或 assistant）。"
                  "请修正或删除这些行后重新加载。"), zh
    with pytest.raises(WorkbenchError) as ei:
        p.raise_if_any()
    assert ei.value.render("zh-CN") == zh and str(ei.value) == p.message().render("en")


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
    assert msg.startswith("目标正则 '(unclosed' 不是合法的正则表达式："), msg


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
    from workbench.ui.language import HEAD, SET_LANGUAGE_JS
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
        yield tr("ui.pushed", url="u1")
        yield tr("ui.pushed", url="u2")
        raise WorkbenchError("runs.no_run_selected")

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
            yield tr("ui.pushed", url=f"{prompt}-{i}")
        raise WorkbenchError("compare.no_prompt")

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

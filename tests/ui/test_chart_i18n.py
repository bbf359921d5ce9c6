"""Figures, table headers and preset descriptions follow the page's language: Chinese in zh-CN (no English word of
the catalogue's chart text left), English byte-for-byte as before (the same as a figure built without a translator)."""
from __future__ import annotations

import re
import string
from types import SimpleNamespace as NS

import pandas as pd
import pytest

from workbench import plots
from workbench.core.data import datasets as D
from workbench.core.model import loading as M
from workbench.messages import CATALOGUE, text, translator
from workbench.ui import language as DT
from workbench.ui.handlers import compare as CH
from workbench.ui.handlers import inspect as IH
from workbench.ui.handlers import train as TH
from workbench.ui.language import CURRENT_LANG, page_translator

ZH = translator("zh-CN")
EN = translator("en")
MODEL = "SmolLM2-135M"  # an architecture-only preset: built on the meta device, cheap


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in str(text))


@pytest.fixture()
def zh():
    """Handlers run as for a page showing Chinese."""
    token = CURRENT_LANG.set("zh-CN")
    yield
    CURRENT_LANG.reset(token)


@pytest.fixture(autouse=True)
def _clean_memo():
    IH.clear_memo()
    yield
    IH.clear_memo()


# --------------------------------------------------------------------------- sample figures

RANK_ROWS = [dict(rank=r, trainable=r * 1000, total=10**6, percent=r / 10, adapter_bytes_fp32=r * 4000,
                  adapter_bytes_bf16=r * 2000) for r in (1, 8, 64)]
MEM_ROWS = [dict(setup=s, weights_bytes=1e9, grads_bytes=2e9, optimizer_bytes=3e9, total_bytes=6e9) for s in ("a", "b")]
EVAL_ROWS = [NS(variant="base", metric="json_match", score=0.5, perplexity=3.2, n=10),
             NS(variant="run1", metric="json_match", score=0.7, perplexity=2.2, n=10)]
STATS = [NS(layer=0, module="q_proj", norm=1.0, singular_values=[2.0, 1.0], effective_rank=1.5),
         NS(layer=1, module="v_proj", norm=0.5, singular_values=[1.0, 0.5], effective_rank=1.2)]
LOG = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5, "eval_loss": 1.7}]

def _set(tr, label):
    """A target-set label the caller passes in, worded by the caller (as the rank handler does)."""
    return DT.target_set_label(label, tr or EN)


def _ia3(tr):
    return (tr or EN)("charts.ref.ia3")


FIGURES = {
    "rank": lambda tr: plots.rank_chart({_set(tr, "PEFT default"): RANK_ROWS}, {_ia3(tr): RANK_ROWS[0]},
                                        model_name="Llama-3-8B", tr=tr),
    "percent": lambda tr: plots.rank_chart({_set(tr, "PEFT default"): RANK_ROWS}, {}, y="percent", tr=tr),
    "size": lambda tr: plots.size_chart([dict(r, size=r["rank"]) for r in RANK_ROWS], method="loha", knob="r",
                                        model_name="Llama-3-8B", tr=tr),
    "size percent": lambda tr: plots.size_chart([dict(r, size=r["rank"]) for r in RANK_ROWS], y="percent",
                                                method="loha", knob="r", tr=tr),
    "no size knob": lambda tr: plots.size_chart(RANK_ROWS[:1], method="ia3", knob=None, tr=tr),
    "memory": lambda tr: plots.memory_chart(MEM_ROWS, tr=tr),
    "loss": lambda tr: plots.loss_chart(LOG, tr=tr),
    "empty loss": lambda tr: plots.loss_chart([], tr=tr),
    "eval": lambda tr: plots.eval_chart(EVAL_ROWS, tr=tr),
    "empty eval": lambda tr: plots.eval_chart([], tr=tr),
    "heatmap": lambda tr: plots.update_heatmap(STATS, tr=tr),
    "spectrum": lambda tr: plots.spectrum_chart(STATS, tr=tr),
}


def _texts(fig) -> dict[str, list[str]]:
    """The words a reader sees: titles, axis titles, annotations, trace names, hover text."""
    d = fig.to_plotly_json()
    lay = d["layout"]
    out = {"title": [], "axes": [], "names": [], "hover": [], "notes": []}
    out["title"].append((lay.get("title") or {}).get("text") or "")
    for axis in ("xaxis", "yaxis"):
        out["axes"].append(((lay.get(axis) or {}).get("title") or {}).get("text") or "")
    out["notes"] += [a.get("text") or "" for a in lay.get("annotations") or []]
    for trace in d["data"]:
        if trace.get("showlegend") is not False:
            out["names"].append(trace.get("name") or "")
        out["hover"] += [str(h) for h in (trace.get("hovertext") or [])] + [trace.get("hovertemplate") or ""]
    return {k: [t for t in v if t] for k, v in out.items()}


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]{3,}", re.sub(r"\{[^}]*\}", " ", text))}


CHART_PAIRS = [pair for msg_id, pair in CATALOGUE.items() if msg_id.startswith("charts.")]


def _dropped_words() -> set[str]:
    """English words of the catalogue's chart text that their Chinese drops (e.g. 'loss'; not 'LoRA' nor the method
    names 'prompt tuning', which the Chinese keeps)."""
    pairs = CHART_PAIRS
    kept = set().union(*(_words(zh) for _en, zh in pairs))
    return set().union(*(_words(en) for en, _zh in pairs)) - kept


DROPPED = _dropped_words()


def _leftover_english(texts: dict[str, list[str]]) -> set[str]:
    found = set()
    for text in (t for v in texts.values() for t in v):
        # html tags, plotly's %{x} fields and 'all-linear' (PEFT's own value, a name in both languages)
        text = re.sub(r"<[^>]+>|%\{[^}]*\}|all-linear", " ", text)
        found |= {w.lower() for w in re.findall(r"[A-Za-z]{3,}", text)} & DROPPED
    return found


# --------------------------------------------------------------------------- plots.py with a translator

@pytest.mark.parametrize("name", list(FIGURES))
def test_english_figures_unchanged(name):
    build = FIGURES[name]
    plain = build(None).to_json()
    assert build(EN).to_json() == plain
    # a Chinese figure built in between changes nothing global
    assert build(ZH).to_json() != plain
    assert build(None).to_json() == plain


def test_english_figure_text_is_the_original():
    rank = _texts(FIGURES["rank"](None))
    assert rank["title"] == ["Trainable parameters vs LoRA rank - Llama-3-8B"]
    assert rank["axes"] == ["LoRA rank r", "trainable parameters"]
    assert rank["names"] == ["PEFT default", "IA3 (PEFT default targets)"]
    assert rank["hover"][0] == ("PEFT default<br>rank 1<br>1,000 params (1K)<br>0.1000% of model<br>adapter file: "
                                "4 KB fp32, 2 KB bf16")
    assert ("IA3 (PEFT default targets)<br>1,000 params<br>0.1000% of model<br>(does not depend on rank)"
            in rank["hover"])
    mem = _texts(FIGURES["memory"](None))
    assert mem["title"] == ["Training memory estimate (before activations)"]
    assert mem["names"] == ["weights", "gradients", "optimizer states (Adam)"]
    assert mem["hover"][0] == "%{x}<br>weights: %{y:.3g} GB<extra></extra>"
    loss = _texts(FIGURES["loss"](None))
    assert loss["title"] == ["Loss"] and loss["axes"] == ["step", "loss"]
    assert loss["names"] == ["train loss", "held-out loss"]
    empty = _texts(FIGURES["empty loss"](None))
    assert empty["notes"] == ["The loss curve appears here once the first step is logged."]
    ev = _texts(FIGURES["eval"](None))
    assert ev["title"] == ["Held-out json_match: base vs adapted"]
    assert ev["hover"][0] == "json_match: 0.500<br>perplexity: 3.200<br>n = 10"
    assert _texts(FIGURES["spectrum"](None))["names"][0] == "L0 q_proj (eff. rank 1.50)"
    assert plots.loss_chart(LOG, title="Loss - run 1", tr=ZH).layout.title.text == "Loss - run 1"  # a given title


@pytest.mark.parametrize("name", list(FIGURES))
def test_chinese_figures(name):
    texts = _texts(FIGURES[name](ZH))
    assert all(_has_chinese(t) for t in texts["title"]), texts["title"]
    assert not _leftover_english(texts), (_leftover_english(texts), texts)
    for kind in ("axes", "notes"):
        # names kept as they are: sigma_i / sigma_1, the dataset's metric on the eval chart's y axis
        assert all(_has_chinese(t) or t in ("sigma_i / sigma_1", "json_match") for t in texts[kind]), texts[kind]


def test_chinese_figure_text():
    rank = _texts(FIGURES["rank"](ZH))
    assert rank["title"] == ["可训练参数量与 LoRA 秩的关系 - Llama-3-8B"]  # the model name verbatim
    assert rank["axes"] == ["LoRA 秩 r", "可训练参数量"]
    assert rank["names"] == ["PEFT 默认", "IA3（PEFT 默认目标）"]
    assert rank["hover"][0] == "PEFT 默认<br>秩 1<br>1,000 个参数（1K）<br>占模型的 0.1000%<br>适配器文件：4 KB（fp32），2 KB（bf16）"
    assert _texts(FIGURES["memory"](ZH))["names"] == ["权重", "梯度", "优化器状态（Adam）"]
    loss = _texts(FIGURES["loss"](ZH))
    assert loss["title"] == ["损失"] and loss["names"] == ["训练损失", "验证损失"] and loss["axes"] == ["步数", "损失"]
    ev = _texts(FIGURES["eval"](ZH))
    assert ev["title"] == ["验证集 json_match：基础模型与适配后对比"]
    assert ev["hover"][0] == "json_match：0.500<br>困惑度：3.200<br>样本数 = 10"
    assert _texts(FIGURES["spectrum"](ZH))["names"][0] == "L0 q_proj（有效秩 1.50）"


def test_the_leftover_check_can_fail():
    texts = _texts(FIGURES["loss"](lambda i, **p: text(i, "en" if i == "charts.train_loss" else "zh-CN", **p)))
    assert _leftover_english(texts) == {"train"} | {"loss"}
    assert {"loss", "weights", "rank", "perplexity", "held", "out"} <= DROPPED


def test_chart_text_is_really_chinese():
    for en, zh in CHART_PAIRS:
        assert _has_chinese(zh) or zh == en, en


def test_translator_is_bound_to_its_language():
    assert EN("charts.train_loss") == "train loss" and ZH("charts.train_loss") == "训练损失"
    with pytest.raises(KeyError):
        ZH("train loss")  # English text is no id: nothing is matched by its wording
    token = CURRENT_LANG.set("zh-CN")
    try:
        assert page_translator()("charts.train_loss") == "训练损失"
        assert page_translator("en")("charts.train_loss") == "train loss"
    finally:
        CURRENT_LANG.reset(token)
    assert page_translator()("charts.train_loss") == "train loss"  # no request: English


# --------------------------------------------------------------------------- handlers: figures and tables

RANK_COLUMNS = ["target set", "method", "rank", "trainable", "% of model", "layers", "adapter fp32", "adapter bf16"]
SETS = ["PEFT default", "attention (q,k,v,o)", "MLP only", "all-linear"]


def _all_chinese(columns) -> bool:
    return all(_has_chinese(c) for c in columns)


def _recording(monkeypatch, name):
    """Record the arguments handlers pass to plots.<name> (the figure is still built)."""
    calls, real = [], getattr(plots, name)
    monkeypatch.setattr(plots, name, lambda *a, **k: calls.append((a, k)) or real(*a, **k))
    return calls, real


def _without_translator(calls, real):
    """The figures of ``calls`` built again with no translator."""
    return [real(*a, **{k: v for k, v in kw.items() if k != "tr"}).to_json() for a, kw in calls]


def test_rank_and_memory_views_in_english_unchanged(monkeypatch):
    rank_calls, rank_real = _recording(monkeypatch, "rank_chart")
    mem_calls, mem_real = _recording(monkeypatch, "memory_chart")
    fig_p, fig_pct, table = IH.rank_view(MODEL, SETS, None, "", "1,8")
    assert list(table.columns) == RANK_COLUMNS
    assert set(table["target set"]) >= set(SETS)
    assert fig_p.layout.title.text == f"Trainable parameters vs LoRA rank - {MODEL}"
    assert fig_pct.layout.yaxis.title.text == "% of model parameters"
    names = [t.name for t in fig_p.data]
    assert names[:4] == SETS and "prompt tuning (20 tokens)" in names and "IA3 (PEFT default targets)" in names
    assert [fig_p.to_json(), fig_pct.to_json()] == _without_translator(rank_calls, rank_real)
    mem_fig, _df, _md = IH.memory_view(MODEL, 8)
    assert [mem_fig.to_json()] == _without_translator(mem_calls, mem_real)


def test_rank_view_in_chinese(zh):
    fig_p, fig_pct, table = IH.rank_view(MODEL, SETS, None, "", "1,8")
    assert list(table.columns) == [text(DT.COLUMN_IDS[c], "zh-CN") for c in RANK_COLUMNS]
    assert _all_chinese(table.columns)
    names = [t.name for t in fig_p.data]
    assert names[:4] == ["PEFT 默认", "注意力层（q,k,v,o）", "仅 MLP", "all-linear"]
    assert "prompt tuning（20 个虚拟 token）" in names and "IA3（PEFT 默认目标）" in names
    assert set(names[:4]) <= set(table["目标集合"])  # the table names the sets as the legend does
    for fig in (fig_p, fig_pct):
        texts = _texts(fig)
        assert _has_chinese(texts["title"][0]) and texts["title"][0].endswith(f" - {MODEL}")
        assert all(_has_chinese(t) for t in texts["axes"])
        assert not _leftover_english(texts), _leftover_english(texts)


def test_memory_view_in_both_languages(zh):
    fig, df, md = IH.memory_view(MODEL, 8)
    assert list(df.columns) == ["配置", "进程基线", "权重", "梯度", "优化器状态", "激活值", "logits + 损失", "总计（估算）"]
    assert all(_has_chinese(s) for s in df["配置"]) and all(_has_chinese(x) for x in fig.data[0].x)
    texts = _texts(fig)
    assert texts["title"] == [f"训练内存估算 - {MODEL}（LoRA r=8，批 8 × 256 个 token，fp32）"]
    assert texts["names"] == ["进程基线", "权重", "梯度", "优化器状态（Adam）", "激活值", "logits + 损失"]
    assert not _leftover_english(texts), _leftover_english(texts)
    assert "weights, gradients, Adam" not in md and md.count("权重、梯度、Adam") == 3, md
    assert md.count("激活值：") == 3 and md.count("进程基线：") == 3
    assert "double-quantised" not in md and "双重量化常数" in md
    CURRENT_LANG.set("en")
    fig, df, md = IH.memory_view(MODEL, 8)
    assert list(df.columns) == ["setup", "baseline", "weights", "gradients", "optimizer", "activations", "logits + loss",
                                "total (estimate)"]
    assert list(df["setup"])[0] == "full fine-tuning (fp32 + Adam)" == fig.data[0].x[0]
    assert [t.name for t in fig.data[:6]] == ["process baseline", "weights", "gradients", "optimizer states (Adam)",
                                              "activations", "logits + loss"]
    assert md.count("- **") == 3 and md.count("weights, gradients, Adam: ") == 3 and md.count("activations: ") == 3


MODULE_COLUMNS = ["name", "type", "in_features", "out_features", "shape", "params", "dtype", "trainable"]
GROUP_COLUMNS = ["leaf", "type", "in_features", "out_features", "params each", "params total"]


def test_module_tables_in_both_languages():
    summary, df, groups, _leaves, _defaults = IH.inspect_model(MODEL)
    assert list(df.columns) == MODULE_COLUMNS and list(groups.columns) == GROUP_COLUMNS
    assert "SmolLM2-135M architecture (30 layers" in summary
    assert list(IH.filter_modules(MODEL, "q_proj").columns) == MODULE_COLUMNS
    assert list(IH.match_view(MODEL, ["q_proj"], "", False, 8)[1].columns) == ["matched module"]
    token = CURRENT_LANG.set("zh-CN")
    try:
        summary, zdf, zgroups, _leaves, _defaults = IH.inspect_model(MODEL)
        filtered = IH.filter_modules(MODEL, "q_proj")
        matched = IH.match_view(MODEL, ["q_proj"], "", False, 8)[1]
    finally:
        CURRENT_LANG.reset(token)
    assert _all_chinese(zdf.columns) and _all_chinese(zgroups.columns) and _all_chinese(filtered.columns)
    assert list(zdf.columns)[-1] == "可训练"  # a yes/no per module here, not a count
    assert list(matched.columns) == ["匹配到的模块"]
    assert len(filtered) == 30 and zdf.set_axis(df.columns, axis=1).equals(df)  # only the headers change
    assert "SmolLM2-135M 架构（30 层" in summary


def test_runs_table_and_train_tab_text(runs_dir):
    from workbench.core.runstore import run_dirs as R
    R.create_run(TH.recipe_spec("lora-quick"), owner="alice")
    en = TH.runs_table("alice")
    assert list(en.columns) == ["run", "name", "status", "method", "model", "dataset", "step", "train loss",
                                "held-out loss", "held-out score"]
    assert list(en["status"]) == ["queued"]
    token = CURRENT_LANG.set("zh-CN")
    try:
        zh = TH.runs_table("alice")
        loss = TH.poll_run("", "alice")[2]
        device = TH.device_summary()
        info = TH.dataset_info_md("json-format")
    finally:
        CURRENT_LANG.reset(token)
    assert _all_chinese(zh.columns) and list(zh["状态"]) == ["排队中"]
    assert _has_chinese(_texts(loss)["notes"][0]) and not _leftover_english(_texts(loss))
    assert device in ("CUDA GPU", "Apple MPS") or re.fullmatch(r"CPU（\d+ 核）", device), device
    assert "（信息抽取）：把一句关于某人的短句" in info, info
    assert TH.dataset_info_md("json-format").startswith("**json-format** (extraction): Turn a short sentence")
    assert TH.device_summary() in ("CUDA GPU", "Apple MPS") or re.fullmatch(r"CPU \(\d+ cores\)", TH.device_summary())


def test_eval_and_run_all_tables(monkeypatch):
    from workbench.core.evaluation import heldout as EV
    from workbench.core.generation import variants as G
    rows = lambda: [EV.EvalRow(variant=G.BASE, metric="json_match", score=0.25, perplexity=4.0, n=8)]  # noqa: E731
    monkeypatch.setattr(EV, "evaluate", lambda *a, **k: rows())
    monkeypatch.setattr(G, "get_variants", lambda *a, **k: None)
    from workbench.core.generation import scheduler
    monkeypatch.setattr(scheduler, "generate_many",  # the handler batches every prompt x variant through it
                        lambda vm, requests, max_batch=None: [NS(text=f"answer of {r.variant}") for r in requests])
    df, fig = CH.evaluate_view("m", [], "json-format", "alice", limit=8)
    assert list(df.columns) == ["variant", "metric", "score", "perplexity", "n"] and list(df["variant"]) == ["base"]
    assert fig.to_json() == plots.eval_chart(rows()).to_json()  # = the figure built without a translator
    presets = CH.run_presets("m", [], "json-format", "alice", limit=2)
    assert list(presets.columns) == ["prompt", "reference", "base"]
    token = CURRENT_LANG.set("zh-CN")
    try:
        df, fig = CH.evaluate_view("m", [], "json-format", "alice", limit=8)
        presets = CH.run_presets("m", [], "json-format", "alice", limit=2)
    finally:
        CURRENT_LANG.reset(token)
    assert list(df.columns) == ["变体", "指标", "得分", "困惑度", "样本数"] and list(df["变体"]) == ["基础模型"]
    texts = _texts(fig)
    assert _has_chinese(texts["title"][0]) and not _leftover_english(texts), texts
    assert list(fig.data[0].x) == ["基础模型"]
    assert list(presets.columns) == ["提示", "参考答案", "基础模型"] and presets.iloc[0, 2] == "answer of base"


def test_only_the_first_headers_when_asked():
    df = pd.DataFrame([["p", "r", "b", "x", "y"]], columns=["prompt", "reference", "base", "score", "run-7"])
    assert list(DT.localize_columns(df, "zh-CN", first=3).columns) == ["提示", "参考答案", "基础模型", "score", "run-7"]
    assert DT.localize_columns(df, "en") is df and list(df.columns)[0] == "prompt"  # the caller's frame untouched


# --------------------------------------------------------------------------- descriptions, tables

def test_every_shipped_description_has_chinese(tmp_path):
    refs = [M.resolve(n) for n in IH.model_choices()]
    datasets = D.list_datasets()
    assert len(refs) >= 10 and len(datasets) >= 3
    missing = [r.name for r in refs if not _has_chinese(DT.describe_model(r, "zh-CN"))]
    missing += [d.name for d in datasets if not (_has_chinese(DT.describe_dataset(d, "zh-CN"))
                                                 and _has_chinese(DT.task_name(d.task, "zh-CN")))]
    assert not missing, f"presets without Chinese (presets/*.yaml: add description_zh; a new task: ui.task.*): {missing}"
    assert all(DT.describe_model(r, "en") == r.description for r in refs)
    assert all(DT.describe_dataset(d, "en") == d.description and DT.task_name(d.task, "en") == d.task
               for d in datasets)
    # models that are not presets: described from their kind and path, in both languages
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    local = M.resolve(str(tmp_path / "ckpt"))
    assert DT.describe_model(local, "en") == local.description == f"local checkpoint {tmp_path / 'ckpt'}"
    assert DT.describe_model(local, "zh-CN") == f"本地检查点 {tmp_path / 'ckpt'}"
    hub = M.resolve("org/m")
    assert DT.describe_model(hub, "en") == hub.description == "Hugging Face Hub model org/m"
    assert DT.describe_model(hub, "zh-CN") == "Hugging Face Hub 模型 org/m"
    assert DT.task_name("something-new", "zh-CN") == "something-new"


def test_tables_are_real_translations():
    for table in (DT.COLUMN_IDS, DT.MODULE_COLUMN_IDS, DT.TARGET_SET_IDS):
        assert all(_has_chinese(text(i, "zh-CN")) or i == "charts.set.all_linear" for i in table.values()), table
        assert all(text(i, "en") == key for key, i in table.items() if table is not DT.MODULE_COLUMN_IDS)
    assert set(DT.MODULE_COLUMN_IDS) <= set(DT.COLUMN_IDS)

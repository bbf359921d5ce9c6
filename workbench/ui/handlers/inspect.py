"""Inspect tab and rank-explorer handlers: model modules, target matching, parameter counts, memory."""
from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections import OrderedDict
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd

from workbench import plots
from workbench.core.model import loading as M
from workbench.core.model import memory_estimate as memory
from workbench.spec import methods
from workbench.core.model import modules
from workbench.core.model import counting as params
from workbench.core.model import knob_sizes
from workbench.core.model.modules import PEFT_DEFAULT, TARGET_SET_NAMES, target_sets
from workbench.spec.targets import from_picker
from workbench.core.serving.workspace import Workspace, custom_arch_limits
from workbench.errors import WorkbenchError
from workbench.spec.settings import AdapterSpec
from workbench.ui.language import (CURRENT_LANG, MODULE_COLUMN_IDS, YOUR_PICK, current_language, describe_model,
                                   localize_columns, page_text, page_translator, target_set_label, tr)
from workbench.ui.handlers.common import parse_int_list, user_errors

DEFAULT_RANKS = "1,2,4,8,16,32,64,128,256"
MAX_RANKS = 64


# --------------------------------------------------------------------------- memo

MEMO_SIZE = 256
_MEMO: "OrderedDict[tuple, object]" = OrderedDict()
_MEMO_LOCK = threading.Lock()


def _immutable(model_name: str) -> bool:
    """True when the same name always means the same architecture: shipped presets (embedded, meta) and
    custom architectures, whose config.json lives in a folder named by the hash of its content."""
    try:
        ref = M.resolve(model_name)
    except Exception:  # noqa: BLE001 - not cacheable; the handler itself reports the problem
        return False
    if ref.kind in ("embedded", "arch"):
        return True
    custom = (M.cache_dir() / "custom").resolve()
    return ref.kind == "config" and bool(ref.path) and Path(ref.path).resolve().is_relative_to(custom)


def _frozen(v):
    if isinstance(v, (list, tuple)):
        return tuple(_frozen(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _frozen(x)) for k, x in v.items()))
    return v


def _fresh(v):
    """What the caller gets from the memo: DataFrames copied (a caller may change its own), the rest shared
    (figures, strings and tuples are only read by Gradio)."""
    if isinstance(v, pd.DataFrame):
        return v.copy()
    if isinstance(v, tuple):
        return tuple(_fresh(x) for x in v)
    if isinstance(v, list):
        return [_fresh(x) for x in v]
    return v


def memoized(fn):
    """Remember ``fn``'s result per (model, arguments, page language) for models that cannot change.

    Thirty workshop users opening the same model all ask for the same module table and rank chart: the
    first call computes it, the rest are served from here (LRU of MEMO_SIZE results). Errors are not kept.
    """
    @functools.wraps(fn)
    def wrapper(model_name, *args, progress=None, **kwargs):
        call = functools.partial(fn, model_name, *args, **kwargs)
        if progress is not None:
            call = functools.partial(call, progress=progress)
        if not isinstance(model_name, str) or not _immutable(model_name):
            return call()
        key = (fn.__name__, model_name, _frozen(args), _frozen(kwargs), CURRENT_LANG.get())
        try:
            hash(key)
        except TypeError:
            return call()
        with _MEMO_LOCK:
            if key in _MEMO:
                _MEMO.move_to_end(key)
                return _fresh(_MEMO[key])
        out = call()
        with _MEMO_LOCK:
            _MEMO[key] = out
            while len(_MEMO) > MEMO_SIZE:
                _MEMO.popitem(last=False)
        return _fresh(out)
    return wrapper


def clear_memo() -> None:
    with _MEMO_LOCK:
        _MEMO.clear()


def model_choices() -> list[str]:
    """Preset names for the model dropdown (embedded first, then architecture-only)."""
    return M.preset_names("embedded") + M.preset_names("arch")


def _model_for_inspection(name: str, progress=None):
    """Real weights where the model has them and they are local; else the meta-device architecture."""
    Workspace(None).check_model_name(name)  # public mode: no server paths (issue 13)
    ref = M.resolve(name)
    if ref.kind in ("embedded", "local"):
        model, _tok = M.MODEL_CACHE.get(name, progress=progress)
        return model, ref, True
    return M.MODEL_CACHE.meta(name), ref, False


def _counting_model(name: str):
    """Counting only needs shapes: always the meta-device architecture (cheap, shared)."""
    Workspace(None).check_model_name(name)  # public mode: no server paths (issue 13)
    return M.MODEL_CACHE.meta(name)


CUSTOM_LIMITS = {"hidden size": 65_536, "layers": 512, "heads": 1_024, "KV heads": 1_024,
                 "intermediate size": 1_048_576, "vocab": 2_097_152}
"""Upper bounds for a custom architecture: well above real models (Llama-3-405B has 126 layers), low enough that
one request cannot make the server build a module tree with millions of layers (an hour of CPU, tens of GB)."""


def _whole(v, name: str, hi: int) -> int:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise WorkbenchError("ui.whole_number", field=name, value=v) from None
    if not f.is_integer() or not 1 <= f <= hi:
        raise WorkbenchError("ui.whole_number_range", field=name, hi=hi, value=v)
    return int(f)


@user_errors
def custom_model(hidden_size: float, num_layers: float, num_heads: float, num_kv_heads: float,
                 intermediate_size: float, vocab_size: float, tie_embeddings: bool = False) -> str:
    """Build a custom Llama-style decoder config; returns a model name (path to its config.json)."""
    limits = custom_arch_limits(CUSTOM_LIMITS)  # tighter in public mode (core/serving/workspace.py)
    values = [_whole(v, name, hi) for v, (name, hi) in zip(
        (hidden_size, num_layers, num_heads, num_kv_heads, intermediate_size, vocab_size), limits.items())]
    cfg = M.custom_decoder_config(*values, bool(tie_embeddings))
    data = cfg.to_dict()
    key = hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]
    d = M.cache_dir() / "custom" / key
    d.mkdir(parents=True, exist_ok=True)
    path = d / "config.json"
    path.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    return str(path)


@user_errors
@memoized
def inspect_model(model_name: str, filter_text: str = "", progress=None):
    """-> (summary markdown, modules DataFrame, grouped DataFrame, linear leaf names, default targets)."""
    model, ref, real = _model_for_inspection(model_name, progress)
    total = modules.total_params(model)
    rows = modules.list_modules(model)
    groups = modules.group_by_leaf(model)
    leaves = modules.linear_leaf_names(model)
    defaults = modules.default_targets(model)
    cfg = model.config
    where = (tr("ui.real_weights", dtype=str(next(model.parameters()).dtype).replace("torch.", "")) if real
             else tr("ui.architecture_only"))
    facts = [
        tr("ui.model_summary", model_type=cfg.model_type,
           cls=type(model).__name__, total=total, human=plots.human(total)),
        where,
        tr("ui.module_summary", n=len(rows), k=len(leaves),
           leaves=", ".join(leaves)),
        tr("ui.default_targets", model_type=cfg.model_type,
           targets=", ".join(defaults)),
    ]
    summary = f"### {model_name}\n{describe_model(ref)}\n\n" + "\n".join(f"- {f}" for f in facts)
    return (summary, localize_columns(modules_frame(rows, filter_text), overrides=MODULE_COLUMN_IDS),
            localize_columns(groups_frame(groups)), leaves, defaults)


def modules_frame(rows, filter_text: str = "") -> pd.DataFrame:
    data = [asdict(r) if not isinstance(r, dict) else r for r in rows]
    df = pd.DataFrame(data, columns=["name", "type", "in_features", "out_features", "shape", "params", "dtype",
                                     "trainable"])
    if filter_text and filter_text.strip():
        try:
            mask = df["name"].str.contains(filter_text.strip(), regex=True, case=False)
        except re.error:
            mask = df["name"].str.contains(filter_text.strip(), regex=False, case=False)
        df = df[mask | df["type"].str.contains(filter_text.strip(), regex=False, case=False)]
    return df.reset_index(drop=True)


@user_errors
@memoized
def filter_modules(model_name: str, filter_text: str) -> pd.DataFrame:
    model, _ref, _real = _model_for_inspection(model_name)
    return localize_columns(modules_frame(modules.list_modules(model), filter_text), overrides=MODULE_COLUMN_IDS)


def groups_frame(groups) -> pd.DataFrame:
    data = []
    for g in groups:
        g = asdict(g) if not isinstance(g, dict) else g
        data.append({"leaf": f"{g['leaf']} x{g['count']}", "type": g["type"], "in_features": g["in_features"],
                     "out_features": g["out_features"], "params each": g["params_each"],
                     "params total": g["params_each"] * g["count"]})
    return pd.DataFrame(data, columns=["leaf", "type", "in_features", "out_features", "params each", "params total"])


@user_errors
@memoized
def match_view(model_name: str, checked: list[str], regex: str, all_linear: bool, rank: float,
               method: str = "lora"):
    """Live target picker result -> (markdown summary, DataFrame of matched module names)."""
    targets = from_picker(checked, regex, all_linear)
    model = _counting_model(model_name)
    matched = modules.match_targets(model, targets)
    spec = AdapterSpec(method=method if methods.get(method).has_rank else "lora", r=int(rank),
                       target_modules=targets)
    c = params.count(model, spec)
    shown = targets if isinstance(targets, str) else ", ".join(targets)
    md = tr("ui.match_summary", n=len(matched),
            targets=shown, r=int(rank), trainable=c.trainable, total=c.total, percent=c.percent,
            fp32=plots.human_bytes(c.adapter_bytes_fp32), bf16=plots.human_bytes(c.adapter_bytes_bf16))
    return md, localize_columns(pd.DataFrame({"matched module": matched}))


# --------------------------------------------------------------------------- rank explorer

TARGET_SET_LABELS = (*TARGET_SET_NAMES, YOUR_PICK)
"""The rank explorer's choices: core's named target sets (modules.target_sets) and the Inspect tab's pick."""


def _reference_specs(virtual_tokens: int, tr) -> dict[str, AdapterSpec]:
    """The other methods' reference lines (each record's ``chart_refs``), labelled in ``tr``'s language."""
    v = int(virtual_tokens)
    refs = {}
    for record in methods.all_methods():
        tokens = {"num_virtual_tokens": v} if record.is_prompt_learning else {}
        for label_id, settings in record.chart_refs:
            refs[tr(label_id, v=v)] = AdapterSpec(method=record.name, **tokens, **dict(settings))
    return refs


@user_errors
@memoized
def rank_view(model_name: str, sets: list[str], custom_checked: list[str] | None, custom_regex: str,
              ranks_text: str = DEFAULT_RANKS, logx: bool = True, logy: bool = True, virtual_tokens: float = 20,
              use_dora: bool = False, bias: str = "none", use_rslora: bool = False, show_references: bool = True):
    """-> (params figure, percent figure, DataFrame of every point), worded in the page's language (labels,
    figure text, headers; the English labels are the names the inputs use)."""
    ranks = parse_int_list(ranks_text, "ranks")
    if len(ranks) > MAX_RANKS:  # every rank is a sweep point per target set: 3,000 of them took 10 s of CPU
        raise WorkbenchError("ui.too_many_ranks", n=MAX_RANKS, got=len(ranks))
    model = _counting_model(model_name)
    available = target_sets(model)
    chosen: dict[str, list[str] | str] = {}
    for label in sets or []:
        if label == YOUR_PICK:
            if custom_checked or (custom_regex and custom_regex.strip()):
                chosen[YOUR_PICK] = from_picker(custom_checked, custom_regex, False)
        elif label in available:
            chosen[label] = available[label]
    if not chosen:
        raise WorkbenchError("ui.no_target_set")
    shown = page_translator()  # target-set labels, figure text
    lang = current_language()  # the table names each method with its group: "additive · ia3"
    series, table = {}, []
    for label, targets in chosen.items():
        spec = AdapterSpec(method=methods.variant("lora", use_dora=use_dora), r=ranks[0], target_modules=targets,
                           bias=bias, use_rslora=use_rslora)
        rows = params.sweep(model, spec, ranks)
        series[target_set_label(label, shown)] = rows
        for r in rows:
            table.append({"target set": target_set_label(label, shown), "method": methods.label(r.method, lang),
                          "rank": r.rank, "trainable": r.trainable,
                          "% of model": round(r.percent, 6), "layers": r.layers,
                          "adapter fp32": plots.human_bytes(r.adapter_bytes_fp32),
                          "adapter bf16": plots.human_bytes(r.adapter_bytes_bf16)})
    refs = {}
    if show_references:
        for label, spec in _reference_specs(virtual_tokens, shown).items():
            try:
                c = params.count(model, spec)
            except (WorkbenchError, ValueError):
                continue  # method not applicable to this architecture
            refs[label] = c
            table.append({"target set": label, "method": methods.label(c.method, lang), "rank": None,
                          "trainable": c.trainable,
                          "% of model": round(c.percent, 6), "layers": c.layers,
                          "adapter fp32": plots.human_bytes(c.adapter_bytes_fp32),
                          "adapter bf16": plots.human_bytes(c.adapter_bytes_bf16)})
    fig_p = plots.rank_chart(series, refs, y="trainable", logx=logx, logy=logy, model_name=model_name, tr=shown)
    fig_pct = plots.rank_chart(series, refs, y="percent", logx=logx, logy=logy, model_name=model_name, tr=shown)
    return fig_p, fig_pct, localize_columns(pd.DataFrame(table))


# --------------------------------------------------------------------------- any method against its own size knob

SIZE_METHOD = "lora"
"""The method the size-knob section shows first."""


def default_sizes_text(method: str) -> str:
    """The sizes box's text for ``method``: its size knob's default values ('' for a method without one)."""
    return ", ".join(str(v) for v in knob_sizes.default_sizes(method))


def _size_spec(model, method: str, targets_label: str, custom_checked: list[str] | None,
               custom_regex: str) -> AdapterSpec:
    """``method`` with its defaults; a method that wraps layers gets the chosen target set (PEFT default: the
    method's own default targets)."""
    record = methods.get(method)
    if not (record.wraps_layers and "target_modules" in record.knobs) or targets_label == PEFT_DEFAULT:
        return AdapterSpec(method=method)
    if targets_label == YOUR_PICK:
        return AdapterSpec(method=method, target_modules=from_picker(custom_checked, custom_regex, False))
    available = target_sets(model)
    if targets_label not in available:
        return AdapterSpec(method=method)
    return AdapterSpec(method=method, target_modules=available[targets_label])


@user_errors
@memoized
def size_view(model_name: str, method: str = SIZE_METHOD, sizes_text: str = "", targets_label: str = PEFT_DEFAULT,
              custom_checked: list[str] | None = None, custom_regex: str = "", logx: bool = True, logy: bool = True,
              progress=None):
    """One method against its own size knob (its ``budget_knob``) -> (params figure, percent figure, DataFrame,
    note markdown). An empty sizes box sweeps the knob's default values; a method without a size knob gets its one
    count and a note saying so. Every size is checked before anything is counted."""
    record = methods.get(method)
    knob = record.budget_knob
    model = _counting_model(model_name)
    spec = _size_spec(model, method, targets_label, custom_checked, custom_regex)
    lang = current_language()
    label = methods.label(method, lang)
    if knob is None:
        rows = [params.count(model, spec)]
        note = tr("ui.size_no_knob", method=label)
    else:
        given = sizes_text if isinstance(sizes_text, str) and sizes_text.strip() else default_sizes_text(method)
        sizes = knob_sizes.check_sizes(spec, parse_int_list(given, "sizes"))
        rows = []
        for i, v in enumerate(sizes):  # one value at a time: the methods PEFT counts take a while each
            if progress is not None:
                progress((i, len(sizes)), desc=tr("ui.counting_size", knob=knob, size=v))
            rows += params.sweep(model, spec, [v])
        note = tr("ui.size_knob_note", method=label, knob=knob, default=spec.knob(knob), n=len(rows))
    shown = page_translator()  # figure text
    table = [{"method": methods.label(r.method, lang), "size": f"{r.knob}={r.size}" if r.knob else "-",
              "trainable": r.trainable, "% of model": round(r.percent, 6), "layers": r.layers,
              "adapter fp32": plots.human_bytes(r.adapter_bytes_fp32)} for r in rows]
    figs = [plots.size_chart(rows, y=y, method=label, knob=knob, logx=logx, logy=logy, model_name=model_name, tr=shown)
            for y in ("trainable", "percent")]
    return figs[0], figs[1], localize_columns(pd.DataFrame(table)), note


@user_errors
@memoized
def memory_view(model_name: str, rank: float = 8, targets_label: str = PEFT_DEFAULT, batch: float = 8,
                seq_len: float = 256, precision: str = "fp32", checkpointing: bool = False):
    """-> (stacked bar figure, DataFrame, formula markdown) for full FT vs LoRA vs QLoRA at one batch shape."""
    model = _counting_model(model_name)
    sets = target_sets(model)
    targets = sets.get(targets_label, sets[PEFT_DEFAULT])
    work = memory.Workload(batch=int(batch), seq=int(seq_len), precision=precision, checkpointing=bool(checkpointing))
    rows = memory.memory_estimate(model, AdapterSpec(method="lora", r=int(rank), target_modules=targets), work=work)
    shown = page_translator()  # figure text
    formulas = ["; ".join(page_text(r.formulas[p]) for p in memory.PARTS if p in r.formulas) for r in rows]
    rows = [replace(r, setup=page_text(r.setup_message), formula=f) for r, f in zip(rows, formulas)]
    df = pd.DataFrame([{"setup": r.setup, "baseline": plots.human_bytes(r.baseline_bytes),
                        "weights": plots.human_bytes(r.weights_bytes),
                        "gradients": plots.human_bytes(r.grads_bytes),
                        "optimizer": plots.human_bytes(r.optimizer_bytes),
                        "activations": plots.human_bytes(r.activations_bytes),
                        "logits + loss": plots.human_bytes(r.logits_bytes),
                        "total (estimate)": plots.human_bytes(r.total_bytes)} for r in rows])
    md = tr("ui.memory_how") + \
        "\n\n" + "\n".join(f"- **{r.setup}**: {r.formula}" for r in rows)
    title = tr("ui.memory_title_work", model=model_name, r=int(rank), batch=int(batch), seq=int(seq_len),
               precision=precision, ckpt=tr("ui.memory_ckpt") if checkpointing else "")
    return plots.memory_chart(rows, title=title, tr=shown), localize_columns(df), md

"""Plotly figure builders from plain rows (dicts / dataclass-like objects). No gradio, no torch.

Every figure function takes ``tr``: a catalogue translator ``(msg_id, **params) -> str`` bound to the page's
language (``workbench.messages.translator(lang)``); None means English. Every text of a figure (a title, an axis
title, a trace name, a hover template) is a ``charts.*`` message rendered with its values. Names the caller
passes in (model names, variants, module names) are shown as given; a name that is a ``Message`` (a target-set
label, a memory setup) is rendered in the translator's language.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import plotly.graph_objects as go

from workbench.messages import translator

Translator = Callable[..., str]

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#db2777"]


def human(n: float) -> str:
    """1234567 -> '1.23M' (params)."""
    n = float(n)
    for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.3g}{unit}"
    return f"{n:.0f}"


def human_bytes(n: float) -> str:
    n = float(n)
    for unit, div in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.3g} {unit}"
    return f"{n:.0f} B"


def _translator(tr: Translator | None) -> Translator:
    return tr or translator("en")


def _name(_: Translator, value: Any) -> str:
    """A name shown as given, or a Message rendered in the translator's language."""
    return _("common.name", name=value)


def _get(row: Any, key: str):
    return row[key] if isinstance(row, dict) else getattr(row, key)


def _layout(fig: go.Figure, title: str, xtitle: str, ytitle: str, logx=False, logy=False) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=xtitle, yaxis_title=ytitle, template="plotly_white",
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), margin=dict(l=60, r=20, t=70, b=50),
                      hovermode="closest", height=430)
    if logx:
        fig.update_xaxes(type="log")
    if logy:
        fig.update_yaxes(type="log")
    return fig


def rank_chart(series: dict[str, list[Any]], references: dict[str, Any] | None = None, y: str = "trainable",
               logx: bool = True, logy: bool = True, model_name: str = "", tr: Translator | None = None) -> go.Figure:
    """Trainable params (y='trainable') or % of model (y='percent') against LoRA rank.

    ``series``: target-set label -> rows with rank, trainable, total, percent, adapter_bytes_fp32, adapter_bytes_bf16.
    ``references``: label -> one row (prompt tuning, prefix tuning, ...) drawn as a horizontal line.
    """
    _ = _translator(tr)
    fig = go.Figure()
    for i, (label, rows) in enumerate(series.items()):
        if not rows:
            continue
        label = _name(_, label)
        xs = [_get(r, "rank") for r in rows]
        ys = [_get(r, y) for r in rows]
        text = [_("charts.rank_hover", label=label, rank=_get(r, "rank"), trainable=_get(r, "trainable"),
                  human=human(_get(r, "trainable")), percent=_get(r, "percent"),
                  fp32=human_bytes(_get(r, "adapter_bytes_fp32")),
                  bf16=human_bytes(_get(r, "adapter_bytes_bf16"))) for r in rows]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=label, hovertext=text, hoverinfo="text",
                                 line=dict(color=PALETTE[i % len(PALETTE)], width=2)))
    all_ranks = sorted({_get(r, "rank") for rows in series.values() for r in rows}) or [1, 256]
    for j, (label, row) in enumerate((references or {}).items()):
        yv = _get(row, y)
        if yv is None or (logy and yv <= 0):
            continue
        label = _name(_, label)
        hover = _("charts.reference_hover", label=label, trainable=_get(row, "trainable"), percent=_get(row, "percent"))
        fig.add_trace(go.Scatter(x=[all_ranks[0], all_ranks[-1]], y=[yv, yv], mode="lines", name=label,
                                 hovertext=[hover, hover], hoverinfo="text",
                                 line=dict(dash="dash", width=1.5, color=PALETTE[(j + 4) % len(PALETTE)])))
    ytitle = _("charts.trainable_parameters") if y == "trainable" else _("charts.percent_of_model")
    title = _("charts.rank_title") if y == "trainable" else _("charts.share_title")
    if model_name:
        title += f" - {model_name}"
    return _layout(fig, title, _("charts.lora_rank"), ytitle, logx=logx, logy=logy)


def size_chart(rows: Iterable[Any], y: str = "trainable", method: str = "", knob: str | None = None,
               logx: bool = True, logy: bool = True, model_name: str = "", tr: Translator | None = None) -> go.Figure:
    """Trainable params (y='trainable') or % of model (y='percent') of one method against its own size knob.

    ``rows``: counts with size, trainable, percent, adapter_bytes_fp32, adapter_bytes_bf16 (``counting.sweep``'s
    ParamCount); ``method``: its label, shown as given; ``knob``: the size knob's name, None for a method without one
    (its one count is drawn as a single point).
    """
    _ = _translator(tr)
    rows = list(rows)
    label = _name(_, method)
    if knob is None:
        xs = [label] * len(rows)
        text = [_("charts.fixed_hover", label=label, trainable=_get(r, "trainable"), human=human(_get(r, "trainable")),
                  percent=_get(r, "percent"), fp32=human_bytes(_get(r, "adapter_bytes_fp32"))) for r in rows]
        logx = False
    else:
        xs = [_get(r, "size") for r in rows]
        text = [_("charts.size_hover", label=label, knob=knob, size=_get(r, "size"), trainable=_get(r, "trainable"),
                  human=human(_get(r, "trainable")), percent=_get(r, "percent"),
                  fp32=human_bytes(_get(r, "adapter_bytes_fp32")), bf16=human_bytes(_get(r, "adapter_bytes_bf16")))
                for r in rows]
    fig = go.Figure(go.Scatter(x=xs, y=[_get(r, y) for r in rows], mode="lines+markers", name=label, hovertext=text,
                               hoverinfo="text", marker=dict(size=9), line=dict(color=PALETTE[0], width=2)))
    ytitle = _("charts.trainable_parameters") if y == "trainable" else _("charts.percent_of_model")
    if knob is None:
        title = _("charts.fixed_title", method=label)
        xtitle = _("charts.no_size_knob")
    else:
        title = _("charts.size_title" if y == "trainable" else "charts.size_share_title", method=label, knob=knob)
        xtitle = _("charts.size_axis", method=label, knob=knob)
    if model_name:
        title += f" - {model_name}"
    return _layout(fig, title, xtitle, ytitle, logx=logx, logy=logy)


def memory_chart(rows: Iterable[Any], title: str | None = None, tr: Translator | None = None) -> go.Figure:
    """Stacked bars: baseline / weights / gradients / optimizer states / activations / logits per setup (full FT,
    LoRA, QLoRA; core/model/memory_estimate.py ``MemoryEstimate``; parts a row lacks or that are all zero are left out).

    ``title``: shown as given; None: "Training memory estimate (before activations)", translated. A row's
    ``setup_message`` (when it has one) is shown in the translator's language, else its ``setup``."""
    _ = _translator(tr)
    title = _("charts.memory_title") if title is None else title
    rows = list(rows)
    setups = [_name(_, getattr(r, "setup_message", None) or _get(r, "setup")) for r in rows]
    fig = go.Figure()
    for key, label, color in (("baseline_bytes", _("charts.baseline"), "#9ca3af"),
                              ("weights_bytes", _("charts.weights"), "#2563eb"),
                              ("grads_bytes", _("charts.gradients"), "#f59e0b"),
                              ("optimizer_bytes", _("charts.optimizer_states"), "#dc2626"),
                              ("activations_bytes", _("charts.activations"), "#16a34a"),
                              ("logits_bytes", _("charts.logits"), "#7c3aed")):
        vals = [(r.get(key, 0) if isinstance(r, dict) else getattr(r, key, 0)) / 1e9 for r in rows]
        if key not in ("weights_bytes", "grads_bytes", "optimizer_bytes") and not any(vals):
            continue  # parts an estimate without a workload does not have
        fig.add_trace(go.Bar(x=setups, y=vals, name=label, marker_color=color,
                             hovertemplate="%{x}<br>" + label + ": %{y:.3g} GB<extra></extra>"))
    totals = [_get(r, "total_bytes") / 1e9 for r in rows]
    fig.add_trace(go.Scatter(x=setups, y=totals, mode="text", text=[f"{t:.3g} GB" for t in totals],
                             textposition="top center", showlegend=False, hoverinfo="skip"))
    fig.update_layout(barmode="stack")
    return _layout(fig, title, "", _("charts.gb_estimate"))


def loss_chart(log_rows: Iterable[dict], title: str | None = None, tr: Translator | None = None) -> go.Figure:
    """Training loss (and eval loss where logged) against step. ``title``: shown as given; None: "Loss", translated."""
    _ = _translator(tr)
    title = _("charts.loss_title") if title is None else title
    train = [(r["step"], r["loss"]) for r in log_rows if r.get("loss") is not None]
    evals = [(r["step"], r["eval_loss"]) for r in log_rows if r.get("eval_loss") is not None]
    fig = go.Figure()
    if train:
        fig.add_trace(go.Scatter(x=[s for s, _ in train], y=[l for _, l in train], mode="lines+markers",
                                 name=_("charts.train_loss"), line=dict(color="#2563eb")))
    if evals:
        fig.add_trace(go.Scatter(x=[s for s, _ in evals], y=[l for _, l in evals], mode="lines+markers",
                                 name=_("charts.heldout_loss"), line=dict(color="#dc2626", dash="dot")))
    if not train and not evals:
        fig.add_annotation(text=_("charts.loss_empty"), showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper")
    return _layout(fig, title, _("charts.step"), _("charts.loss"))


def eval_chart(rows: Iterable[Any], tr: Translator | None = None) -> go.Figure:
    """Bars of the dataset metric per variant (base vs adapters), perplexity on hover."""
    _ = _translator(tr)
    rows = list(rows)
    names = [_get(r, "variant") for r in rows]
    fig = go.Figure(go.Bar(x=names, y=[_get(r, "score") for r in rows],
                           marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(rows))],
                           hovertext=[_("charts.eval_hover", metric=_get(r, "metric"), score=_get(r, "score"),
                                        perplexity=_get(r, "perplexity"), n=_get(r, "n")) for r in rows],
                           hoverinfo="text"))
    metric = _get(rows[0], "metric") if rows else _("charts.score")
    fig.update_yaxes(range=[0, 1])
    return _layout(fig, _("charts.eval_title", metric=metric), "", metric)


def update_heatmap(stats: Iterable[Any], tr: Translator | None = None) -> go.Figure:
    """Layers x modules heatmap of ||B @ A * scaling||_F."""
    _ = _translator(tr)
    stats = list(stats)
    layers = sorted({_get(s, "layer") for s in stats})
    modules = sorted({_get(s, "module") for s in stats})
    z = [[math.nan] * len(modules) for _ in layers]
    for s in stats:
        z[layers.index(_get(s, "layer"))][modules.index(_get(s, "module"))] = _get(s, "norm")
    fig = go.Figure(go.Heatmap(z=z, x=modules, y=layers, colorscale="Viridis", colorbar=dict(title="||dW||")))
    return _layout(fig, _("charts.heatmap_title"), _("charts.module"), _("charts.layer"))


def spectrum_chart(stats: Iterable[Any], max_lines: int = 12, tr: Translator | None = None) -> go.Figure:
    """Singular values of each update dW (one line per layer/module), normalised to the largest."""
    _ = _translator(tr)
    fig = go.Figure()
    for i, s in enumerate(list(stats)[:max_lines]):
        sv = list(_get(s, "singular_values"))
        if not sv or sv[0] == 0:
            continue
        fig.add_trace(go.Scatter(x=list(range(1, len(sv) + 1)), y=[v / sv[0] for v in sv], mode="lines+markers",
                                 name=_("charts.spectrum_trace", layer=_get(s, "layer"), module=_get(s, "module"),
                                        rank=_get(s, "effective_rank"))))
    return _layout(fig, _("charts.spectrum_title"), _("charts.singular_value_index"), "sigma_i / sigma_1")


# --------------------------------------------------------------------------- Experiments tab (exptab.* messages)

def cost_chart(rows: Iterable[Any], tr: Translator | None = None) -> go.Figure:
    """Time (left axis) and peak memory next to its estimate (right axis) per run; rows: ``RunRow``-like with
    label, wall_s, peak_mem_mb, est_mem_mb (None where not measured yet)."""
    _ = _translator(tr)
    rows = [r for r in rows if _get(r, "wall_s") is not None or _get(r, "peak_mem_mb") is not None]
    labels = [_get(r, "label") for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=[_get(r, "wall_s") for r in rows], name=_("exptab.chart_seconds"),
                         marker_color=PALETTE[0], offsetgroup=0))
    fig.add_trace(go.Bar(x=labels, y=[_get(r, "peak_mem_mb") for r in rows], name=_("exptab.chart_peak"),
                         marker_color=PALETTE[1], yaxis="y2", offsetgroup=1))
    fig.add_trace(go.Bar(x=labels, y=[_get(r, "est_mem_mb") for r in rows], name=_("exptab.chart_estimate"),
                         marker_color="#fca5a5", yaxis="y2", offsetgroup=2))
    fig.update_layout(barmode="group", yaxis2=dict(title=_("exptab.chart_peak"), overlaying="y", side="right"))
    if not rows:
        fig.add_annotation(text=_("exptab.chart_no_runs"), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return _layout(fig, _("exptab.chart_cost_title"), "", _("exptab.chart_seconds"))

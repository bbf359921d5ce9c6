"""Plotly figure builders from plain rows (dicts / dataclass-like objects). No gradio, no torch.

Every figure function takes ``tr``: a function that turns each English text of the figure (a title, an axis
title, a trace name, a hover template) into the page's language; None keeps the English. Templates with
``{fields}`` are translated first and formatted after, so a translation keeps every value. Names the caller
passes in (model names, target-set labels, setups, variants, module names) are shown as given.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

Translator = Callable[[str], str]

import plotly.graph_objects as go

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


def _same(text: str) -> str:
    return text


def _translator(tr: Translator | None) -> Translator:
    return tr or _same


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
    hover_t = _("{label}<br>rank {rank}<br>{trainable:,} params ({human})<br>{percent:.4f}% of model<br>adapter file: "
                "{fp32} fp32, {bf16} bf16")
    fig = go.Figure()
    for i, (label, rows) in enumerate(series.items()):
        if not rows:
            continue
        xs = [_get(r, "rank") for r in rows]
        ys = [_get(r, y) for r in rows]
        text = [hover_t.format(label=label, rank=_get(r, "rank"), trainable=_get(r, "trainable"),
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
        hover = _("{label}<br>{trainable:,} params<br>{percent:.4f}% of model<br>(does not depend on rank)").format(
            label=label, trainable=_get(row, "trainable"), percent=_get(row, "percent"))
        fig.add_trace(go.Scatter(x=[all_ranks[0], all_ranks[-1]], y=[yv, yv], mode="lines", name=label,
                                 hovertext=[hover, hover], hoverinfo="text",
                                 line=dict(dash="dash", width=1.5, color=PALETTE[(j + 4) % len(PALETTE)])))
    ytitle = _("trainable parameters") if y == "trainable" else _("% of model parameters")
    title = (_("Trainable parameters vs LoRA rank") if y == "trainable"
             else _("Share of the model that trains vs LoRA rank"))
    if model_name:
        title += f" - {model_name}"
    return _layout(fig, title, _("LoRA rank r"), ytitle, logx=logx, logy=logy)


def memory_chart(rows: Iterable[Any], title: str | None = None, tr: Translator | None = None) -> go.Figure:
    """Stacked bars: weights / gradients / optimizer states per setup (full FT, LoRA, QLoRA).

    ``title``: shown as given; None: "Training memory estimate (before activations)", translated."""
    _ = _translator(tr)
    title = _("Training memory estimate (before activations)") if title is None else title
    rows = list(rows)
    setups = [_get(r, "setup") for r in rows]
    fig = go.Figure()
    for key, label, color in (("weights_bytes", _("weights"), "#2563eb"), ("grads_bytes", _("gradients"), "#f59e0b"),
                              ("optimizer_bytes", _("optimizer states (Adam)"), "#dc2626")):
        vals = [_get(r, key) / 1e9 for r in rows]
        fig.add_trace(go.Bar(x=setups, y=vals, name=label, marker_color=color,
                             hovertemplate="%{x}<br>" + label + ": %{y:.3g} GB<extra></extra>"))
    totals = [_get(r, "total_bytes") / 1e9 for r in rows]
    fig.add_trace(go.Scatter(x=setups, y=totals, mode="text", text=[f"{t:.3g} GB" for t in totals],
                             textposition="top center", showlegend=False, hoverinfo="skip"))
    fig.update_layout(barmode="stack")
    return _layout(fig, title, "", _("GB (estimate)"))


def loss_chart(log_rows: Iterable[dict], title: str | None = None, tr: Translator | None = None) -> go.Figure:
    """Training loss (and eval loss where logged) against step. ``title``: shown as given; None: "Loss", translated."""
    _ = _translator(tr)
    title = _("Loss") if title is None else title
    train = [(r["step"], r["loss"]) for r in log_rows if r.get("loss") is not None]
    evals = [(r["step"], r["eval_loss"]) for r in log_rows if r.get("eval_loss") is not None]
    fig = go.Figure()
    if train:
        fig.add_trace(go.Scatter(x=[s for s, _ in train], y=[l for _, l in train], mode="lines+markers",
                                 name=_("train loss"), line=dict(color="#2563eb")))
    if evals:
        fig.add_trace(go.Scatter(x=[s for s, _ in evals], y=[l for _, l in evals], mode="lines+markers",
                                 name=_("held-out loss"), line=dict(color="#dc2626", dash="dot")))
    if not train and not evals:
        fig.add_annotation(text=_("The loss curve appears here once the first step is logged."), showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper")
    return _layout(fig, title, _("step"), _("loss"))


def eval_chart(rows: Iterable[Any], tr: Translator | None = None) -> go.Figure:
    """Bars of the dataset metric per variant (base vs adapters), perplexity on hover."""
    _ = _translator(tr)
    hover_t = _("{metric}: {score:.3f}<br>perplexity: {perplexity:.3f}<br>n = {n}")
    rows = list(rows)
    names = [_get(r, "variant") for r in rows]
    fig = go.Figure(go.Bar(x=names, y=[_get(r, "score") for r in rows],
                           marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(rows))],
                           hovertext=[hover_t.format(metric=_get(r, "metric"), score=_get(r, "score"),
                                                     perplexity=_get(r, "perplexity"), n=_get(r, "n")) for r in rows],
                           hoverinfo="text"))
    metric = _get(rows[0], "metric") if rows else _("score")
    fig.update_yaxes(range=[0, 1])
    return _layout(fig, _("Held-out {metric}: base vs adapted").format(metric=metric), "", metric)


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
    return _layout(fig, _("Size of the learned update per layer and module"), _("module"), _("layer"))


def spectrum_chart(stats: Iterable[Any], max_lines: int = 12, tr: Translator | None = None) -> go.Figure:
    """Singular values of each update dW (one line per layer/module), normalised to the largest."""
    _ = _translator(tr)
    name_t = _("L{layer} {module} (eff. rank {rank:.2f})")
    fig = go.Figure()
    for i, s in enumerate(list(stats)[:max_lines]):
        sv = list(_get(s, "singular_values"))
        if not sv or sv[0] == 0:
            continue
        fig.add_trace(go.Scatter(x=list(range(1, len(sv) + 1)), y=[v / sv[0] for v in sv], mode="lines+markers",
                                 name=name_t.format(layer=_get(s, "layer"), module=_get(s, "module"),
                                                    rank=_get(s, "effective_rank"))))
    return _layout(fig, _("Singular values of the update (normalised): how many directions it really uses"),
                   _("singular value index"), "sigma_i / sigma_1")

"""Plotly figure builders from plain rows (dicts / dataclass-like objects). No gradio, no torch."""
from __future__ import annotations

import math
from typing import Any, Iterable

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
               logx: bool = True, logy: bool = True, model_name: str = "") -> go.Figure:
    """Trainable params (y='trainable') or % of model (y='percent') against LoRA rank.

    ``series``: target-set label -> rows with rank, trainable, total, percent, adapter_bytes_fp32, adapter_bytes_bf16.
    ``references``: label -> one row (prompt tuning, prefix tuning, ...) drawn as a horizontal line.
    """
    fig = go.Figure()
    for i, (label, rows) in enumerate(series.items()):
        if not rows:
            continue
        xs = [_get(r, "rank") for r in rows]
        ys = [_get(r, y) for r in rows]
        text = [f"{label}<br>rank {_get(r, 'rank')}<br>{_get(r, 'trainable'):,} params ({human(_get(r, 'trainable'))})"
                f"<br>{_get(r, 'percent'):.4f}% of model<br>adapter file: {human_bytes(_get(r, 'adapter_bytes_fp32'))} fp32, "
                f"{human_bytes(_get(r, 'adapter_bytes_bf16'))} bf16" for r in rows]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=label, hovertext=text, hoverinfo="text",
                                 line=dict(color=PALETTE[i % len(PALETTE)], width=2)))
    all_ranks = sorted({_get(r, "rank") for rows in series.values() for r in rows}) or [1, 256]
    for j, (label, row) in enumerate((references or {}).items()):
        yv = _get(row, y)
        if yv is None or (logy and yv <= 0):
            continue
        hover = (f"{label}<br>{_get(row, 'trainable'):,} params<br>{_get(row, 'percent'):.4f}% of model"
                 f"<br>(does not depend on rank)")
        fig.add_trace(go.Scatter(x=[all_ranks[0], all_ranks[-1]], y=[yv, yv], mode="lines", name=label,
                                 hovertext=[hover, hover], hoverinfo="text",
                                 line=dict(dash="dash", width=1.5, color=PALETTE[(j + 4) % len(PALETTE)])))
    ytitle = "trainable parameters" if y == "trainable" else "% of model parameters"
    title = ("Trainable parameters vs LoRA rank" if y == "trainable" else "Share of the model that trains vs LoRA rank")
    if model_name:
        title += f" - {model_name}"
    return _layout(fig, title, "LoRA rank r", ytitle, logx=logx, logy=logy)


def memory_chart(rows: Iterable[Any], title: str = "Training memory estimate (before activations)") -> go.Figure:
    """Stacked bars: weights / gradients / optimizer states per setup (full FT, LoRA, QLoRA)."""
    rows = list(rows)
    setups = [_get(r, "setup") for r in rows]
    fig = go.Figure()
    for key, label, color in (("weights_bytes", "weights", "#2563eb"), ("grads_bytes", "gradients", "#f59e0b"),
                              ("optimizer_bytes", "optimizer states (Adam)", "#dc2626")):
        vals = [_get(r, key) / 1e9 for r in rows]
        fig.add_trace(go.Bar(x=setups, y=vals, name=label, marker_color=color,
                             hovertemplate="%{x}<br>" + label + ": %{y:.3g} GB<extra></extra>"))
    totals = [_get(r, "total_bytes") / 1e9 for r in rows]
    fig.add_trace(go.Scatter(x=setups, y=totals, mode="text", text=[f"{t:.3g} GB" for t in totals],
                             textposition="top center", showlegend=False, hoverinfo="skip"))
    fig.update_layout(barmode="stack")
    return _layout(fig, title, "", "GB (estimate)")


def loss_chart(log_rows: Iterable[dict], title: str = "Loss") -> go.Figure:
    """Training loss (and eval loss where logged) against step."""
    train = [(r["step"], r["loss"]) for r in log_rows if r.get("loss") is not None]
    evals = [(r["step"], r["eval_loss"]) for r in log_rows if r.get("eval_loss") is not None]
    fig = go.Figure()
    if train:
        fig.add_trace(go.Scatter(x=[s for s, _ in train], y=[l for _, l in train], mode="lines+markers",
                                 name="train loss", line=dict(color="#2563eb")))
    if evals:
        fig.add_trace(go.Scatter(x=[s for s, _ in evals], y=[l for _, l in evals], mode="lines+markers",
                                 name="held-out loss", line=dict(color="#dc2626", dash="dot")))
    if not train and not evals:
        fig.add_annotation(text="The loss curve appears here once the first step is logged.", showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper")
    return _layout(fig, title, "step", "loss")


def eval_chart(rows: Iterable[Any]) -> go.Figure:
    """Bars of the dataset metric per variant (base vs adapters), perplexity on hover."""
    rows = list(rows)
    names = [_get(r, "variant") for r in rows]
    fig = go.Figure(go.Bar(x=names, y=[_get(r, "score") for r in rows],
                           marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(rows))],
                           hovertext=[f"{_get(r, 'metric')}: {_get(r, 'score'):.3f}<br>perplexity: "
                                      f"{_get(r, 'perplexity'):.3f}<br>n = {_get(r, 'n')}" for r in rows],
                           hoverinfo="text"))
    metric = _get(rows[0], "metric") if rows else "score"
    fig.update_yaxes(range=[0, 1])
    return _layout(fig, f"Held-out {metric}: base vs adapted", "", metric)


def update_heatmap(stats: Iterable[Any]) -> go.Figure:
    """Layers x modules heatmap of ||B @ A * scaling||_F."""
    stats = list(stats)
    layers = sorted({_get(s, "layer") for s in stats})
    modules = sorted({_get(s, "module") for s in stats})
    z = [[math.nan] * len(modules) for _ in layers]
    for s in stats:
        z[layers.index(_get(s, "layer"))][modules.index(_get(s, "module"))] = _get(s, "norm")
    fig = go.Figure(go.Heatmap(z=z, x=modules, y=layers, colorscale="Viridis", colorbar=dict(title="||dW||")))
    return _layout(fig, "Size of the learned update per layer and module", "module", "layer")


def spectrum_chart(stats: Iterable[Any], max_lines: int = 12) -> go.Figure:
    """Singular values of each update dW (one line per layer/module), normalised to the largest."""
    fig = go.Figure()
    for i, s in enumerate(list(stats)[:max_lines]):
        sv = list(_get(s, "singular_values"))
        if not sv or sv[0] == 0:
            continue
        fig.add_trace(go.Scatter(x=list(range(1, len(sv) + 1)), y=[v / sv[0] for v in sv], mode="lines+markers",
                                 name=f"L{_get(s, 'layer')} {_get(s, 'module')} (eff. rank {_get(s, 'effective_rank'):.2f})"))
    return _layout(fig, "Singular values of the update (normalised): how many directions it really uses",
                   "singular value index", "sigma_i / sigma_1")

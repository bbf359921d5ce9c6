"""Experiment charts from plain rows (``results.RunRow`` or dicts): score vs trainable parameters with the
Pareto front, score vs forgetting, overlaid loss curves, subspace similarity. No gradio, no torch; used by the
report writer and the Experiments tab alike. ``tr``: a catalogue translator bound to the page's language (see
``workbench.plots``); the texts are ``experiments.chart_*`` messages."""
from __future__ import annotations

import math
from typing import Any, Iterable

import plotly.graph_objects as go

from workbench.plots import PALETTE, Translator, _get, _layout, _translator, human

X_AXES = {"step": "experiments.chart_x_step", "tokens": "experiments.chart_x_tokens",
          "elapsed_s": "experiments.chart_x_seconds"}
"""Loss-curve x axes: log.jsonl field (or "tokens", summed from the logged rate) -> axis title id."""


def pareto_labels(rows: Iterable[Any]) -> list[str]:
    """Labels of the rows no other row beats: none has fewer (or equal) trainable params and a higher (or equal)
    score with one of the two strictly better. Rows without a score are left out."""
    pts = [(_get(r, "label"), _get(r, "trainable"), _get(r, "score")) for r in rows]
    pts = [p for p in pts if p[2] is not None and p[1]]
    front = []
    for label, n, s in pts:
        beaten = any((n2 <= n and s2 >= s) and (n2 < n or s2 > s) for _, n2, s2 in pts)
        if not beaten:
            front.append(label)
    return front


def score_chart(rows: Iterable[Any], base: Any = None, tr: Translator | None = None) -> go.Figure:
    """Task score against trainable parameters (log x), one point per run, the Pareto front joined by a line,
    the base model as a dashed horizontal line."""
    _ = _translator(tr)
    rows = [r for r in rows if _get(r, "score") is not None and _get(r, "trainable")]
    front = set(pareto_labels(rows))
    fig = go.Figure()
    for i, r in enumerate(rows):
        on = _get(r, "label") in front
        fig.add_trace(go.Scatter(
            x=[_get(r, "trainable")], y=[_get(r, "score")], mode="markers+text", name=_get(r, "label"),
            text=[_get(r, "label")], textposition="top center",
            marker=dict(size=14 if on else 10, color=PALETTE[i % len(PALETTE)], symbol="star" if on else "circle",
                        line=dict(width=1, color="#111827")),
            hovertext=[_("experiments.chart_score_hover", label=_get(r, "label"), method=_get(r, "method"),
                         trainable=human(_get(r, "trainable")), score=_get(r, "score"))],
            hoverinfo="text"))
    pf = sorted((r for r in rows if _get(r, "label") in front), key=lambda r: _get(r, "trainable"))
    if len(pf) > 1:
        fig.add_trace(go.Scatter(x=[_get(r, "trainable") for r in pf], y=[_get(r, "score") for r in pf],
                                 mode="lines", name=_("experiments.chart_pareto"), line=dict(color="#111827", dash="dot")))
    base_score = _get(base, "score") if base is not None else None
    if base_score is not None:
        fig.add_hline(y=base_score, line=dict(color="#6b7280", dash="dash"),
                      annotation_text=_("experiments.chart_base", score=base_score))
    if not rows:
        fig.add_annotation(text=_("experiments.chart_no_scores"), showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    fig.update_yaxes(range=[-0.05, 1.05])
    metric = next((_get(r, "metric") for r in rows if _get(r, "metric")), None) or _("experiments.chart_score")
    return _layout(fig, _("experiments.chart_score_title", metric=metric), _("experiments.chart_trainable_log"),
                   metric, logx=True)


def _smooth(values: list[float], weight: float) -> list[float]:
    """Exponential moving average (TensorBoard's smoothing); weight 0 = raw."""
    out, last = [], None
    for v in values:
        last = v if last is None else weight * last + (1 - weight) * v
        out.append(last)
    return out


def loss_curves_chart(curves: dict[str, list[dict]], x: str = "step", smoothing: float = 0.0,
                      tr: Translator | None = None) -> go.Figure:
    """Train loss (solid) and held-out loss (dotted, markers) of several runs on one chart.

    ``curves``: label -> log.jsonl rows; ``x``: step | tokens | elapsed_s; ``smoothing`` in [0, 1) for the train loss.
    """
    _ = _translator(tr)
    fig = go.Figure()
    for i, (label, log) in enumerate(curves.items()):
        color = PALETTE[i % len(PALETTE)]
        tokens, last_t, xs_train, ys_train, xs_eval, ys_eval = 0.0, 0.0, [], [], [], []
        for r in log:
            if x == "tokens":  # log rows carry the rate per interval: tokens seen = sum of rate x interval
                t = r.get("elapsed_s") or last_t
                tokens += (r.get("tokens_per_s") or 0) * max(0.0, t - last_t)
                last_t = t
            pos = round(tokens) if x == "tokens" else r.get(x)
            if pos is None:
                continue
            if r.get("loss") is not None:
                xs_train.append(pos)
                ys_train.append(r["loss"])
            if r.get("eval_loss") is not None:
                xs_eval.append(pos)
                ys_eval.append(r["eval_loss"])
        if ys_train:
            fig.add_trace(go.Scatter(x=xs_train, y=_smooth(ys_train, smoothing), mode="lines", name=label,
                                     legendgroup=label, line=dict(color=color)))
        if ys_eval:
            fig.add_trace(go.Scatter(x=xs_eval, y=ys_eval, mode="lines+markers", legendgroup=label,
                                     name=_("experiments.chart_heldout_trace", label=label),
                                     line=dict(color=color, dash="dot")))
    if not fig.data:
        fig.add_annotation(text=_("experiments.chart_no_curves"), showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper")
    return _layout(fig, _("experiments.chart_loss_title"), _(X_AXES.get(x, X_AXES["step"])),
                   _("experiments.chart_loss"))


def subspace_chart(phi: list[list[float]], i_values: list[int], j_values: list[int], label_a: str, label_b: str,
                   tr: Translator | None = None) -> go.Figure:
    """Heatmap of phi(A_a, A_b, i, j) (LoRA paper, Figure 3), averaged over the adapted layers."""
    _ = _translator(tr)
    z = [[v if v is not None and not math.isnan(v) else None for v in row] for row in phi]
    fig = go.Figure(go.Heatmap(z=z, x=[str(j) for j in j_values], y=[str(i) for i in i_values], zmin=0, zmax=1,
                               colorscale="Viridis", colorbar=dict(title="phi")))
    return _layout(fig, _("experiments.chart_subspace_title", a=label_a, b=label_b),
                   _("experiments.chart_subspace_j", b=label_b), _("experiments.chart_subspace_i", a=label_a))


def forgetting_chart(rows: Iterable[Any], base: Any = None, tr: Translator | None = None) -> go.Figure:
    """Task score against forgetting (the rise of the mean token loss on general text the runs never trained on;
    ``core/evaluation/forgetting.py``), one point per run; the base model sits at forgetting 0 by definition."""
    _ = _translator(tr)
    rows = [r for r in rows if _get(r, "score") is not None and _get(r, "forgetting") is not None]
    fig = go.Figure()
    for i, r in enumerate(rows):
        fig.add_trace(go.Scatter(
            x=[_get(r, "forgetting")], y=[_get(r, "score")], mode="markers+text", name=_get(r, "label"),
            text=[_get(r, "label")], textposition="top center",
            marker=dict(size=10, color=PALETTE[i % len(PALETTE)], line=dict(width=1, color="#111827")),
            hovertext=[_("experiments.chart_forgetting_hover", label=_get(r, "label"), method=_get(r, "method"),
                         forgetting=_get(r, "forgetting"), score=_get(r, "score"))],
            hoverinfo="text"))
    base_score = _get(base, "score") if base is not None else None
    if base_score is not None:
        name = _("experiments.chart_forgetting_base")
        fig.add_trace(go.Scatter(x=[0.0], y=[base_score], mode="markers+text", name=name, text=[name],
                                 textposition="bottom center",
                                 marker=dict(size=12, color="#6b7280", symbol="diamond"),
                                 hovertext=[_("experiments.chart_base", score=base_score)], hoverinfo="text"))
    fig.add_vline(x=0.0, line=dict(color="#9ca3af", dash="dot"))
    if not rows:
        fig.add_annotation(text=_("experiments.chart_no_forgetting"), showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    fig.update_yaxes(range=[-0.05, 1.05])
    metric = next((_get(r, "metric") for r in rows if _get(r, "metric")), None) or _("experiments.chart_score")
    return _layout(fig, _("experiments.chart_forgetting_title", metric=metric), _("experiments.chart_forgetting_x"),
                   metric)

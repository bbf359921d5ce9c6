"""An experiment's files, built from its rows: results.jsonl, results.csv, report.md and standalone chart pages;
and the subspace similarity of two LoRA adapters (LoRA paper, Figure 3).

Subspace similarity: for the A matrices (r x in) of the same layer in two adapters, take their right singular
vectors (rows of Vh in A = U S Vh, strongest first). With U_i the top-i of adapter a and U_j the top-j of adapter b,
phi(i, j) = ||U_i^T U_j||_F^2 / min(i, j), in [0, 1]: 1 when the smaller subspace lies inside the other, about
max(i, j) / in for random directions. With M = Vh_a Vh_b^T, ||U_i^T U_j||_F^2 is the sum of M[:i, :j]^2, so the
whole grid is two cumulative sums.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError

REPORT = "report.md"
SCORE_CHART = "score_vs_params.html"
FORGETTING_CHART = "score_vs_forgetting.html"
LOSS_CHART = "loss_curves.html"
SUBSPACE_CHART = "subspace.html"
J_VALUES = (1, 2, 4, 8, 16, 32, 64)
MAX_I = 8
_A_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_A(?:\.[^.]+)?\.weight$")


# --------------------------------------------------------------------------- subspace similarity

@dataclass
class SubspaceResult:
    """phi(A_a, A_b, i, j) averaged over the layers both adapters adapt (and per module type)."""
    label_a: str
    label_b: str
    r_a: int
    r_b: int
    i_values: list[int]
    j_values: list[int]
    phi: list[list[float]]
    """phi[i_index][j_index], mean over all shared modules."""
    by_module: dict[str, list[list[float]]] = field(default_factory=dict)
    """Leaf name (q_proj, v_proj) -> the same grid averaged over that module's layers."""
    n_modules: int = 0
    in_features: int = 0

    def random_baseline(self, i: int, j: int) -> float:
        """Expected phi(i, j) for random subspaces: max(i, j) / in."""
        return max(i, j) / self.in_features if self.in_features else float("nan")


def lora_a_matrices(adapter_dir: str | Path) -> dict[str, Any]:
    """Module name -> lora_A weight (r x in) of a LoRA / DoRA adapter folder."""
    from workbench.core.evaluation.adapter_analysis import _load_tensors
    from workbench.core.model.adapter_files import read_adapter
    info = read_adapter(str(adapter_dir))
    if not info.is_lora:
        raise WorkbenchError("experiments.not_lora", path=str(adapter_dir), kind=info.peft_type.lower())
    out = {}
    for key, t in _load_tensors(info).items():
        m = _A_KEY.match(key)
        if m and t.ndim == 2:
            out[m.group("module")] = t
    return out


def phi_grid(A_a, A_b):
    """phi(i, j) for every i <= r_a, j <= r_b (a tensor r_a x r_b) of two A matrices of the same layer."""
    import torch
    va = torch.linalg.svd(A_a.double(), full_matrices=False).Vh
    vb = torch.linalg.svd(A_b.double(), full_matrices=False).Vh
    m2 = (va @ vb.T) ** 2
    cum = m2.cumsum(0).cumsum(1)
    i = torch.arange(1, m2.shape[0] + 1, dtype=torch.float64)[:, None]
    j = torch.arange(1, m2.shape[1] + 1, dtype=torch.float64)[None, :]
    return cum / torch.minimum(i, j)


def subspace_between(dir_a: str | Path, dir_b: str | Path, labels: list[str] | None = None) -> SubspaceResult:
    """The subspace similarity of two LoRA adapters' learned directions, layer by layer, averaged."""
    a, b = lora_a_matrices(dir_a), lora_a_matrices(dir_b)
    shared = sorted(set(a) & set(b))
    if not shared:
        raise WorkbenchError("experiments.no_shared_layers", a=str(dir_a), b=str(dir_b))
    r_a, r_b = int(a[shared[0]].shape[0]), int(b[shared[0]].shape[0])
    i_values = list(range(1, min(r_a, MAX_I) + 1))
    j_values = sorted({j for j in J_VALUES if j <= r_b} | {r_b})
    grids: dict[str, list] = {}
    for name in shared:
        g = phi_grid(a[name], b[name])
        grids.setdefault(name.rsplit(".", 1)[-1], []).append([[float(g[i - 1, j - 1]) for j in j_values]
                                                              for i in i_values])

    def mean(gs):
        return [[sum(g[x][y] for g in gs) / len(gs) for y in range(len(j_values))] for x in range(len(i_values))]

    every = [g for gs in grids.values() for g in gs]
    la, lb = (labels or [str(dir_a), str(dir_b)])[:2]
    return SubspaceResult(label_a=la, label_b=lb, r_a=r_a, r_b=r_b, i_values=i_values, j_values=j_values,
                          phi=mean(every), by_module={k: mean(v) for k, v in grids.items()}, n_modules=len(shared),
                          in_features=int(a[shared[0]].shape[1]))


# --------------------------------------------------------------------------- files

def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        from workbench.spec.targets import format as format_targets
        return format_targets(v)
    return str(v)


def csv_text(result) -> str:
    """results.csv: one line per run, then the base row."""
    from workbench.core.experiments.results import JSON_KEYS
    cols = [*JSON_KEYS, "status", "error"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for row in result.rows:
        d = row.to_json()
        w.writerow([_cell(d.get(c)) for c in cols])
    if result.base is not None:
        d = result.base.to_json()
        w.writerow([_cell(d.get(c)) for c in cols])
    return buf.getvalue()


def jsonl_text(result) -> str:
    """results.jsonl: the objects ``experiment run --json`` prints, one per line (runs, then the base row)."""
    lines = [json.dumps(r.to_json()) for r in result.rows]
    if result.base is not None:
        lines.append(json.dumps(result.base.to_json()))
    return "".join(line + "\n" for line in lines)


def fmt(v: Any, digits: int = 3) -> str:
    """A value as the report and the CLI tables print it ("-" for none, thousands separators, target grammar)."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return _cell(v)


def fmt_signed(v: Any, digits: int = 3) -> str:
    """A change as the report prints it: "+0.123", "-0.004", "-" for none."""
    return "-" if v is None else f"{v:+.{digits}f}"


def reading(result, lang: str = "en") -> str:
    """One paragraph that reads the numbers, in ``lang`` (catalogue messages ``exptab.reading_*``)."""
    from workbench.messages import normalize_language
    sep = "" if normalize_language(lang) == "zh-CN" else " "
    return sep.join(m.render(lang) for m in reading_messages(result))


def reading_messages(result) -> list:
    """The sentences of ``reading`` as catalogue messages (render them in any language)."""
    from workbench.messages import Message
    from workbench.plots_experiments import pareto_labels
    scored = [r for r in result.rows if r.score is not None]
    if not scored:
        return [Message("exptab.reading_none")]
    best = max(scored, key=lambda r: (r.score, -r.trainable))
    worst = min(scored, key=lambda r: r.score)
    parts = [Message("exptab.reading_best", {"metric": best.metric, "best": best.label, "best_score": best.score,
                                             "trainable": best.trainable, "worst": worst.label,
                                             "worst_score": worst.score})]
    if result.base is not None and result.base.score is not None:
        gained = sum(r.score > result.base.score for r in scored)
        parts.append(Message("exptab.reading_base", {"score": result.base.score, "gained": gained, "n": len(scored)}))
    spread = best.score - worst.score
    parts.append(Message("exptab.reading_close" if spread <= 0.05 else "exptab.reading_spread", {"spread": spread}))
    front = pareto_labels(scored)
    if front:
        parts.append(Message("exptab.reading_front", {"labels": ", ".join(front)}))
    measured = [r for r in result.rows if r.forgetting is not None]
    if measured:
        low, high = min(measured, key=lambda r: r.forgetting), max(measured, key=lambda r: r.forgetting)
        parts.append(Message("exptab.reading_forgetting", {"low": low.label, "low_value": low.forgetting,
                                                            "high": high.label, "high_value": high.forgetting}))
    failed = [r.label for r in result.rows if r.status == "failed"]
    if failed:
        parts.append(Message("exptab.reading_failed", {"labels": ", ".join(failed)}))
    return parts


def _quantized_lines(result) -> list[str]:
    """For runs trained on a 4-bit base: the score on that base (the table's) next to the full-precision base's."""
    from workbench.core.training.run_score import read_metrics
    from workbench.core.runstore.run_dirs import runs_root
    lines = []
    for r in result.rows:
        m = read_metrics(runs_root() / r.run_id) if r.run_id and r.status == "done" else None
        full = (m or {}).get("full_precision_base")
        if not full:
            continue
        if m.get("base_precision") == "4-bit":
            lines.append(f"- {r.label}: scored on the 4-bit base it was trained on: {fmt(m.get('score'))} "
                         f"(held-out loss {fmt(m.get('eval_loss'))}); on the full-precision base: "
                         f"{fmt(full.get('score'))} (held-out loss {fmt(full.get('eval_loss'))}).")
        else:
            lines.append(f"- {r.label}: could not be scored on its 4-bit base ({m.get('four_bit_error')}); the "
                         f"table shows the full-precision base.")
    return ["", "Adapters trained on a 4-bit base (QLoRA):", "", *lines] if lines else []


def report_text(result) -> str:
    """report.md: what was run, the table, the base row, the reading, the subspace table, links to the charts."""
    from workbench.messages import text
    spec = result.spec
    out = [f"# {spec.text('title') if spec and spec.text('title') else result.name}", ""]
    if spec and spec.text("description"):
        out += [spec.text("description"), ""]
    first = result.rows[0] if result.rows else None
    out += [f"Experiment `{result.experiment_id}` ({result.status}); "
            f"wall time {fmt(result.wall_s, 1)} s." if result.wall_s is not None else
            f"Experiment `{result.experiment_id}` ({result.status}).", ""]
    if first is not None:
        out += ["| run | method | r | tokens | targets | trainable | % | score | forgetting | held-out loss | "
                "train loss | wall s | tok/s | peak MB | est. MB | adapter MB | status |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in result.rows:
            out.append(f"| {r.label} | {r.method} | {fmt(r.r)} | {fmt(r.num_virtual_tokens)} | "
                       f"{fmt(r.target_modules)} | {fmt(r.trainable)} | {fmt(r.percent, 4)} | {fmt(r.score)} | "
                       f"{fmt_signed(r.forgetting)} | {fmt(r.eval_loss)} | {fmt(r.train_loss)} | {fmt(r.wall_s, 1)} | "
                       f"{fmt(r.tokens_per_s, 0)} | {fmt(r.peak_mem_mb, 0)} | {fmt(r.est_mem_mb, 0)} | "
                       f"{fmt(r.adapter_mb, 2)} | {r.status}{' (' + r.error + ')' if r.error else ''} |")
        out += ["", text("exptab.forgetting_note", "en")]
    if result.base is not None:
        b = result.base
        out += ["", f"Base model (no adapter): {b.metric or 'metric'} {fmt(b.score)}, held-out loss "
                f"{fmt(b.eval_loss)}, forgetting 0 (by definition)" + (f" (error: {b.error})" if b.error else "")
                + "."]
    out += _quantized_lines(result)
    out += ["", "## Reading", "", reading(result)]
    sub = result.subspace
    if sub is not None:
        out += ["", f"## Subspace similarity: {sub.label_a} vs {sub.label_b} (LoRA paper, Figure 3)", "",
                f"phi(i, j) = ||U_i^T U_j||_F^2 / min(i, j) between the top-i right singular vectors of "
                f"{sub.label_a}'s A matrices and the top-j of {sub.label_b}'s, averaged over {sub.n_modules} "
                f"adapted layers. Random directions would give about max(i, j) / {sub.in_features}.", "",
                "| i \\ j | " + " | ".join(str(j) for j in sub.j_values) + " |",
                "|---|" + "---|" * len(sub.j_values)]
        for x, i in enumerate(sub.i_values):
            out.append(f"| {i} | " + " | ".join(f"{v:.2f}" for v in sub.phi[x]) + " |")
        top = sub.phi[0][0]
        out += ["", f"Top direction overlap phi(1, 1) = {top:.2f} (random: {sub.random_baseline(1, 1):.4f}). "
                "In the paper the top one or two directions of r=8 and r=64 overlap strongly (phi > 0.5) and the "
                "rest is mostly noise; after only a few steps the A matrices are still close to their random "
                "initialisation, so expect values near the random level unless the runs train longer."]
    out += ["", "## Charts", "", f"- [score vs trainable parameters]({SCORE_CHART})",
            f"- [score vs forgetting]({FORGETTING_CHART})", f"- [loss curves]({LOSS_CHART})"]
    if sub is not None:
        out.append(f"- [subspace similarity]({SUBSPACE_CHART})")
    out += ["", "Files: `results.jsonl` and `results.csv` (one row per run, then the base row), `experiment.yaml` "
            "(the experiment and the run ids); each run is an ordinary run directory (`python -m workbench runs "
            "show RUN_ID`)."]
    return "\n".join(out) + "\n"


def write_all(result, charts: bool = True) -> dict[str, str]:
    """Write every file of ``result`` into its folder (atomically each); returns name -> path."""
    from workbench.core.runstore.run_dirs import read_log_dir, runs_root
    d = Path(result.directory)
    files = {"results.jsonl": jsonl_text(result), "results.csv": csv_text(result), REPORT: report_text(result)}
    written = {}
    for name, text in files.items():
        tmp = d / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(d / name)
        written[name] = str(d / name)
    if charts:
        from workbench.plots_experiments import forgetting_chart, loss_curves_chart, score_chart, subspace_chart
        figs = {SCORE_CHART: score_chart(result.rows, result.base),
                FORGETTING_CHART: forgetting_chart(result.rows, result.base)}
        curves = {r.label: read_log_dir(runs_root() / r.run_id) for r in result.rows if r.run_id}
        figs[LOSS_CHART] = loss_curves_chart(curves)
        if result.subspace is not None:
            s = result.subspace
            figs[SUBSPACE_CHART] = subspace_chart(s.phi, s.i_values, s.j_values, s.label_a, s.label_b)
        for name, fig in figs.items():
            tmp = d / f".{name}.tmp"
            fig.write_html(str(tmp), include_plotlyjs=True, full_html=True)
            tmp.replace(d / name)
    for name in (SCORE_CHART, FORGETTING_CHART, LOSS_CHART, SUBSPACE_CHART):  # written now or after an earlier run
        if (d / name).is_file():
            written[name] = str(d / name)
    return written

"""An experiment's results as rows: one ``RunRow`` per variant, a ``BaseRow``, and reading a folder back.

Rows are plain dataclasses (the Experiments tab and the CLI show them; charts and the report are built from them).
``results.jsonl`` holds ``RunRow.to_json()`` per run then ``BaseRow.to_json()``; ``experiment.yaml`` the experiment
and its run ids. Each run is an ordinary run directory, so a row is refreshed from its ``status.json`` / ``log.jsonl``.
"""
from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench.errors import WorkbenchError
from workbench.core.experiments.definition import ExperimentSpec

JSON_KEYS = ("run_id", "label", "method", "r", "num_virtual_tokens", "target_modules", "trainable", "percent",
             "wall_s", "tokens_per_s", "peak_mem_mb", "est_mem_mb", "train_loss", "eval_loss", "metric", "score",
             "forgetting", "adapter_mb")
"""The keys of one run row in ``experiment run --json`` (then ``status`` and ``error``)."""
BASE_KEYS = ("label", "metric", "score", "eval_loss", "forgetting")


def experiments_root() -> Path:
    """Where experiment folders go: env WORKBENCH_EXPERIMENTS_DIR, default ``<runs root>/experiments``."""
    from workbench.core.runstore.run_dirs import runs_root
    return Path(os.environ.get("WORKBENCH_EXPERIMENTS_DIR") or runs_root() / "experiments")


# --------------------------------------------------------------------------- rows

@dataclass
class RunRow:
    """One variant's results (a row of results.jsonl / results.csv)."""
    run_id: str | None
    label: str
    method: str
    r: int | None
    num_virtual_tokens: int | None
    target_modules: list[str] | str | None
    trainable: int
    percent: float
    wall_s: float | None = None
    tokens_per_s: float | None = None
    peak_mem_mb: float | None = None
    est_mem_mb: float | None = None
    train_loss: float | None = None
    eval_loss: float | None = None
    metric: str | None = None
    score: float | None = None
    forgetting: float | None = None
    """Rise of the mean token loss on general text the run never saw (adapted - base; ``evaluation.forgetting``)."""
    adapter_mb: float | None = None
    """Size of the saved adapter files, MB (1e6 bytes)."""
    status: str = "queued"
    """queued | running | done | failed (| stopped)."""
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: d[k] for k in (*JSON_KEYS, "status", "error")}


@dataclass
class BaseRow:
    """The base model on the same held-out data (the row every variant is compared with)."""
    metric: str | None
    score: float | None
    eval_loss: float | None
    label: str = "base"
    error: str | None = None
    forgetting: float | None = 0.0
    """0 by definition: forgetting is measured against the base model itself."""

    def to_json(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in BASE_KEYS}
        if self.error:
            d["error"] = self.error
        return d


@dataclass
class ExperimentResult:
    """Everything an experiment produced so far (``show`` reads it back from the folder)."""
    experiment_id: str
    name: str
    directory: Path
    status: str
    """queued | running | done."""
    rows: list[RunRow]
    base: BaseRow | None
    spec: ExperimentSpec | None = None
    subspace: Any = None
    """``report.SubspaceResult`` for experiments that ask for it (``subspace: [label_a, label_b]``)."""
    wall_s: float | None = None
    files: dict[str, str] = field(default_factory=dict)
    """report.md, results.csv, ... -> path."""


def _tokens_per_s(log: list[dict]) -> float | None:
    values = [r["tokens_per_s"] for r in log if r.get("tokens_per_s")]
    if len(values) > 2:
        values = values[1:]  # the first interval includes warm-up
    return round(statistics.median(values), 1) if values else None


def fill_from_run(row: RunRow, run_dir: Path) -> RunRow:
    """Copy what the run recorded (status, losses, time, memory, PEFT's own count, forgetting, adapter size) into
    ``row``."""
    from workbench.core.runstore.run_dirs import read_log_dir
    from workbench.core.runstore.status import read_status
    st = read_status(run_dir)
    row.status = st.status
    row.error = st.error_text("en") if st.status == "failed" else row.error
    row.train_loss = st.train_loss
    row.eval_loss = row.eval_loss if row.eval_loss is not None else st.eval_loss
    if st.started and st.ended:
        row.wall_s = round(st.ended - st.started, 2)
    row.tokens_per_s = _tokens_per_s(read_log_dir(run_dir))
    row.peak_mem_mb = getattr(st, "peak_mem_mb", None)
    row.est_mem_mb = getattr(st, "est_mem_mb", None)
    if st.trainable_params and st.total_params:
        row.trainable = st.trainable_params
        row.percent = round(100.0 * st.trainable_params / st.total_params, 4)
    row.metric = st.metric or row.metric
    row.score = st.score if st.score is not None else row.score
    row.forgetting = st.forgetting if st.forgetting is not None else row.forgetting
    row.adapter_mb = st.adapter_mb if st.adapter_mb is not None else row.adapter_mb
    return row


@dataclass
class ExperimentInfo:
    """One row of ``experiment list``."""
    experiment_id: str
    name: str
    created: float
    runs: int
    done: int
    failed: int
    path: str


def _read_rows(exp_dir: Path) -> tuple[list[RunRow], BaseRow | None]:
    rows, base = [], None
    path = exp_dir / "results.jsonl"
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            d = json.loads(line)
            if d.get("label") == "base" and "run_id" not in d:
                base = BaseRow(metric=d.get("metric"), score=d.get("score"), eval_loss=d.get("eval_loss"),
                               error=d.get("error"), forgetting=d.get("forgetting", 0.0))
            else:
                rows.append(RunRow(**{k: d.get(k) for k in RunRow.__dataclass_fields__}))
    return rows, base


def list_experiments() -> list[ExperimentInfo]:
    """Experiment folders under experiments_root(), newest first."""
    root = experiments_root()
    out = []
    for d in (root.iterdir() if root.is_dir() else []):
        manifest = d / "experiment.yaml"
        if not manifest.is_file():
            continue
        m = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
        rows, _ = _read_rows(d)
        out.append(ExperimentInfo(experiment_id=d.name, name=(m.get("experiment") or {}).get("name", "?"),
                                  created=float(m.get("created") or d.stat().st_mtime), runs=len(m.get("runs") or []),
                                  done=sum(r.status == "done" for r in rows),
                                  failed=sum(r.status == "failed" for r in rows), path=str(d)))
    out.sort(key=lambda e: (e.created, e.experiment_id), reverse=True)
    return out


def _manifest(exp_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((Path(exp_dir) / "experiment.yaml").read_text(encoding="utf-8")) or {}


def read_experiment(experiment_id: str, root: str | Path | None = None, refresh: bool = True) -> ExperimentResult:
    """An experiment folder read back: rows from results.jsonl; with ``refresh`` the rows of runs that were still
    queued or running are brought up to date from the runs' own status files."""
    from workbench.core.runstore.run_dirs import check_run_id, runs_root
    check_run_id(experiment_id)  # a plain name: no '/', '..'
    base_dir = Path(root) if root else experiments_root()
    d = base_dir / experiment_id
    if not (d / "experiment.yaml").is_file():
        raise WorkbenchError("experiments.run_not_found", exp_id=experiment_id, root=str(base_dir))
    m = _manifest(d)
    rows, base = _read_rows(d)
    for row in rows if refresh else []:
        run_dir = runs_root() / row.run_id if row.run_id else None
        if run_dir is not None and (run_dir / "status.json").is_file() and row.status in ("queued", "running"):
            fill_from_run(row, run_dir)
    spec = None
    try:
        spec = ExperimentSpec.from_dict(m.get("experiment") or {})
    except Exception:  # a file from another version still shows its rows
        pass
    finished = [r.status in ("done", "failed", "stopped") for r in rows]
    # a yielded experiment (fair share: runs done, the rest queued, none training) waits for its turn: "queued"
    status = "done" if rows and all(finished) else "running" if any(
        r.status in ("running", "stopping") for r in rows) else "queued"
    files = {p.name: str(p) for p in sorted(d.iterdir()) if p.is_file() and not p.name.startswith(".")}
    return ExperimentResult(experiment_id=experiment_id, name=(m.get("experiment") or {}).get("name", "?"),
                            directory=d, status=status, rows=rows, base=base, spec=spec, files=files)

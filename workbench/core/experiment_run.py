"""Run an experiment: every variant trained one after another in ONE process, each scored, results as rows.

``run_experiment(spec)`` (the CLI's ``experiment run`` and the queue's experiment worker call it):

1. ``experiments.expand`` turns the spec into RunSpecs (pure, so errors come before anything trains);
2. the base model is scored once (task metric + held-out loss: the "base" row);
3. each variant becomes an ordinary run directory under the runs root (``experiment`` set in its status, so it shows
   in the runs list), is trained by ``train.execute`` with a ``SharedBase`` - the base weights, tokenizer and tokenized
   data are loaded once and reused (a fresh copy of the weights per run, since an adapter modifies its base) - and
   is scored with ``run_eval.score_run``. A failed variant is recorded (status failed, its error) and the next runs;
4. ``DIR/<experiment id>/`` gets experiment.yaml, results.jsonl, results.csv, report.md and the charts
   (``experiment_report``), rewritten after every run so a page (or ``experiment show``) sees progress.
"""
from __future__ import annotations

import copy
import gc
import json
import os
import secrets
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ..errors import WorkbenchError
from .experiments import ExperimentSpec, Variant, expand, plan_rows

JSON_KEYS = ("run_id", "label", "method", "r", "num_virtual_tokens", "target_modules", "trainable", "percent",
             "wall_s", "tokens_per_s", "peak_mem_mb", "est_mem_mb", "train_loss", "eval_loss", "metric", "score")
"""The keys of one run row in ``experiment run --json`` (then ``status`` and ``error``)."""
BASE_KEYS = ("label", "metric", "score", "eval_loss")


def experiments_root() -> Path:
    """Where experiment folders go: env WORKBENCH_EXPERIMENTS_DIR, default ``<runs root>/experiments``."""
    from .runs import runs_root
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
    """running | done."""
    rows: list[RunRow]
    base: BaseRow | None
    spec: ExperimentSpec | None = None
    subspace: Any = None
    """``experiment_report.SubspaceResult`` for experiments that ask for it (``subspace: [label_a, label_b]``)."""
    wall_s: float | None = None
    files: dict[str, str] = field(default_factory=dict)
    """report.md, results.csv, ... -> path."""


# --------------------------------------------------------------------------- shared work between runs

class SharedBase:
    """Keeps the base weights, tokenizer and tokenized data of one process between an experiment's runs.

    ``train.execute(run_dir, shared=...)`` asks it for the model (a deep copy of the cached base, as an adapter
    modifies the model it wraps; 4-bit QLoRA bases are loaded fresh) and for the tokenized datasets.
    """

    def __init__(self):
        self._datasets: dict[tuple, Any] = {}
        self.loads = 0
        self.reuses = 0

    def load_for_training(self, spec, device: str):
        from . import methods, train
        from .models import MODEL_CACHE, pick_device
        if methods.get(spec.adapter.method).quantized:
            return train.load_for_training(spec, device)
        dev = "auto" if device == pick_device("auto") else device  # the key the evaluation's cache uses too
        model, tok = MODEL_CACHE.get(spec.model.name, dtype=spec.model.dtype, device=dev)
        return train.load_for_training(spec, device, base=(copy.deepcopy(model), tok))

    def build_datasets(self, data_spec, tokenizer):
        from . import data
        key = (repr(data_spec), getattr(tokenizer, "name_or_path", ""), len(tokenizer))
        if key in self._datasets:
            self.reuses += 1
        else:
            self.loads += 1
            self._datasets[key] = data.build_datasets(data_spec, tokenizer)
        return self._datasets[key]


# --------------------------------------------------------------------------- running

def new_experiment_id(name: str) -> str:
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def _plan_row(v: Variant, run_id: str | None) -> RunRow:
    p = plan_rows([v])[0]
    return RunRow(run_id=run_id, label=v.label, method=p.method, r=p.r, num_virtual_tokens=p.num_virtual_tokens,
                  target_modules=p.target_modules, trainable=p.trainable, percent=p.percent)


def _tokens_per_s(log: list[dict]) -> float | None:
    values = [r["tokens_per_s"] for r in log if r.get("tokens_per_s")]
    if len(values) > 2:
        values = values[1:]  # the first interval includes warm-up
    return round(statistics.median(values), 1) if values else None


def fill_from_run(row: RunRow, run_dir: Path) -> RunRow:
    """Copy what the run recorded (status, losses, time, memory, PEFT's own count) into ``row``."""
    from .runs import read_log_dir
    from .status import read_status
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
    return row


def run_experiment(spec: ExperimentSpec, output_dir: str | Path | None = None, max_steps: int | None = None,
                   eval_limit: int | None = None, owner: str | None = None,
                   progress: Callable[[str], None] | None = None,
                   on_row: Callable[[ExperimentResult], None] | None = None,
                   experiment_id: str | None = None) -> ExperimentResult:
    """Train and score every variant of ``spec`` in this process; returns (and writes) the results.

    ``progress(line)`` gets one English line per step; ``on_row(result)`` is called whenever a row changes
    (the Experiments tab polls the folder instead when the experiment runs in a worker process).
    """
    from . import runs
    from .experiment_report import write_all
    from .run_eval import score_base, score_run
    from .status import update_status
    from .train import execute

    say = progress or (lambda line: None)
    variants = expand(spec, max_steps=max_steps)  # every input error is raised here, before anything trains
    limit = eval_limit or spec.eval_limit
    exp_id = experiment_id or new_experiment_id(spec.name)
    root = Path(output_dir) if output_dir else experiments_root()
    exp_dir = root / exp_id
    if exp_dir.exists():
        raise WorkbenchError("experiments.output_exists", path=str(exp_dir))
    exp_dir.mkdir(parents=True)
    t0 = time.time()
    run_ids = []
    for v in variants:
        run_id = runs.create_run(v.spec, owner=owner)
        update_status(runs.safe_run_dir(run_id), experiment=exp_id)
        run_ids.append(run_id)
    result = ExperimentResult(experiment_id=exp_id, name=spec.name, directory=exp_dir, status="running",
                              rows=[_plan_row(v, rid) for v, rid in zip(variants, run_ids)], base=None, spec=spec)
    _write_manifest(exp_dir, spec, variants, run_ids, limit, max_steps)

    def publish(charts: bool = False):  # charts (standalone pages of ~5 MB) only when a run has finished
        result.wall_s = round(time.time() - t0, 2)
        result.files = write_all(result, charts=charts)
        if on_row:
            on_row(result)

    publish()
    data0 = variants[0].spec
    say(f"[{exp_id}] scoring the base model on {limit or 'all'} held-out prompts...")
    try:
        b = score_base(data0.model.name, data0.data, limit)
        result.base = BaseRow(metric=b.metric, score=b.score, eval_loss=b.eval_loss)
    except Exception as e:  # the runs still train; the report says the base row is missing
        result.base = BaseRow(metric=None, score=None, eval_loss=None, error=f"{type(e).__name__}: {e}"[:500])
    publish()
    shared = SharedBase()
    for i, (v, row) in enumerate(zip(variants, result.rows)):
        run_dir = runs.safe_run_dir(row.run_id)
        say(f"[{exp_id}] {i + 1}/{len(variants)} {v.label}: training ({v.spec.train.max_steps} steps, "
            f"{row.trainable:,} trainable)...")
        row.status = "running"
        publish()
        try:
            execute(run_dir, shared=shared)  # the trained model it returns is dropped at once
        except Exception as e:  # TrainingFailed (status.json says failed) or anything else
            row.error = str(e)[:500]
        gc.collect()
        fill_from_run(row, run_dir)
        if row.status == "done":
            say(f"[{exp_id}] {i + 1}/{len(variants)} {v.label}: scoring...")
            try:
                s = score_run(run_dir, limit)
                row.metric, row.score, row.eval_loss = s.metric, s.score, s.eval_loss
            except Exception as e:
                row.error = f"scoring failed: {type(e).__name__}: {e}"[:500]
        elif row.status not in ("failed", "stopped"):
            row.status = "failed"
        say(f"[{exp_id}] {i + 1}/{len(variants)} {v.label}: {row.status}"
            + (f", {row.metric} {row.score:.3f}" if row.score is not None else "")
            + (f" ({row.error})" if row.error else ""))
        publish(charts=True)
    result.status = "done"
    if spec.subspace:
        result.subspace = _subspace(result, spec.subspace)
    publish(charts=True)
    return result


def _subspace(result: ExperimentResult, labels: list[str]):
    from .experiment_report import subspace_between
    by_label = {r.label: r for r in result.rows}
    rows = [by_label.get(lbl) for lbl in labels]
    if any(r is None or r.status != "done" for r in rows):
        return None
    from .runs import safe_run_dir
    try:
        return subspace_between(*(safe_run_dir(r.run_id) / "adapter" for r in rows), labels=labels)
    except WorkbenchError:
        return None


def _write_manifest(exp_dir: Path, spec: ExperimentSpec, variants: list[Variant], run_ids: list[str],
                    limit: int | None, max_steps: int | None) -> None:
    manifest = {"id": exp_dir.name, "created": time.time(), "source": spec.source, "eval_limit": limit,
                "max_steps_override": max_steps, "experiment": spec.to_dict(),
                "runs": [{"label": v.label, "run_id": rid, "overrides": v.overrides, "sized": v.sized,
                          "knob": v.knob, "note": v.note.render("en") if v.note else None}
                         for v, rid in zip(variants, run_ids)]}
    (exp_dir / "experiment.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True),
                                             encoding="utf-8")


# --------------------------------------------------------------------------- reading back

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
                               error=d.get("error"))
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


def read_experiment(experiment_id: str, root: str | Path | None = None) -> ExperimentResult:
    """An experiment folder read back (rows from results.jsonl, refreshed from the runs' own status files)."""
    from .runs import check_run_id, runs_root
    check_run_id(experiment_id)  # a plain name: no '/', '..'
    base_dir = Path(root) if root else experiments_root()
    d = base_dir / experiment_id
    if not (d / "experiment.yaml").is_file():
        raise WorkbenchError("experiments.run_not_found", exp_id=experiment_id, root=str(base_dir))
    m = yaml.safe_load((d / "experiment.yaml").read_text(encoding="utf-8")) or {}
    rows, base = _read_rows(d)
    for row in rows:
        run_dir = runs_root() / row.run_id if row.run_id else None
        if run_dir is not None and (run_dir / "status.json").is_file() and row.status in ("queued", "running"):
            fill_from_run(row, run_dir)
    spec = None
    try:
        spec = ExperimentSpec.from_dict(m.get("experiment") or {})
    except Exception:  # a file from another version still shows its rows
        pass
    status = "done" if rows and all(r.status in ("done", "failed", "stopped") for r in rows) else "running"
    files = {p.name: str(p) for p in sorted(d.iterdir()) if p.is_file()}
    return ExperimentResult(experiment_id=experiment_id, name=(m.get("experiment") or {}).get("name", "?"),
                            directory=d, status=status, rows=rows, base=base, spec=spec, files=files)

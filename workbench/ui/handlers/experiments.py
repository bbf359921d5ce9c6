"""Experiments tab handlers: primitives in (YAML text, numbers, ids, the session's owner id) -> core -> primitives
out (text, tables, figures, file paths). Text the server builds is worded in the page's language (``exptab.*``
messages); launching, stopping and resuming go through ``core.experiments.queue_jobs`` (one queue item per experiment,
owned by the browser session).

An experiment is edited as YAML (the experiment file format, presets/experiments/): a shipped one, one built from
the Train tab's config plus axes, or one typed in the box. In the page, ``base`` is an inline run config or a
shipped recipe (presets/recipes/...): nothing else on the server is read.
"""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import yaml

from workbench import plots
from workbench.core.experiments import definition as experiments
from workbench.spec import methods
from workbench.core.runstore import run_dirs as runs
from workbench.core.experiments.results import ExperimentResult, RunRow, fill_from_run
from workbench.core.serving.workspace import Workspace
from workbench.errors import WorkbenchError
from workbench.plots_experiments import forgetting_chart, loss_curves_chart, score_chart
from workbench.spec.settings import RunSpec
from workbench.ui.language import current_language, page_text, page_translator, tr, word
from workbench.ui.handlers.common import duration_text, in_page_language, parse_int_list, user_errors
from workbench.ui.handlers.form import recipe_names

ROW_COLUMNS = ("label", "status", "start", "method", "r", "tokens", "targets", "trainable", "step", "train_loss",
               "eval_loss", "score", "forgetting", "wall_s", "tokens_per_s", "peak_mem_mb", "est_mem_mb", "adapter_mb", "error")
PLAN_COLUMNS = ("label", "method", "r", "tokens", "targets", "trainable", "percent", "note")
X_AXES = ("step", "tokens", "elapsed_s")


def _frame(rows: list[dict], columns) -> pd.DataFrame:
    """A table with its headers in the page's language (``exptab.column.*``)."""
    _ = page_translator()
    df = pd.DataFrame(rows, columns=list(columns))
    df.columns = [_(f"exptab.column.{c}") for c in columns]
    return df


def _targets(value) -> str:
    if value is None:
        return ""
    return ",".join(value) if isinstance(value, (list, tuple)) else str(value)


# --------------------------------------------------------------------------- picking / building an experiment

@in_page_language
def shipped_choices() -> list[tuple[str, str]]:
    """(title in the page's language, name) of every shipped experiment."""
    out = []
    for name in experiments.shipped():
        try:
            title = experiments.load(name).text("title", current_language()) or name
        except WorkbenchError:
            title = name
        out.append((f"{name} · {title}", name))
    return out


@user_errors
def shipped_experiment(name: str) -> tuple[str, str]:
    """(what the paper found and what to look for, in the page's language; the experiment file's YAML)."""
    if not name:
        return "", ""
    path = experiments.find(name) if name in experiments.shipped() else None
    if path is None:
        raise WorkbenchError("experiments.not_found", name=str(name), names=", ".join(experiments.shipped()))
    spec = experiments.load(name)
    lang = current_language()
    md = f"### {spec.text('title', lang) or name}\n\n{spec.text('description', lang)}"
    return md, path.read_text(encoding="utf-8")


def parse_experiment(experiment_yaml: str) -> experiments.ExperimentSpec:
    """The experiment in the box, validated; ``base`` must be inline or a shipped recipe."""
    if not (experiment_yaml or "").strip():
        raise WorkbenchError("exptab.no_experiment")
    try:
        raw = yaml.safe_load(experiment_yaml)
    except yaml.YAMLError:
        raw = None  # from_yaml words the parse error
    base = raw.get("base") if isinstance(raw, dict) else None
    if isinstance(base, str):
        recipes = [f"{name}.yaml" for name in recipe_names()]
        if Path(base).name not in recipes or Path(base).parent.as_posix() not in ("presets/recipes", ""):
            raise WorkbenchError("exptab.base_not_allowed", path=base,
                                 choices=", ".join(f"presets/recipes/{r}" for r in recipes))
        raw["base"] = f"presets/recipes/{Path(base).name}"
        experiment_yaml = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
    return experiments.ExperimentSpec.from_yaml(experiment_yaml, folder=experiments.EXPERIMENTS_DIR)


@user_errors
def build_from_config(config_yaml: str, ranks: str = "", target_sets: str = "", methods: list[str] | None = None,
                      budget: float | None = None, name: str = "my-experiment") -> str:
    """An experiment YAML: the Train tab's config as the base plus the axes (a grid over ranks, target sets - one
    per line, in the target grammar - and methods; a trainable-parameter budget sizes each variant)."""
    from workbench.spec import targets
    base = RunSpec.from_yaml(config_yaml or "")
    vary: dict[str, Any] = {}
    if (ranks or "").strip():
        vary["adapter.r"] = parse_int_list(ranks, "ranks")
    sets = [line.strip() for line in (target_sets or "").splitlines() if line.strip()]
    if sets:
        vary["adapter.target_modules"] = [targets.parse(s) if s != "default" else None for s in sets]
    if methods:
        vary["adapter.method"] = list(methods)
    if not vary:
        raise WorkbenchError("exptab.no_axis")
    d: dict[str, Any] = {"name": (name or "my-experiment").strip(), "base": base.to_dict(), "vary": vary}
    if budget and int(budget) > 0:
        d["budget"] = int(budget)
    experiments.ExperimentSpec.from_dict(d)  # every error names its field before the box is filled
    return yaml.safe_dump(d, sort_keys=False, allow_unicode=True)


@dataclasses.dataclass
class Plan:
    table: pd.DataFrame
    summary: str


@in_page_language
def empty_plan() -> pd.DataFrame:
    """The plan table before anything is planned: its headers in the page's language (not Gradio's "1 2 3")."""
    return _frame([], PLAN_COLUMNS)


@in_page_language
def empty_rows() -> pd.DataFrame:
    """The results table before there are runs: its headers in the page's language."""
    return _frame([], ROW_COLUMNS)


@user_errors
def plan(experiment_yaml: str, max_steps: float | None = None) -> Plan:
    """The runs the experiment would start with their trainable counts (meta models only: nothing trains)."""
    from workbench.core.experiments.plan import expand, plan_rows
    spec = parse_experiment(experiment_yaml)
    rows = plan_rows(expand(spec, max_steps=int(max_steps) if max_steps else None), current_language())
    table = _frame([{"label": r.label, "method": r.method, "r": r.r, "tokens": r.num_virtual_tokens,
                     "targets": _targets(r.target_modules), "trainable": r.trainable, "percent": r.percent,
                     "note": r.note} for r in rows], PLAN_COLUMNS)
    return Plan(table=table, summary=tr("exptab.plan_summary", n=len(rows), total=sum(r.trainable for r in rows)))


# --------------------------------------------------------------------------- launching, stopping, resuming

@user_errors
def launch(experiment_yaml: str, owner: str, max_steps: float | None = None, eval_limit: float | None = None) -> str:
    """Check the experiment and queue it as ONE item of this session's queue -> experiment id."""
    from workbench.core.experiments.queue_jobs import launch as queue_experiment
    spec = parse_experiment(experiment_yaml)
    return queue_experiment(spec, Workspace(owner or None), max_steps=int(max_steps) if max_steps else None,
                            eval_limit=int(eval_limit) if eval_limit else None)


@user_errors
def stop_all(experiment_id: str, owner: str) -> str:
    """"Stop all": the running run saves its adapter and ends, the waiting ones are stopped."""
    from workbench.core.experiments.queue_jobs import stop_all as stop_experiment
    if not experiment_id:
        raise WorkbenchError("exptab.no_experiment")
    return tr("exptab.stopped_all", n=len(stop_experiment(experiment_id, Workspace(owner or None))))


@user_errors
def resume(experiment_id: str, owner: str) -> str:
    """Queue a stopped or interrupted experiment again: finished runs are kept."""
    from workbench.core.experiments.queue_jobs import resume as resume_experiment
    if not experiment_id:
        raise WorkbenchError("exptab.no_experiment")
    resume_experiment(experiment_id, Workspace(owner or None))
    return tr("exptab.resumed", exp_id=experiment_id)


@in_page_language
def experiment_choices(owner: str) -> list[tuple[str, str]]:
    """(label, id) of this session's experiments, newest first."""
    from workbench.core.experiments.queue_jobs import session_experiments
    from workbench.core.experiments.results import read_experiment
    out = []
    for exp_id in session_experiments(Workspace(owner or None)):
        rows = read_experiment(exp_id).rows
        out.append((tr("exptab.experiment_choice", exp_id=exp_id, done=sum(r.status == "done" for r in rows),
                       n=len(rows)), exp_id))
    return out


@in_page_language
def run_choices(owner: str) -> list[tuple[str, str]]:
    """(label, run id) of every run of this session (experiments' runs too)."""
    return [(tr("exptab.run_choice", name=i.name or i.run_id, method=i.method, status=word(i.status), run_id=i.run_id),
             i.run_id) for i in Workspace(owner or None).runs()]


@user_errors
def adapter_of(run_id: str, owner: str) -> tuple[str, str]:
    """"Compare this run": (the base model it was trained on, its adapter folder), for one of this session's runs
    (the Compare tab opens with that base and that adapter selected)."""
    st = Workspace(owner or None).run(run_id)
    d = runs.adapter_dir(run_id)
    if d is None:
        raise WorkbenchError("exptab.no_adapter", run_id=run_id, status=word(st.status))
    return st.model or RunSpec.load(runs.safe_run_dir(run_id) / "config.yaml").model.name, str(d)


# --------------------------------------------------------------------------- live view and results

@dataclasses.dataclass
class View:
    """Everything the tab shows for an experiment (or a selection of runs)."""
    header: str
    rows: pd.DataFrame
    curves: go.Figure
    score: go.Figure
    cost: go.Figure
    forgetting: go.Figure
    """Score against forgetting on general text (the base model at 0)."""
    diff: pd.DataFrame
    reading: str
    csv_path: str | None
    report_path: str | None
    active: bool
    """True while a run can still change (the tab keeps polling)."""
    finished: list[tuple[str, str]]
    """(label, run id) of the runs that have an adapter ("compare this run")."""


def _row_dicts(rows: list[RunRow]) -> list[dict]:
    from workbench.core.serving.run_queue import RUN_MANAGER
    waits, out = dict(RUN_MANAGER.plan()) if any(r.status == "queued" for r in rows) else {}, []
    for r in rows:
        st = runs.read_status(runs.safe_run_dir(r.run_id)) if r.run_id else None
        start = tr("exptab.starts_in", wait=duration_text(waits[r.run_id])) if r.run_id in waits else ""
        out.append({"label": r.label, "status": word(r.status), "start": start, "method": r.method, "r": r.r,
                    "tokens": r.num_virtual_tokens, "targets": _targets(r.target_modules), "trainable": r.trainable,
                    "step": f"{st.step}/{st.max_steps}" if st else "", "train_loss": _round(r.train_loss),
                    "eval_loss": _round(r.eval_loss), "score": _round(r.score), "forgetting": _round(r.forgetting),
                    "wall_s": _round(r.wall_s, 1), "tokens_per_s": r.tokens_per_s,
                    "peak_mem_mb": _round(r.peak_mem_mb, 0), "est_mem_mb": _round(r.est_mem_mb, 0),
                    "adapter_mb": _round(r.adapter_mb, 2), "error": r.error or ""})
    return out


def _round(v, digits: int = 4):
    return None if v is None else round(float(v), digits)


def config_diff(rows: list[RunRow]) -> pd.DataFrame:
    """Only the settings whose values differ between the runs: one row per setting, one column per run."""
    configs = {}
    for r in rows:
        path = runs.safe_run_dir(r.run_id) / "config.yaml" if r.run_id else None
        if path is not None and path.is_file():
            configs[r.label] = RunSpec.load(path).to_dict()
    return _diff_frame(configs)


@in_page_language
def empty_diff() -> pd.DataFrame:
    """The settings table before there are runs: its header in the page's language (not Gradio's "1 2 3")."""
    return pd.DataFrame(columns=[page_translator()("exptab.column.setting")])


def _diff_frame(configs: dict[str, dict]) -> pd.DataFrame:
    """label -> run config (RunSpec.to_dict()): the settings whose values differ, one column per run."""
    from workbench.core.experiments.settings_diff import differing
    _ = page_translator()
    data = [{_("exptab.column.setting"): k, **{label: _targets(v) if isinstance(v, list) else v
                                              for label, v in values.items()}} for k, values in differing(configs)]
    if not data:
        return pd.DataFrame({_("exptab.column.setting"): [tr("exptab.no_diff")]})
    return pd.DataFrame(data)


def _curves(rows: list[RunRow]) -> dict[str, list[dict]]:
    return {r.label: runs.read_log_dir(runs.safe_run_dir(r.run_id)) for r in rows if r.run_id}


def _files(result: ExperimentResult) -> tuple[str | None, str | None]:
    """results.csv and report.md copied into a fresh temporary folder (what the download buttons serve)."""
    from workbench.core.experiments.report import csv_text, report_text
    out = Path(tempfile.mkdtemp(prefix="experiment-"))
    csv_path = out / f"{result.experiment_id}.csv"
    csv_path.write_text(csv_text(result), encoding="utf-8")
    report_path = out / f"{result.experiment_id}-report.md"
    report_path.write_text(report_text(result), encoding="utf-8")
    return str(csv_path), str(report_path)


def _view(result: ExperimentResult, header: str, x_axis: str, smoothing: float, files: bool,
          curves: dict[str, list[dict]] | None = None, configs: dict[str, dict] | None = None) -> View:
    """The views of ``result``; ``curves`` / ``configs`` (label -> log rows / run config) instead of the run folders
    (a recording, whose runs are not on this machine)."""
    from workbench.core.experiments.report import reading
    _ = page_translator()
    rows = result.rows
    x = x_axis if x_axis in X_AXES else "step"
    from workbench.core.runstore.writer_lock import writer_alive
    # a worker still holds its runs' writer locks while it scores the last run (the run itself is already "done")
    active = any(r.status in runs.ACTIVE for r in rows) or any(
        writer_alive(runs.safe_run_dir(r.run_id)) for r in rows if r.run_id)
    csv_path, report_path = _files(result) if files and not active else (None, None)
    return View(header=header, rows=_frame(_row_dicts(rows), ROW_COLUMNS),
                curves=loss_curves_chart(_curves(rows) if curves is None else curves, x=x,
                                         smoothing=float(smoothing or 0), tr=_),
                score=score_chart(rows, result.base, tr=_), cost=plots.cost_chart(rows, tr=_),
                forgetting=forgetting_chart(rows, result.base, tr=_),
                diff=config_diff(rows) if configs is None else _diff_frame(configs),
                reading=reading(result, current_language()),
                csv_path=csv_path, report_path=report_path, active=active,
                finished=[(r.label, r.run_id) for r in rows if r.run_id and runs.adapter_dir(r.run_id)])


def empty_view() -> View:
    _ = page_translator()
    return View(header=tr("exptab.none_yet"), rows=_frame([], ROW_COLUMNS), curves=loss_curves_chart({}, tr=_),
                score=score_chart([], tr=_), cost=plots.cost_chart([], tr=_), forgetting=forgetting_chart([], tr=_),
                diff=empty_diff(), reading="",
                csv_path=None, report_path=None, active=False, finished=[])


@in_page_language
def experiment_view(experiment_id: str, owner: str, x_axis: str = "step", smoothing: float = 0.0,
                    files: bool = True) -> View:
    """The live rows, curves and results of one of this session's experiments."""
    from workbench.core.experiments.queue_jobs import check_owner
    if not experiment_id:
        return empty_view()
    try:
        result = check_owner(experiment_id, Workspace(owner or None))
    except WorkbenchError as e:
        view = empty_view()
        view.header = tr("ui.warning", error=page_text(e))
        return view
    done = sum(r.status == "done" for r in result.rows)
    failed = sum(r.status == "failed" for r in result.rows)
    status = "running" if any(r.status in runs.ACTIVE and r.status != "queued" for r in result.rows) else result.status
    header = tr("exptab.header", exp_id=experiment_id, status=word(status), done=done, n=len(result.rows),
                failed=tr("exptab.failed_count", n=failed) if failed else "")
    return _view(result, header, x_axis, smoothing, files)


@user_errors
def runs_view(run_ids: list[str] | None, owner: str, x_axis: str = "step", smoothing: float = 0.0) -> View:
    """"Compare runs": the same views for any selection of this session's runs (not only experiments)."""
    if not run_ids:
        raise WorkbenchError("exptab.no_runs_picked")
    ws = Workspace(owner or None)
    rows = []
    for run_id in run_ids:
        st = ws.run(run_id)
        label = st.name or run_id
        if any(r.label == label for r in rows):
            label = f"{label} ({run_id})"
        row = RunRow(run_id=run_id, label=label, method=st.method or "?", r=None, num_virtual_tokens=None,
                     target_modules=None, trainable=st.trainable_params or 0, percent=0.0)
        fill_from_run(row, runs.safe_run_dir(run_id))
        spec = RunSpec.load(runs.safe_run_dir(run_id) / "config.yaml")
        record = methods.get(spec.adapter.method)
        row.r = spec.adapter.r if record.has_rank else None
        row.num_virtual_tokens = spec.adapter.num_virtual_tokens if record.is_prompt_learning else None
        row.target_modules = spec.adapter.target_modules if record.wraps_layers else None
        rows.append(row)
    result = ExperimentResult(experiment_id="compare-runs", name="compare-runs", directory=Path("."),
                              status="running" if any(r.status in runs.ACTIVE for r in rows) else "done",
                              rows=rows, base=None)
    return _view(result, tr("exptab.compare_header", n=len(rows)), x_axis, smoothing, files=True)


@user_errors
def experiment_status(experiment_id: str, owner: str) -> dict:
    """API: one of this session's experiments as JSON (status, rows, base row)."""
    from workbench.core.experiments.queue_jobs import check_owner
    result = check_owner(experiment_id, Workspace(owner or None))
    from workbench.core.serving.run_queue import RUN_MANAGER
    waits = dict(RUN_MANAGER.plan())  # queue_wait_s: a waiting run's estimated start (s from now)
    return {"experiment_id": result.experiment_id, "name": result.name, "status": result.status,
            "runs": [{**r.to_json(), "queue_wait_s": waits.get(r.run_id)} for r in result.rows],
            "base": result.base.to_json() if result.base else None}


@user_errors
def plan_json(experiment_yaml: str, max_steps: float | None = None) -> list[dict]:
    """API: the plan as JSON rows (``experiment plan --json``)."""
    from workbench.core.experiments.plan import expand, plan_rows
    rows = plan_rows(expand(parse_experiment(experiment_yaml), max_steps=int(max_steps) if max_steps else None))
    keys = ("label", "method", "r", "num_virtual_tokens", "target_modules", "trainable", "total", "percent")
    return [{k: getattr(r, k) for k in keys} for r in rows]

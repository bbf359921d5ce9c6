"""Run an experiment: every variant trained one after another in ONE process, each scored, results as rows.

``run_experiment(spec)`` (the CLI's ``experiment run`` and the queue's experiment worker call it):

1. ``plan.expand`` turns the spec into RunSpecs (pure, so errors come before anything trains);
2. the base model is scored once (task metric + held-out loss: the "base" row);
3. each variant becomes an ordinary run directory under the runs root (``experiment`` set in its status, so it shows
   in the runs list), is trained by ``trainer.execute`` with a ``SharedBase`` - the base weights, tokenizer and tokenized
   data are loaded once and reused (a fresh copy of the weights per run, since an adapter modifies its base) - and
   is scored with ``run_score.score_run``. A failed variant is recorded (status failed, its error) and the next runs;
4. ``DIR/<experiment id>/`` gets experiment.yaml, results.jsonl, results.csv, report.md and the charts
   (``report``), rewritten after every run so a page (or ``experiment show``) sees progress.

The rows and reading an experiment folder back are in ``results.py`` (re-exported here).
"""
from __future__ import annotations

import copy
import gc
import secrets
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from workbench.errors import WorkbenchError
from workbench.spec.settings import RunSpec
from workbench.core.experiments.plan import Variant, expand, plan_rows
from workbench.core.experiments.results import (BaseRow, ExperimentResult, RunRow, _manifest, experiments_root,  # noqa: F401
                                 fill_from_run, list_experiments, read_experiment)
from workbench.core.experiments.definition import ExperimentSpec
from workbench.core.training.trackers import check as check_trackers


# --------------------------------------------------------------------------- shared work between runs

class SharedBase:
    """Keeps the base weights, tokenizer and tokenized data of one process between an experiment's runs.

    ``trainer.execute(run_dir, shared=...)`` asks it for the model (a deep copy of the cached base, as an adapter
    modifies the model it wraps; 4-bit QLoRA bases are loaded fresh) and for the tokenized datasets.
    """

    def __init__(self):
        self._datasets: dict[tuple, Any] = {}
        self.loads = 0
        self.reuses = 0

    def callbacks(self) -> list:
        """Trainer callbacks of an experiment's runs: no held-out evaluation at the last step, since the experiment
        scores every run right after training on the same held-out data (``score_run``: the row's eval_loss, the
        same measure as the base row's). It was one of three passes over the held-out set per run."""
        from transformers import TrainerCallback

        class NoFinalEvaluation(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step >= state.max_steps:
                    control.should_evaluate = False
                return control

        return [NoFinalEvaluation()]

    def load_for_training(self, spec, device: str):
        from workbench.spec import methods
        from workbench.core.training import model_setup
        from workbench.core.model.loading import MODEL_CACHE
        from workbench.core.model.precision import pick_device
        if methods.get(spec.adapter.method).quantized:
            return model_setup.load_for_training(spec, device)
        dev = "auto" if device == pick_device("auto") else device  # the key the evaluation's cache uses too
        model, tok = MODEL_CACHE.get(spec.model.name, dtype=spec.model.dtype, device=dev)
        return model_setup.load_for_training(spec, device, base=(copy.deepcopy(model), tok))

    def resident_mb(self) -> float:
        """MB this process keeps besides a run's own model: the cached base weights the runs are copied from (and
        the evaluation shares). A run's memory estimate adds it, since its measured peak includes it."""
        from workbench.core.model.loading import MODEL_CACHE
        return MODEL_CACHE.resident_mb()

    def build_datasets(self, data_spec, tokenizer):
        from workbench.core.data import datasets as data
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


def prepare_experiment(spec: ExperimentSpec, output_dir: str | Path | None = None, max_steps: int | None = None,
                       eval_limit: int | None = None, owner: str | None = None,
                       experiment_id: str | None = None) -> ExperimentResult:
    """Expand ``spec`` (every input error is raised here, before anything trains), create its folder and one
    queued run directory per variant (``experiment`` set in their status); nothing trains yet."""
    from workbench.core.runstore import run_dirs as runs
    from workbench.core.experiments.report import write_all
    from workbench.core.runstore.status import update_status
    variants = expand(spec, max_steps=max_steps)
    for v in variants:  # a tracker package that is missing (train.report_to), said before any folder exists
        check_trackers(v.spec, public=False)
    limit = eval_limit or spec.eval_limit
    exp_id = experiment_id or new_experiment_id(spec.name)
    runs.check_run_id(exp_id)
    root = Path(output_dir) if output_dir else experiments_root()
    exp_dir = root / exp_id
    if exp_dir.exists():
        raise WorkbenchError("experiments.output_exists", path=str(exp_dir))
    exp_dir.mkdir(parents=True)
    run_ids = []
    for v in variants:
        run_id = runs.create_run(v.spec, owner=owner)
        update_status(runs.safe_run_dir(run_id), experiment=exp_id)
        run_ids.append(run_id)
    _write_manifest(exp_dir, spec, variants, run_ids, limit, max_steps)
    result = ExperimentResult(experiment_id=exp_id, name=spec.name, directory=exp_dir, status="queued",
                              rows=[_plan_row(v, rid) for v, rid in zip(variants, run_ids)], base=None, spec=spec)
    result.files = write_all(result, charts=False)
    return result


def continue_experiment(experiment_id: str, root: str | Path | None = None,
                        progress: Callable[[str], None] | None = None,
                        on_row: Callable[[ExperimentResult], None] | None = None,
                        should_yield: Callable[[Path], bool] | None = None) -> ExperimentResult:
    """Train and score, in this process, every run of a prepared experiment that has not finished yet (after a
    restart, finished runs are kept and the rest start again); scores the base model once. Returns the results.

    ``should_yield(next_run_dir)`` is asked between runs (never before the first this call trains): True gives the
    training slot up, the experiment returning with status "queued" and its remaining runs queued (the run queue's
    fair share: ``queue_jobs.work``); a later call goes on from there.

    The runs share one ``SharedBase`` (base weights, tokenizer, tokenized data). A failed variant is recorded
    (status failed, its error) and the next one runs. ``progress(line)``: one English line per step;
    ``on_row(result)``: called whenever a row changes (the files are rewritten then too).
    """
    from workbench.core.experiments.report import write_all
    from workbench.core.training.run_score import score_base
    from workbench.core.runstore.run_dirs import safe_run_dir
    from workbench.core.runstore.status import read_status
    say = progress or (lambda line: None)
    result = read_experiment(experiment_id, root=root, refresh=False)
    exp_id, limit = result.experiment_id, _manifest(result.directory).get("eval_limit")
    t0 = time.time() - (result.wall_s or 0.0)
    result.status = "running"

    def publish(charts: bool = False):  # charts (standalone pages of ~5 MB) only when a run has finished
        result.wall_s = round(time.time() - t0, 2)
        result.files = write_all(result, charts=charts)
        if on_row:
            on_row(result)

    publish()
    first = RunSpec.load(safe_run_dir(result.rows[0].run_id) / "config.yaml")
    if result.base is None or result.base.score is None:
        say(f"[{exp_id}] scoring the base model on {limit or 'all'} held-out prompts...")
        try:
            b = score_base(first.model.name, first.data, limit)
            result.base = BaseRow(metric=b.metric, score=b.score, eval_loss=b.eval_loss)
        except Exception as e:  # the runs still train; the report says the base row is missing
            result.base = BaseRow(metric=None, score=None, eval_loss=None, error=f"{type(e).__name__}: {e}"[:500])
        publish()
    shared = SharedBase()
    n, trained = len(result.rows), 0
    for i, row in enumerate(result.rows):
        if row.status in ("done", "failed", "stopped") and (row.status != "done" or row.score is not None):
            continue  # finished before (this process or an earlier one)
        if read_status(safe_run_dir(row.run_id)).status == "stopped":  # stopped while queued ("stop all")
            fill_from_run(row, safe_run_dir(row.run_id))
            publish()
            continue
        if trained and should_yield is not None and should_yield(safe_run_dir(row.run_id)):
            say(f"[{exp_id}] other sessions are waiting: the training slot goes to them before run {i + 1}/{n}")
            result.status = "queued"
            publish()
            return result
        trained += 1
        _train_and_score(row, safe_run_dir(row.run_id), shared, limit, f"[{exp_id}] {i + 1}/{n} {row.label}", say,
                         publish)
        publish(charts=True)
    result.status = "done"
    spec = result.spec
    if spec is not None and spec.subspace:
        result.subspace = _subspace(result, spec.subspace)
    publish(charts=True)
    return result


def _train_and_score(row: RunRow, run_dir: Path, shared: SharedBase, limit: int | None, tag: str,
                     say: Callable[[str], None], publish: Callable[[], None]) -> None:
    from workbench.core.training.run_score import score_run
    from workbench.core.training.callbacks import reset_peak_memory
    from workbench.core.runstore.status import read_status
    from workbench.core.training.trainer import execute
    if read_status(run_dir).status != "done":  # a run that finished training but was not scored skips this
        say(f"{tag}: training ({row.trainable:,} trainable)...")
        row.status, row.error = "running", None
        publish()
        reset_peak_memory()  # execute records this run's own peak, not the process's peak over the earlier runs
        try:
            execute(run_dir, shared=shared)  # the trained model it returns is dropped at once
        except Exception as e:  # TrainingFailed (status.json says failed) or anything else
            row.error = str(e)[:500]
        gc.collect()
    fill_from_run(row, run_dir)
    if row.status == "done":
        say(f"{tag}: scoring...")
        try:
            s = score_run(run_dir, limit)
            row.metric, row.score, row.eval_loss = s.metric, s.score, s.eval_loss
        except Exception as e:
            row.error = f"scoring failed: {type(e).__name__}: {e}"[:500]
    elif row.status not in ("failed", "stopped"):
        row.status = "failed"
    say(f"{tag}: {row.status}" + (f", {row.metric} {row.score:.3f}" if row.score is not None else "")
        + (f" ({row.error})" if row.error else ""))


def run_experiment(spec: ExperimentSpec, output_dir: str | Path | None = None, max_steps: int | None = None,
                   eval_limit: int | None = None, owner: str | None = None,
                   progress: Callable[[str], None] | None = None,
                   on_row: Callable[[ExperimentResult], None] | None = None,
                   experiment_id: str | None = None) -> ExperimentResult:
    """``prepare_experiment`` then ``continue_experiment``: train and score every variant in this process."""
    prepared = prepare_experiment(spec, output_dir=output_dir, max_steps=max_steps, eval_limit=eval_limit,
                                  owner=owner, experiment_id=experiment_id)
    result = continue_experiment(prepared.experiment_id, root=prepared.directory.parent, progress=progress,
                                 on_row=on_row)
    result.spec = spec
    return result


def _subspace(result: ExperimentResult, labels: list[str]):
    from workbench.core.experiments.report import subspace_between
    by_label = {r.label: r for r in result.rows}
    rows = [by_label.get(lbl) for lbl in labels]
    if any(r is None or r.status != "done" for r in rows):
        return None
    from workbench.core.runstore.run_dirs import safe_run_dir
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


def stop_experiment(experiment_id: str, root: str | Path | None = None) -> list[str]:
    """"Stop all": every run of the experiment that has not finished gets a stop request (a queued one is stopped
    at once and skipped; the running one saves its adapter and ends). Returns the run ids asked to stop."""
    from workbench.core.runstore.run_dirs import request_stop
    asked = []
    for row in read_experiment(experiment_id, root=root).rows:
        if row.run_id and row.status not in ("done", "failed", "stopped"):
            try:
                request_stop(row.run_id)
                asked.append(row.run_id)
            except WorkbenchError:  # finished meanwhile
                pass
    return asked

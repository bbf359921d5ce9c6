"""Train tab handlers: recipes <-> form values <-> YAML config, start/stop/resume, live status.

The run's YAML config is the single source of truth: the form renders into it, Start takes it,
and the same text runs from the terminal with ``python -m workbench train``.
"""
from __future__ import annotations

import html
import os
import re
import shutil
import threading
from pathlib import Path

import pandas as pd
import yaml

from workbench import plots
from workbench.core.data import datasets as data
from workbench.core.model import loading as models
from workbench.core.model import precision
from workbench.core.runstore import run_dirs as runs
from workbench.core.serving.run_queue import RUN_MANAGER
from workbench.core.serving.submission import submit
from workbench.core.serving.workspace import Workspace
from workbench.errors import WorkbenchError
from workbench.spec import methods
from workbench.spec.settings import RunSpec
from workbench.ui.language import (current_language, describe_dataset, localize_columns, page_text, page_translator,
                                   task_name, tr, word)
from workbench.ui.handlers.common import duration_text, in_page_language, user_errors
from workbench.ui.handlers.form import (FORM_FIELDS, RECIPES_DIR, form_to_spec, form_to_yaml, recipe_form, recipe_names,  # noqa: F401
                   recipe_spec, spec_to_form, yaml_to_form, yaml_to_spec)  # the form <-> config half (.form)


# --------------------------------------------------------------------------- methods, data

def method_choices(lang: str | None = None) -> list[tuple[str, str]]:
    """The Method radio's choices, group by group: (``group · name`` in ``lang``, default the page's language; the
    method's name, the value the config gets)."""
    lang = lang or current_language()
    return [(methods.label(name, lang), name) for name in methods.grouped_names()]


def dataset_choices() -> list[str]:
    return [d.name for d in data.list_datasets()]


def dataset_info_md(name: str) -> str:
    for d in data.list_datasets():
        if d.name == name:
            return tr("ui.dataset_summary", name=d.name, task=task_name(d.task), description=describe_dataset(d),
                      n_train=d.n_train,
                      n_test=d.n_test, metric=d.metric)
    return tr("ui.uploaded_data", name=Path(name).name)


@user_errors
def upload_dataset(file_path: str | None, owner: str, prompt_column: str = "", response_column: str = "") -> tuple[str, str]:
    """Validate an uploaded CSV/JSONL and keep a copy in the session's folder -> (data.name, summary).

    The upload is validated where it lies and only then copied in (atomically): a bad upload never
    replaces or deletes a good file of the same name that a run may be using.
    """
    if not file_path:
        raise WorkbenchError("ui.no_file")
    src = Path(file_path)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(src.name).name).lstrip(".") or "data.jsonl"
    from workbench.spec.settings import DataSpec
    spec = DataSpec(name=str(src), prompt_column=prompt_column or None, response_column=response_column or None)
    train = data.load_examples(spec, "train")
    test = data.load_examples(spec, "test")
    dest_dir = Workspace(owner).uploads_dir
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / name
    tmp = dest_dir / f".{name}.{os.getpid()}.{threading.get_ident()}.part"
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return str(dest), tr("ui.data_ok", name=name,
                         n_train=len(train), n_test=len(test))


@user_errors
def preview_html(config_yaml: str, owner: str | None = None, n: int = 3) -> str:
    """The first examples rendered with the chat template; loss-carrying tokens highlighted."""
    spec = yaml_to_spec(config_yaml)
    workspace = Workspace(owner)
    workspace.check_model_name(spec.model.name)
    workspace.check_data_source(spec.data.name)
    tok = models.load_tokenizer(spec.model.name)
    green = f"<span style='background:#bbf7d0;padding:1px 4px'>{tr('ui.green')}</span>"
    parts = ["<div style='font-family:monospace;font-size:13px;line-height:1.7'>",
             "<p>" + tr("ui.loss_tokens",
                        green=green) + "</p>"]
    for i, pieces in enumerate(data.preview(spec.data, tok, n=n)):
        parts.append(f"<div style='border:1px solid #ddd;padding:8px;margin:6px 0;white-space:pre-wrap'>"
                     f"<b>{tr('ui.example_n', i=i + 1)}</b> ({tr('ui.n_tokens', n=len(pieces))})<br>")
        for text, loss in pieces:
            style = "background:#bbf7d0" if loss else "color:#6b7280"
            parts.append(f"<span style='{style}'>{html.escape(text)}</span>")
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)


# --------------------------------------------------------------------------- code view

def show_code(config_yaml: str) -> tuple[str, str]:
    """-> (equivalent short Python using PEFT + Trainer, the CLI command)."""
    from workbench.core.export.script import python_snippet
    spec = yaml_to_spec(config_yaml)
    cli = ("# save the config shown above as run.yaml, then:\n"
           "python -m workbench train run.yaml\n"
           "# several processes / GPUs (DDP):\n"
           "accelerate launch --multi_gpu --num_processes 2 -m workbench train run.yaml")
    return python_snippet(spec), cli


# --------------------------------------------------------------------------- runs

@user_errors
def start_run(config_yaml: str, owner: str) -> str:
    """Check the config completely (core.serving.submission) and queue the run -> run id."""
    return submit(yaml_to_spec(config_yaml), Workspace(owner))


@user_errors
def stop_run(run_id: str, owner: str) -> str:
    Workspace(owner).run(run_id)
    RUN_MANAGER.stop(run_id)
    return run_id


@user_errors
def resume_run(run_id: str, owner: str) -> str:
    Workspace(owner).run(run_id)
    return RUN_MANAGER.resume(run_id, owner=owner or None)


def runs_table(owner: str) -> pd.DataFrame:
    """This session's runs; headers and run states in the page's language."""
    rows = [{"run": i.run_id, "name": i.name, "status": word(i.status), "method": i.method, "model": i.model,
             "dataset": Path(i.dataset).name, "step": f"{i.step}/{i.max_steps}",
             "train loss": None if i.train_loss is None else round(i.train_loss, 4),
             "held-out loss": None if i.eval_loss is None else round(i.eval_loss, 4),
             "held-out score": None if i.score is None else f"{i.score:.2f} {i.metric or ''}".strip()}
            for i in Workspace(owner).runs()]
    return localize_columns(pd.DataFrame(rows, columns=["run", "name", "status", "method", "model", "dataset", "step",
                                                        "train loss", "held-out loss", "held-out score"]))


def run_choices(owner: str) -> list[str]:
    return [i.run_id for i in Workspace(owner).runs()]


def _progress_html(step: int, total: int, status: str) -> str:
    pct = 0 if not total else min(100, 100 * step / total)
    color = {"failed": "#dc2626", "stopped": "#f59e0b", "done": "#16a34a"}.get(status, "#2563eb")
    return (f"<div id='train-progress' data-step='{step}' data-total='{total}' data-status='{html.escape(status)}' "
            f"style='border:1px solid #ddd;border-radius:6px;height:22px;position:relative;background:#f3f4f6'>"
            f"<div style='width:{pct:.1f}%;height:100%;background:{color};border-radius:6px'></div>"
            f"<div style='position:absolute;top:1px;width:100%;text-align:center;font-size:13px'>"
            + tr("ui.progress", step=step, total=total, percent=pct,
                 status=html.escape(word(status)))
            + "</div></div>")


@in_page_language
def poll_run(run_id: str, owner: str):
    """-> (status markdown, progress HTML, loss figure, start/stop/resume interactivity as a dict), worded in the
    page's language."""
    if not run_id:
        return (tr("ui.no_run_yet"),
                _progress_html(0, 0, "idle"), plots.loss_chart([], tr=page_translator()),
                {"start": True, "stop": False, "resume": False})
    try:
        st = Workspace(owner).run(run_id)
        log = runs.read_log(run_id)
    except WorkbenchError as e:
        return tr("ui.warning", error=page_text(e)), _progress_html(0, 0, "unknown"), \
            plots.loss_chart([], tr=page_translator()), {"start": True, "stop": False, "resume": False}
    status = st.status
    step, total = st.step, st.max_steps
    last = next((r for r in reversed(log) if r.get("loss") is not None), {})
    lines = [tr("ui.run_header", run_id=run_id, status=word(status))]
    if status == "queued":
        pos, wait = RUN_MANAGER.place(run_id)  # one plan of the queue for both
        lines.append(tr("ui.queue_position", position=pos or "?", n=RUN_MANAGER.max_concurrent))
        lines.append(tr("ui.queue_eta", wait=duration_text(wait)) if wait is not None else tr("ui.queue_eta_later"))
    if st.trainable_params:
        tp, tot = st.trainable_params, st.total_params or 0
        lines.append(tr("ui.run_setup", trainable=tp, total=tot,
                        percent=100 * tp / max(tot, 1), device=st.device or "?", dtype=st.dtype or "?",
                        processes=st.world_size or 1))
    if last:
        lines.append(tr("ui.run_step",
                        step=last.get("step"), loss=last.get("loss"), speed=last.get("tokens_per_s", 0),
                        elapsed=duration_text(last.get("elapsed_s")),
                        eta=duration_text(last.get("eta_s")) if status == "running" else "–"))
    if st.eval_loss is not None:
        lines.append(tr("ui.heldout_loss", loss=st.eval_loss))
    if status == "failed" and st.error:
        lines.append(tr("ui.run_failed", error=st.error_text(current_language())))
    if status == "done":
        lines.append(tr("ui.run_done",
                        path=runs.safe_run_dir(run_id) / "adapter"))
    if status == "stopped":
        lines.append(tr("ui.run_stopped"))
    active = status in runs.ACTIVE
    buttons = {"start": not active, "stop": active, "resume": status in ("stopped", "failed")}
    return ("  \n".join(lines), _progress_html(step, total, status),
            plots.loss_chart(log, title=tr("ui.loss_title", name=st.name or run_id), tr=page_translator()), buttons)


@user_errors
def run_status(run_id: str, owner: str) -> dict:
    """status.json of one of this session's runs, plus its queue position and the number of log rows."""
    st = Workspace(owner).run(run_id).to_dict()
    st["queue_position"], st["queue_wait_s"] = RUN_MANAGER.place(run_id)
    st["log_rows"] = len(runs.read_log(run_id))
    st.pop("owner", None)
    return st


def precision_summary() -> str:
    """What precision auto means on this machine, in the page's language."""
    dev = precision.pick_device("auto")
    bf16, _ = precision.mixed_precision("auto", dev)
    if bf16:
        return tr("ui.precision_bf16_native")
    return tr("ui.precision_bf16_emulated") if dev == "cpu" else ""


def device_summary() -> str:
    """What training will run on here (CUDA, then MPS, then CPU), in the page's language."""
    dev = precision.pick_device("auto")
    cores = os.cpu_count() or 1
    return {"cuda": "CUDA GPU", "mps": "Apple MPS"}.get(dev) or tr("ui.cpu_cores", cores=cores)

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
import time
from pathlib import Path

import pandas as pd
import yaml

from ... import plots
from ...core import data as D
from ...core import models as M
from ...core import runs as R
from ...core.manager import RUN_MANAGER
from ...errors import WorkbenchError
from ...settings import RunSpec, SpecError
from ..display_text import chart_tr, describe, localize_columns
from ..error_text import translate, tr, word
from ..text import current_language
from .common import in_page_language, user_errors

RECIPES_DIR = M.REPO_ROOT / "presets" / "recipes"


# Form field name -> dotted config path. The tab builds one component per field in this order.
FORM_FIELDS = (
    "name", "model.name", "adapter.method", "adapter.r", "adapter.alpha", "adapter.dropout", "adapter.target_modules",
    "adapter.use_rslora", "adapter.bias", "adapter.num_virtual_tokens", "adapter.prompt_tuning_init",
    "adapter.prompt_tuning_init_text", "adapter.encoder_reparameterization_type", "adapter.prefix_projection",
    "adapter.bnb_4bit_quant_type", "adapter.bnb_4bit_use_double_quant", "data.name", "data.max_length",
    "data.train_on_prompt", "train.max_steps", "train.learning_rate", "train.batch_size", "train.grad_accum",
    "train.warmup_steps", "train.lr_scheduler", "train.save_steps", "train.eval_steps", "train.seed",
    "train.precision", "train.device",
)


# --------------------------------------------------------------------------- recipes and form

def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def recipe_spec(name: str) -> RunSpec:
    if name not in recipe_names():
        raise WorkbenchError("ui.unknown_recipe", name=name, choices=", ".join(recipe_names()))
    return RunSpec.load(RECIPES_DIR / f"{name}.yaml")


def _targets_text(t) -> str:
    if t is None:
        return ""
    return t if isinstance(t, str) else ", ".join(t)


def spec_to_form(spec: RunSpec) -> dict:
    """RunSpec -> {form field: value} (the UI's view of a config)."""
    d = spec.to_dict()
    out = {}
    for f in FORM_FIELDS:
        if f == "name":
            out[f] = spec.name or ""
            continue
        sec, key = f.split(".")
        v = d[sec][key]
        if key == "target_modules":
            v = _targets_text(v)
        elif v is None:
            v = 0 if key == "eval_steps" else ""  # a Number shows 0 for 'not set'
        out[f] = v
    return out


@user_errors
def recipe_form(name: str) -> dict:
    """Form values of a shipped recipe."""
    return spec_to_form(recipe_spec(name))


def _parse_targets_text(text: str):
    text = (text or "").strip()
    if not text or text.lower() in ("default", "none"):
        return None
    if text == "all-linear":
        return text
    if re.search(r"[\\^$*+?()\[\]|]", text):
        return text  # a regex
    return [t for t in re.split(r"[,\s]+", text) if t]


def form_to_spec(values: dict, base_yaml: str | None = None) -> RunSpec:
    """{form field: value} laid over ``base_yaml`` (the current config; settings the form does not show are
    kept) -> a validated RunSpec (SpecError names the bad field)."""
    base = (RunSpec.from_yaml(base_yaml) if base_yaml and base_yaml.strip() else RunSpec()).to_dict()
    for f, v in values.items():
        if f == "name":
            base["name"] = (v or "").strip() or None
            continue
        sec, key = f.split(".")
        if key == "target_modules":
            v = _parse_targets_text(v)
        elif key in ("r", "num_virtual_tokens", "max_length", "max_steps", "batch_size", "grad_accum", "warmup_steps",
                     "save_steps", "seed"):
            v = int(v) if v not in (None, "") else base[sec][key]
        elif key == "eval_steps":
            v = int(v) if v not in (None, "", 0) else None
        elif key in ("alpha", "dropout", "learning_rate"):
            v = float(v)
        elif key == "prompt_tuning_init_text":
            v = v or None
        base[sec][key] = v
    return RunSpec.from_dict(base)


@user_errors
def form_to_yaml(values: dict, base_yaml: str | None = None) -> str:
    return form_to_spec(values, base_yaml).to_yaml()


def yaml_to_spec(config_yaml: str) -> RunSpec:
    return RunSpec.from_yaml(config_yaml or "")


def method_help(method: str) -> str:
    """The English one-paragraph explanation of a method (the page shows it translated)."""
    from ..help_text import EN
    return EN.get(f"help.method.{method}", "")


# --------------------------------------------------------------------------- data

def dataset_choices() -> list[str]:
    return [d.name for d in D.list_datasets()]


def dataset_info_md(name: str) -> str:
    for d in D.list_datasets():
        if d.name == name:
            return tr("ui.dataset_summary", name=d.name, task=describe(d.task), description=describe(d.description),
                      n_train=d.n_train,
                      n_test=d.n_test, metric=d.metric)
    return tr("ui.uploaded_data", name=Path(name).name)


def uploads_root() -> Path:
    """The folder holding every session's uploads folder."""
    return R.runs_root().parent / "uploads"


def uploads_dir(owner: str) -> Path:
    """Per-session folder for uploaded datasets (never shared between sessions)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "", owner or "anon")[:64] or "anon"
    return uploads_root() / safe


def check_data_source(name: str, owner: str | None) -> None:
    """Refuse dataset paths a web session may not read.

    Shipped datasets and hub ids are fine; a file or folder path must lie in the session's own uploads
    folder (``owner=None``: in some session's uploads folder, for handlers that do not know the session).
    Anything else would let a page read any .jsonl/.csv on the server. The CLI is not limited.
    """
    name = (name or "").strip()
    if name in dataset_choices():
        return
    path = Path(os.path.expanduser(name))
    looks_like_path = name.startswith(("/", "./", "../", "~", "\\")) or path.suffix.lower() in D.SUFFIXES
    if not (looks_like_path or path.exists()):
        return  # a hub id
    root = (uploads_root() if owner is None else uploads_dir(owner)).resolve()
    if not path.resolve().is_relative_to(root):
        raise SpecError("data.name", "ui.dataset_not_allowed", name=name, choices=", ".join(dataset_choices()))


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
    from ...settings import DataSpec
    spec = DataSpec(name=str(src), prompt_column=prompt_column or None, response_column=response_column or None)
    train = D.load_examples(spec, "train")
    test = D.load_examples(spec, "test")
    dest_dir = uploads_dir(owner)
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
    check_data_source(spec.data.name, owner)
    tok = M.load_tokenizer(spec.model.name)
    green = f"<span style='background:#bbf7d0;padding:1px 4px'>{tr('ui.green')}</span>"
    parts = ["<div style='font-family:monospace;font-size:13px;line-height:1.7'>",
             "<p>" + tr("ui.loss_tokens",
                        green=green) + "</p>"]
    for i, pieces in enumerate(D.preview(spec.data, tok, n=n)):
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
    from ...core.codegen import python_snippet
    spec = yaml_to_spec(config_yaml)
    cli = ("# save the config shown above as run.yaml, then:\n"
           "python -m workbench train run.yaml\n"
           "# several processes / GPUs (DDP):\n"
           "accelerate launch --multi_gpu --num_processes 2 -m workbench train run.yaml")
    return python_snippet(spec), cli


# --------------------------------------------------------------------------- runs

def _owned(status: R.RunStatus, owner: str) -> bool:
    import os
    if os.environ.get("WORKBENCH_SHARE_RUNS", "0") == "1":
        return True
    return status.owner in (None, "", owner) if not owner else status.owner == owner


@user_errors
def start_run(config_yaml: str, owner: str) -> str:
    """Validate the config and queue the run -> run id."""
    spec = yaml_to_spec(config_yaml)
    if M.resolve(spec.model.name).kind in ("arch", "config"):
        raise SpecError("model.name", "ui.architecture_only_train", name=spec.model.name, example=M.EMBEDDED_NAME)
    check_data_source(spec.data.name, owner)
    D.load_examples(spec.data, "train")  # refuse bad data before queueing
    return RUN_MANAGER.submit(spec, owner=owner or None)


def _check_owner(run_id: str, owner: str) -> R.RunStatus:
    """status.json of ``run_id`` if this session may see it (else a clear error)."""
    if not run_id:
        raise WorkbenchError("ui.no_run_selected")
    st = R.run_status(run_id)
    if not _owned(st, owner):
        raise WorkbenchError("runs.other_session", run_id=run_id)
    return st


@user_errors
def stop_run(run_id: str, owner: str) -> str:
    _check_owner(run_id, owner)
    RUN_MANAGER.stop(run_id)
    return run_id


@user_errors
def resume_run(run_id: str, owner: str) -> str:
    _check_owner(run_id, owner)
    return RUN_MANAGER.resume(run_id, owner=owner or None)


def my_runs(owner: str) -> list[R.RunInfo]:
    out = []
    for info in R.list_runs():
        try:
            st = R.run_status(info.run_id)
        except WorkbenchError:
            continue
        if _owned(st, owner):
            out.append(info)
    return out


def runs_table(owner: str) -> pd.DataFrame:
    """This session's runs; headers and run states in the page's language."""
    rows = [{"run": i.run_id, "name": i.name, "status": word(i.status), "method": i.method, "model": i.model,
             "dataset": Path(i.dataset).name, "step": f"{i.step}/{i.max_steps}",
             "train loss": None if i.train_loss is None else round(i.train_loss, 4),
             "held-out loss": None if i.eval_loss is None else round(i.eval_loss, 4)} for i in my_runs(owner)]
    return localize_columns(pd.DataFrame(rows, columns=["run", "name", "status", "method", "model", "dataset", "step",
                                                        "train loss", "held-out loss"]))


def run_choices(owner: str) -> list[str]:
    return [i.run_id for i in my_runs(owner)]


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


def _fmt_s(s) -> str:
    if s is None:
        return "–"
    s = int(s)
    return tr("ui.minutes_seconds", minutes=s // 60, seconds=s % 60) if s >= 60 else tr("ui.seconds", seconds=s)


@in_page_language
def poll_run(run_id: str, owner: str):
    """-> (status markdown, progress HTML, loss figure, start/stop/resume interactivity as a dict), worded in the
    page's language."""
    if not run_id:
        return (tr("ui.no_run_yet"),
                _progress_html(0, 0, "idle"), plots.loss_chart([], tr=chart_tr()),
                {"start": True, "stop": False, "resume": False})
    try:
        st = _check_owner(run_id, owner)
        log = R.read_log(run_id)
    except WorkbenchError as e:
        return tr("ui.warning", error=page_text(e)), _progress_html(0, 0, "unknown"), \
            plots.loss_chart([], tr=chart_tr()), {"start": True, "stop": False, "resume": False}
    status = st.status
    step, total = st.step, st.max_steps
    last = next((r for r in reversed(log) if r.get("loss") is not None), {})
    lines = [tr("ui.run_header", run_id=run_id, status=word(status))]
    pos = RUN_MANAGER.queue_position(run_id)
    if status == "queued":
        lines.append(tr("ui.queue_position", position=pos or "?", n=RUN_MANAGER.max_concurrent))
        wait = RUN_MANAGER.wait_estimate(run_id)
        lines.append(tr("ui.queue_eta",
                        wait=_fmt_s(wait)) if wait is not None else
                     tr("ui.queue_eta_later"))
    if st.trainable_params:
        tp, tot = st.trainable_params, st.total_params or 0
        lines.append(tr("ui.run_setup", trainable=tp, total=tot,
                        percent=100 * tp / max(tot, 1), device=st.device or "?", dtype=st.dtype or "?",
                        processes=st.world_size or 1))
    if last:
        lines.append(tr("ui.run_step",
                        step=last.get("step"), loss=last.get("loss"), speed=last.get("tokens_per_s", 0),
                        elapsed=_fmt_s(last.get("elapsed_s")),
                        eta=_fmt_s(last.get("eta_s")) if status == "running" else "–"))
    if st.eval_loss is not None:
        lines.append(tr("ui.heldout_loss", loss=st.eval_loss))
    if status == "failed" and st.error:
        lines.append(tr("ui.run_failed", error=st.error_text(current_language())))
    if status == "done":
        lines.append(tr("ui.run_done",
                        path=R.safe_run_dir(run_id) / "adapter"))
    if status == "stopped":
        lines.append(tr("ui.run_stopped"))
    active = status in R.ACTIVE
    buttons = {"start": not active, "stop": active, "resume": status in ("stopped", "failed")}
    return ("  \n".join(lines), _progress_html(step, total, status),
            plots.loss_chart(log, title=tr("ui.loss_title", name=st.name or run_id), tr=chart_tr()), buttons)


@user_errors
def run_status(run_id: str, owner: str) -> dict:
    """status.json of one of this session's runs, plus its queue position and the number of log rows."""
    st = _check_owner(run_id, owner).to_dict()
    st["queue_position"] = RUN_MANAGER.queue_position(run_id)
    st["queue_wait_s"] = RUN_MANAGER.wait_estimate(run_id)
    st["log_rows"] = len(R.read_log(run_id))
    st.pop("owner", None)
    return st


def run_config(run_id: str, owner: str) -> str:
    _check_owner(run_id, owner)
    return (R.safe_run_dir(run_id) / "config.yaml").read_text(encoding="utf-8")


def new_owner_id() -> str:
    import secrets
    return secrets.token_hex(12)


def browser_state_secret() -> str:
    """The key gr.BrowserState encrypts the owner id with in the browser's local storage.

    It must outlive the server process: with Gradio's default (a new random key per start) a restarted
    server cannot read what browsers stored, every visitor gets a new owner id and loses their runs.
    From env WORKBENCH_BROWSER_SECRET, else a random key kept in <runs root>/.browser-state-secret.
    The key is sent to every page (it is not a credential); the owner id it wraps is what is private.
    """
    env = os.environ.get("WORKBENCH_BROWSER_SECRET", "").strip()
    if env:
        return env
    path = R.runs_root() / ".browser-state-secret"
    try:
        return path.read_text(encoding="utf-8").strip() or _new_secret(path)
    except FileNotFoundError:
        return _new_secret(path)


def _new_secret(path: Path) -> str:
    import secrets
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(secrets.token_hex(16), encoding="utf-8")
    try:
        os.link(tmp, path)  # first writer wins when two servers start together
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip()


def device_summary() -> str:
    """What training will run on here (CUDA, then MPS, then CPU), in the page's language."""
    import os
    dev = M.pick_device("auto")
    cores = os.cpu_count() or 1
    return {"cuda": "CUDA GPU", "mps": "Apple MPS"}.get(dev) or tr("ui.cpu_cores", cores=cores)


def elapsed_since(t0: float) -> float:
    return time.time() - t0

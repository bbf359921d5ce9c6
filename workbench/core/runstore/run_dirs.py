"""Run directories and their files: ids, config, status, log, stop requests.

A run is a directory under ``runs_root()``::

    runs/<run_id>/
      config.yaml    the RunSpec that defines the run (the same file runs from the terminal)
      status.json    a RunStatus (status.py): queued | running | stopping | stopped | failed | done, step ...
      log.jsonl      one JSON object per logged step (loss, learning_rate, tokens_per_s ...) and eval rows
      adapter/       the trained adapter (PEFT save_pretrained; loads with PeftModel.from_pretrained)
      checkpoints/   resumable Trainer checkpoints (the last 2)
      train.log      stdout/stderr of the worker process
      STOP           present while a stop is requested

Only plain files are used, so the web page, the CLI and a restarted server all see the same truth.
The background queue of worker processes lives in ``core/serving/run_queue.py`` (``RUN_MANAGER``).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.messages import Message
from workbench.spec import methods
from workbench.spec.settings import RunSpec
from workbench.core.paths import REPO_ROOT
from workbench.core.runstore.storage import default_runs_root
from workbench.core.runstore.writer_lock import writer_alive
from workbench.core.runstore.status import (ACTIVE, STATUS_VERSION, STATUSES, TERMINAL, RunStatus, read_status,  # noqa: F401
                     update_status, write_json_atomic)

INTERRUPTED = "interrupted (server restarted)"  # English text of runs.interrupted_restart
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class RunError(WorkbenchError):
    """A run id, run directory or run operation is invalid; the message says which and why."""


# --------------------------------------------------------------------------- paths and ids

def runs_root() -> Path:
    """Where run directories live: env WORKBENCH_RUNS_DIR, else /data/workbench-runs on a Space with persistent
    storage, else <repo>/runs (storage.default_runs_root)."""
    return default_runs_root(REPO_ROOT)


def new_run_id() -> str:
    """A sortable, unique id: UTC timestamp + 6 random hex characters, e.g. 20250101-120000-a1b2c3."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is a plain name (letters, digits, '.', '_', '-'), else raise RunError."""
    if not isinstance(run_id, str) or not run_id:
        raise RunError("runs.empty_id")
    if "/" in run_id or "\\" in run_id or ".." in run_id or os.path.isabs(run_id) or "://" in run_id \
            or run_id.startswith(".") or not _RUN_ID_RE.match(run_id):
        raise RunError("runs.invalid_id", run_id=run_id)
    return run_id


def safe_run_dir(run_id: str) -> Path:
    """The directory of ``run_id`` inside runs_root(); refuses ids that could escape it."""
    root = runs_root().resolve()
    d = (root / check_run_id(run_id)).resolve()
    if d.parent != root:
        raise RunError("runs.id_outside", run_id=run_id)
    return d


def existing_run_dir(run_id: str) -> Path:
    """Like safe_run_dir, but the run must exist."""
    d = safe_run_dir(run_id)
    if not (d / "config.yaml").is_file():
        raise RunError("runs.not_found", run_id=run_id, root=str(runs_root()))
    return d


# --------------------------------------------------------------------------- small file helpers

def read_log_dir(run_dir: Path, since_step: int | None = None) -> list[dict[str, Any]]:
    """Rows of log.jsonl (a half-written last line is skipped); only rows with step > since_step if given."""
    path = Path(run_dir) / "log.jsonl"
    if not path.is_file():
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if since_step is None or row.get("step", 0) > since_step:
                rows.append(row)
    return rows


def truncate_log(run_dir: Path, max_step: int) -> int:
    """Drop log rows with step > max_step (before resuming from a checkpoint); returns rows kept."""
    path = Path(run_dir) / "log.jsonl"
    rows = [r for r in read_log_dir(run_dir) if r.get("step", 0) <= max_step]
    tmp = path.with_name(".log.jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, path)
    return len(rows)


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoints/checkpoint-N directory, or None."""
    ck = Path(run_dir) / "checkpoints"
    if not ck.is_dir():
        return None
    found = []
    for p in ck.iterdir():
        m = re.fullmatch(r"checkpoint-(\d+)", p.name)
        if m and p.is_dir() and (p / "trainer_state.json").is_file():
            found.append((int(m.group(1)), p))
    return max(found)[1] if found else None


def pid_alive(pid: int | None) -> bool:
    """True if a process with this pid exists (zombies count as gone)."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


# --------------------------------------------------------------------------- public run API

@dataclass
class RunInfo:
    """One row of the run list."""
    run_id: str
    name: str | None
    status: str
    method: str
    model: str
    dataset: str
    step: int
    max_steps: int
    created: float
    train_loss: float | None
    eval_loss: float | None
    error: str | None
    path: str
    metric: str | None = None
    """The dataset's task metric the finished run was scored with (metrics.json), if it was scored."""
    score: float | None = None
    """Its held-out score in [0, 1]."""


def create_run(spec: RunSpec, run_id: str | None = None, owner: str | None = None,
               experiment: str | None = None) -> str:
    """Make a run directory with config.yaml and a queued status.json; returns the run id."""
    run_id = check_run_id(run_id) if run_id else new_run_id()
    d = safe_run_dir(run_id)
    if d.exists():
        raise RunError("runs.exists", run_id=run_id, root=str(runs_root()))
    d.mkdir(parents=True)
    spec.save(d / "config.yaml")
    init_status(d, spec, run_id, owner=owner, experiment=experiment)
    return run_id


def init_status(run_dir: Path, spec: RunSpec, run_id: str, owner: str | None = None,
                experiment: str | None = None) -> RunStatus:
    """The first status.json of a run (status queued)."""
    return update_status(
        run_dir, status="queued", run_id=run_id, name=spec.name, owner=owner, experiment=experiment,
        created=time.time(), started=None, ended=None, step=0, max_steps=spec.train.max_steps, error=None,
        train_loss=None, eval_loss=None, method=spec.adapter.method, model=spec.model.name, dataset=spec.data.name,
        pid=None)


def list_runs() -> list[RunInfo]:
    """Every run under runs_root(), newest first."""
    root = runs_root()
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        if not d.is_dir() or not _RUN_ID_RE.match(d.name) or not (d / "config.yaml").is_file():
            continue
        st = read_status(d)
        out.append(RunInfo(
            run_id=d.name, name=st.name, status=st.status, method=st.method or "?", model=st.model or "?",
            dataset=st.dataset or "?", step=st.step, max_steps=st.max_steps,
            created=st.created or d.stat().st_mtime, train_loss=st.train_loss, eval_loss=st.eval_loss,
            error=st.error, path=str(d), metric=st.metric, score=st.score))
    out.sort(key=lambda r: (r.created, r.run_id), reverse=True)
    return out


def run_status(run_id: str) -> RunStatus:
    """The status of run ``run_id`` (RunError if there is no such run); ``read_status(run_dir)`` for a folder."""
    return read_status(existing_run_dir(run_id))


def read_log(run_id: str, since_step: int | None = None) -> list[dict[str, Any]]:
    """log.jsonl rows of a run; with ``since_step`` only the newer ones (for live polling)."""
    return read_log_dir(existing_run_dir(run_id), since_step)


def adapter_dir(run_id: str) -> Path | None:
    """The run's saved adapter directory, or None if it has none yet."""
    d = existing_run_dir(run_id) / "adapter"
    return d if (d / "adapter_config.json").is_file() else None


@dataclass
class AdapterSummary:
    """What an adapter folder is, for a badge: its method, how many parameters it trained and, for a run's adapter,
    what the run measured (score, forgetting) and its size."""
    method: str              # lora, dora, qlora, ia3, prompt_tuning, ... (lower case)
    params: int              # trainable parameters (from the run's status), else the numbers in the weights file
    from_run: bool           # True when ``params`` comes from the run that trained it
    metric: str | None = None        # the run's held-out metric and score (None: not a run's, or not scored)
    score: float | None = None
    forgetting: float | None = None  # the run's loss rise on general text (core/evaluation/forgetting.py)
    adapter_mb: float | None = None  # size of the adapter files, MB (the run's record, else measured here)


def adapter_summary(adapter_dir: str | Path) -> AdapterSummary:
    """Summarise an adapter folder (a run's ``adapter/`` or an uploaded one) from its config, weights header
    and, for a run's adapter, the run's status.json; raises adapter_files.AdapterError for a folder that is no adapter."""
    from workbench.core.model.adapter_files import adapter_mb, read_adapter, weight_shapes
    info = read_adapter(adapter_dir)
    status = read_status(Path(adapter_dir).parent) if Path(adapter_dir).name == "adapter" else RunStatus(version=0)
    method = methods.adapter_method(info.peft_type, info.config, run_method=status.method)
    costs = dict(metric=status.metric, score=status.score, forgetting=status.forgetting,
                 adapter_mb=status.adapter_mb if status.adapter_mb is not None else adapter_mb(adapter_dir))
    if status.trainable_params:
        return AdapterSummary(method=method, params=status.trainable_params, from_run=True, **costs)
    n = 0
    for shape in weight_shapes(info).values():
        size = 1
        for dim in shape:
            size *= int(dim)
        n += size
    return AdapterSummary(method=method, params=n, from_run=False, **costs)


def stop_file(run_dir: Path) -> Path:
    return Path(run_dir) / "STOP"


def yield_file(run_dir: Path) -> Path:
    """Present in a queued run of an experiment while the run queue wants that experiment's worker to give the
    training slot up before starting this run (other sessions wait: ``serving.run_queue``, fair share)."""
    return Path(run_dir) / "YIELD"


def request_stop(run_id: str) -> RunStatus:
    """Ask a run to stop: writes the STOP file (the worker checks it every optimizer step).

    A running run becomes 'stopping' until its worker saves the adapter and exits; a queued run is
    marked 'stopped' at once. Stopping a finished run is an error.
    """
    d = existing_run_dir(run_id)
    st = read_status(d)
    if st.is_terminal:
        raise RunError("runs.nothing_to_stop", run_id=run_id, status=st.status)
    stop_file(d).write_text(str(time.time()), encoding="utf-8")
    if st.status == "queued":
        return update_status(d, status="stopped", ended=time.time())
    return update_status(d, status="stopping")


def tail_text(path: Path, max_chars: int = 2000) -> str:
    """The last ``max_chars`` characters of a text file ('' if missing)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_chars))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def mark_interrupted(keep: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Mark runs left queued/running/stopping whose worker is gone as failed ('interrupted (server restarted)').

    Call on server start. ``keep`` lists run ids this process still manages (left alone). Returns the ids marked.
    """
    marked = []
    for info in list_runs():
        if info.status not in ACTIVE or info.run_id in keep:
            continue
        d = Path(info.path)
        st = read_status(d)
        if st.status in ("running", "stopping") and pid_alive(st.pid) or writer_alive(d):  # a live worker writes it
            continue
        update_status(d, status="failed", error=Message("runs.interrupted_restart"), ended=time.time())
        marked.append(info.run_id)
    return marked


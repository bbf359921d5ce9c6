"""The typed run status: ``RunStatus``, the one schema of a run's ``status.json``.

Every writer goes through ``update_status(run_dir, **fields)`` (a lock shared by the server and the worker, then an
atomic replace), every reader through ``read_status(run_dir) -> RunStatus``. A field name that is not in the
dataclass is a programming error (TypeError), so the schema cannot drift. Older files (no ``version``, missing
fields, wrong types, unknown keys) are read tolerantly: missing fields take their defaults, values of the wrong
type become None / 0, unknown keys are kept in ``extra`` and written back unchanged.

The run error is stored twice: ``error`` (English text, for old readers and the CLI) and ``error_message``
(``{"id", "params"}`` of a ``workbench.messages.Message``, so a page renders it in its own language).
``update_status(d, error=Message(...))`` fills both; ``RunStatus.error_text(lang)`` reads them.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from workbench.messages import Message

STATUS_VERSION = 1
"""Version written into every status.json (files without one are version 0: written before the schema)."""

ACTIVE = ("queued", "running", "stopping")
STOP_REQUESTED = "stop requested"
"""``stop_reason`` of a run stopped by its Stop button (a STOP file), whoever asked."""
TIME_LIMIT_REACHED = "time limit reached"
"""``stop_reason`` of a run that reached its wall-clock cap (it ends done, with what it trained)."""
TERMINAL = ("stopped", "failed", "done")
STATUSES = ACTIVE + TERMINAL


@dataclass
class RunStatus:
    """Everything status.json records about one run (see the module docstring)."""
    version: int = STATUS_VERSION
    run_id: str = ""
    name: str | None = None
    owner: str | None = None
    experiment: str | None = None          # the experiment this run belongs to (id), if any
    status: str = "unknown"                # queued | running | stopping | stopped | failed | done
    method: str | None = None
    model: str | None = None
    dataset: str | None = None
    created: float | None = None
    started: float | None = None
    ended: float | None = None
    updated: float | None = None
    pid: int | None = None
    world_size: int | None = None
    device: str | None = None
    dtype: str | None = None
    step: int = 0
    max_steps: int = 0
    checkpoint_step: int | None = None
    resumed_from: str | None = None
    eta_s: float | None = None
    elapsed_s: float | None = None
    train_loss: float | None = None
    last_loss: float | None = None
    eval_loss: float | None = None
    metric: str | None = None              # name of the held-out metric the run is scored by
    score: float | None = None             # its value
    trainable_params: int | None = None
    total_params: int | None = None
    n_train: int | None = None
    n_eval: int | None = None
    peak_mem_mb: float | None = None       # measured peak memory of the worker
    cpu_s: float | None = None             # CPU time (user + system, s) the worker used (core/serving/instructor.py)
    est_mem_mb: float | None = None        # the counting engine's estimate before the run
    forgetting: float | None = None        # mean token loss on general text, adapted - base (forgetting.json)
    adapter_mb: float | None = None        # size of the saved adapter files, MB (1e6 bytes; model card left out)
    adapter_dir: str | None = None
    adapter_step: int | None = None
    adapter_error: str | None = None
    stop_reason: str | None = None
    error: str | None = None               # English text of the error
    error_message: dict[str, Any] | None = None  # Message.to_dict() of the error
    traceback: str | None = None
    log_tail: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know (kept as they are)

    # ----------------------------------------------------------------- views
    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def error_text(self, lang: str = "en") -> str | None:
        """The run error in ``lang`` (from the stored message; the English text for older files)."""
        if self.error_message:
            try:
                return Message.from_dict(self.error_message).render(lang)
            except (KeyError, IndexError, ValueError):  # an id this version does not know
                pass
        return self.error

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to status.json (unknown keys of older/newer files included)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**self.extra, **out}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunStatus":
        """Tolerant: missing fields take defaults, wrongly typed values are dropped, unknown keys go to ``extra``."""
        if not isinstance(data, dict):
            return cls(version=0)
        known = {f.name: f for f in fields(cls) if f.name != "extra"}
        values: dict[str, Any] = {"version": 0}  # a file without a version predates the schema
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                extra[key] = value
                continue
            ok, value = _coerce(known[key].type, value)
            if ok:
                values[key] = value
        return cls(**values, extra=extra)


_NUMBER = {"int": int, "float": float}


def _coerce(annotation: str, value: Any) -> tuple[bool, Any]:
    """(usable, value) for a field annotated ``annotation`` (a string under ``from __future__ import annotations``)."""
    optional = "None" in annotation
    if value is None:
        return optional, None
    base = annotation.split("|")[0].strip()
    if base in _NUMBER:
        if isinstance(value, bool):
            return False, None
        try:
            number = _NUMBER[base](value)
        except (TypeError, ValueError):
            return False, None
        return True, number
    if base == "str":
        return isinstance(value, str), value
    if base.startswith("dict"):
        return isinstance(value, dict), value
    return True, value


FIELD_NAMES = frozenset(f.name for f in fields(RunStatus)) - {"extra"}


# --------------------------------------------------------------------------- files

def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to a temp file and os.replace it, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(2)}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(run_dir: Path):
    """An exclusive lock on the run's status (the worker and the server both update it)."""
    import fcntl
    with open(run_dir / ".status.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_status(run_dir: str | Path) -> RunStatus:
    """The status of the run in ``run_dir`` (a default RunStatus, status 'unknown', when status.json is missing)."""
    try:
        data = json.loads((Path(run_dir) / "status.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return RunStatus(version=0)
    return RunStatus.from_dict(data)


def update_status(run_dir: str | Path, **changes: Any) -> RunStatus:
    """Set ``changes`` in status.json under the lock and write it atomically; returns the new status.

    ``error`` may be a ``Message`` (stored as English text plus ``error_message``) or text (clears
    ``error_message``). Unknown field names raise TypeError.
    """
    unknown = set(changes) - FIELD_NAMES
    if unknown:
        raise TypeError(f"RunStatus has no field(s) {sorted(unknown)}")
    if "error" in changes:
        error = changes["error"]
        if isinstance(error, Message):
            changes.update(error=error.render("en"), error_message=error.to_dict())
        elif "error_message" not in changes:
            changes["error_message"] = None
    run_dir = Path(run_dir)
    with _locked(run_dir):
        st = read_status(run_dir)
        for key, value in changes.items():
            setattr(st, key, value)
        st.version = STATUS_VERSION
        st.updated = time.time()
        write_json_atomic(run_dir / "status.json", st.to_dict())
    return st

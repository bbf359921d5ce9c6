"""The instructor view's engine (issue 13, item 3): the whole room's runs, the queue, a class board, reset.

Enabled by ``WORKBENCH_ADMIN_PASSWORD`` (at least MIN_PASSWORD characters: a shorter one leaves the view off and
is reported at start-up); every entry point of the page or the API that shows or changes the room calls
``check_password(given, address)`` first: refused when no password is set, when ``address`` is locked out after too
many wrong tries (core/serving/door.py: 5 a minute, then a minute's wait), else a constant-time compare of SHA-256
digests. Nothing here imports gradio: ui/handlers/admin.py wraps it and passes the client's address.

    admin_enabled()                    a password of MIN_PASSWORD characters or more is set
    password_problem()                 the Message saying why a set password is refused (too short), or None
    check_password(given, address)     ClassroomError unless ``given`` is the password and ``address`` is not locked out
    room(manager)                      Room(rows, summary): every browser session's runs with status, step,
                                       queue position and worker CPU time; a queue summary
    stop_run(run_id, manager)          stop a running run / cancel a queued one, whoever owns it
    move_to_front(run_id, manager)     the waiting job holding the run starts next; pause_queue(paused, manager)
    class_board()                      best held-out score per shipped dataset and learner (display name or
                                       anonymous), from RunStatus ``score`` written by core/training/run_score.py
    archive_runs(manager)              move every finished run into <runs>/archive/<date>/ (never deletes)
    set_display_name(owner, name)      a learner's name on the class board ('' = anonymous); display_name(owner)
    worker_cpu_s(st)                   CPU time of a run's worker (live, or the ``cpu_s`` it wrote at its end)
                                       / of a live worker (psutil on its pid), for runs still training
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import WorkbenchError
from workbench.messages import Message
from workbench.core.runstore import run_dirs as runs
from workbench.core.runstore.status import ACTIVE, write_json_atomic
from workbench.core.serving.door import Door

if TYPE_CHECKING:
    from workbench.core.serving.run_queue import RunManager

PASSWORD_ENV = "WORKBENCH_ADMIN_PASSWORD"
MIN_PASSWORD = 12
"""Shortest instructor password the server accepts (characters); a shorter one leaves the instructor view off."""
DOOR = Door()
"""Wrong tries per client address, and lock-outs, for this server process."""
MAX_NAME = 40
"""Longest display name a learner may choose."""
_NAMES_LOCK = threading.Lock()


class ClassroomError(WorkbenchError):
    """The instructor view refused a request (off, or a wrong password), or a learner's name is not valid."""


# --------------------------------------------------------------------------- the password

def admin_enabled() -> bool:
    """True when the server has an instructor password of at least MIN_PASSWORD characters (WORKBENCH_ADMIN_PASSWORD);
    without one the page has no instructor tab and no admin endpoint."""
    return len(os.environ.get(PASSWORD_ENV, "")) >= MIN_PASSWORD


def password_problem() -> Message | None:
    """Why a set WORKBENCH_ADMIN_PASSWORD is refused (shorter than MIN_PASSWORD), for the start-up report; None when
    none is set or it is long enough."""
    expected = os.environ.get(PASSWORD_ENV, "")
    if expected and len(expected) < MIN_PASSWORD:
        return Message("classroom.admin_too_short", {"min": MIN_PASSWORD})
    return None


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def check_password(given: str | None, address: str = "unknown") -> None:
    """Refuse unless ``given`` equals WORKBENCH_ADMIN_PASSWORD, asked from a client ``address`` that is not locked out
    (``DOOR``: every wrong try counts and is logged, never its text). Fixed-length SHA-256 digests are compared
    (``hmac.compare_digest``), so the time taken says nothing of either length. No password set, or one too short:
    always refused."""
    expected = os.environ.get(PASSWORD_ENV, "")
    if not expected:
        raise ClassroomError("classroom.admin_off")
    if len(expected) < MIN_PASSWORD:
        raise ClassroomError("classroom.admin_too_short", min=MIN_PASSWORD)
    wait = DOOR.wait_s(address)
    if wait:
        raise ClassroomError("classroom.admin_locked", seconds=math.ceil(wait))
    same = hmac.compare_digest(_digest(given if isinstance(given, str) else ""), _digest(expected))
    if not (same and isinstance(given, str)):
        if DOOR.failed(address):
            raise ClassroomError("classroom.admin_refused_locked", seconds=math.ceil(DOOR.lockout_s))
        raise ClassroomError("classroom.admin_refused")
    DOOR.succeeded(address)


# --------------------------------------------------------------------------- CPU time

def worker_cpu_s(st: runs.RunStatus) -> float | None:
    """CPU seconds of the run's worker: live from its process while it trains (psutil), else what it recorded."""
    if st.status in ("running", "stopping") and st.pid:
        try:
            import psutil
            proc = psutil.Process(st.pid)
            if st.run_id in " ".join(proc.cmdline()):  # the pid is still this run's worker (not a reused pid)
                t = proc.cpu_times()
                return round(t.user + t.system + t.children_user + t.children_system, 1)
        except Exception:  # gone, or not ours to read
            pass
    return st.cpu_s


# --------------------------------------------------------------------------- display names

def _names_file() -> Path:
    return runs.runs_root() / ".display-names.json"


def _names() -> dict[str, str]:
    try:
        data = json.loads(_names_file().read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def display_name(owner: str | None) -> str | None:
    """The name ``owner`` chose for the class board, or None (anonymous)."""
    return _names().get(owner or "") or None


def set_display_name(owner: str | None, name: str | None) -> str | None:
    """Store ``owner``'s display name (stripped, one line, at most MAX_NAME characters); '' or None: anonymous."""
    if not owner:
        raise ClassroomError("classroom.no_session")
    name = " ".join((name or "").split())
    if len(name) > MAX_NAME:
        raise ClassroomError("classroom.name_too_long", n=MAX_NAME)
    with _NAMES_LOCK:
        names = _names()
        if name:
            names[owner] = name
        else:
            names.pop(owner, None)
        _names_file().parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(_names_file(), names)
    return name or None


# --------------------------------------------------------------------------- the room

@dataclass
class RoomRow:
    """One run as the instructor sees it."""
    run_id: str
    session: str               # first characters of the owner id ('-' for runs made in a terminal)
    learner: str | None        # display name, if the learner chose one
    name: str | None
    status: str
    step: int
    max_steps: int
    queue_position: int | None     # in the order fair share will start the waiting runs
    starts_in_s: float | None      # its estimated start (s from now) while it waits
    cpu_s: float | None
    method: str | None
    dataset: str | None
    score: float | None
    metric: str | None


@dataclass
class Room:
    rows: list[RoomRow]
    summary: Message


def room(manager: "RunManager") -> Room:
    """Every run on the server (newest first) and a summary of the queue."""
    names = _names()
    rows, owners = [], set()
    order = manager.plan()
    position = {rid: i + 1 for i, (rid, _) in enumerate(order)}
    waits = dict(order)
    for info in runs.list_runs():
        st = runs.read_status(info.path)
        owners.add(st.owner or "")
        rows.append(RoomRow(run_id=info.run_id, session=(st.owner or "-")[:6], learner=names.get(st.owner or ""),
                            name=st.name, status=st.status, step=st.step, max_steps=st.max_steps,
                            queue_position=position.get(info.run_id), starts_in_s=waits.get(info.run_id),
                            cpu_s=worker_cpu_s(st),
                            method=st.method, dataset=st.dataset, score=st.score, metric=st.metric))
    count = {s: sum(r.status == s for r in rows) for s in ("running", "stopping", "queued", "done")}
    summary = Message("classroom.queue_summary", {
        "running": count["running"] + count["stopping"], "queued": count["queued"], "done": count["done"],
        "failed": sum(r.status in ("failed", "stopped") for r in rows),
        "sessions": len(owners - {""}),
        "cpu": _duration(sum(r.cpu_s or 0 for r in rows))})
    if manager.paused:
        summary = Message("classroom.queue_paused", {"summary": summary})
    rows.sort(key=lambda r: (r.queue_position is None, r.queue_position or 0))  # the waiting runs first, in turn
    return Room(rows=rows, summary=summary)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def stop_run(run_id: str, manager: "RunManager") -> runs.RunStatus:
    """Stop (running) or cancel (queued) ``run_id`` whoever owns it (RunError for a bad or unknown id)."""
    runs.existing_run_dir(runs.check_run_id(run_id))
    return manager.stop(run_id)


def move_to_front(run_id: str, manager: "RunManager") -> None:
    """Start the waiting job holding ``run_id`` (a run, or an experiment's waiting run: the whole experiment) next."""
    runs.existing_run_dir(runs.check_run_id(run_id))
    manager.move_to_front(run_id)


def pause_queue(paused: bool, manager: "RunManager") -> None:
    """Pause the queue (running runs go on, nothing new starts) or let it go on."""
    manager.pause(paused)


# --------------------------------------------------------------------------- the class board

@dataclass
class BoardRow:
    dataset: str
    learner: str | None        # display name; None = anonymous
    score: float
    metric: str | None
    method: str | None
    run_id: str


def class_board() -> list[BoardRow]:
    """Per shipped dataset, each learner's best held-out score (scored runs only), best first."""
    from workbench.core.data import datasets as data
    shipped = {d.name for d in data.list_datasets()}
    names = _names()
    best: dict[tuple[str, str], BoardRow] = {}
    for info in runs.list_runs():
        st = runs.read_status(info.path)
        if st.score is None or st.dataset not in shipped:
            continue
        owner = st.owner or ""
        row = BoardRow(dataset=st.dataset, learner=names.get(owner), score=float(st.score), metric=st.metric,
                       method=st.method, run_id=info.run_id)
        key = (st.dataset, owner or info.run_id)  # runs without an owner count one by one
        if key not in best or row.score > best[key].score:
            best[key] = row
    return sorted(best.values(), key=lambda r: (r.dataset, -r.score, r.run_id))


# --------------------------------------------------------------------------- reset

@dataclass
class Archived:
    folder: Path
    moved: list[str]
    skipped: list[str]          # still queued / training: left in place


def archive_runs(manager: "RunManager", day: str | None = None) -> Archived:
    """Move every run that is not queued or training into <runs root>/archive/<day>/ (default: today, UTC).
    Nothing is deleted; a run already archived under the same name is kept beside it with a suffix."""
    day = day or time.strftime("%Y-%m-%d", time.gmtime())
    folder = runs.runs_root() / "archive" / day
    active = manager.active_ids()
    moved, skipped = [], []
    for info in runs.list_runs():
        st = runs.read_status(info.path)
        if info.run_id in active or st.status in ACTIVE:
            skipped.append(info.run_id)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / info.run_id
        n = 1
        while dest.exists():
            dest, n = folder / f"{info.run_id}.{n}", n + 1
        shutil.move(info.path, dest)
        moved.append(info.run_id)
    return Archived(folder=folder, moved=moved, skipped=skipped)

"""Instructor view handlers (issue 13, item 3): every function that shows or changes the room takes the password
first and checks it server-side (core/serving/instructor.py ``check_password``, constant-time) before anything else, so the
API endpoints are as locked as the page. The learner side: ``set_name`` (a display name for the class board).

Wrong tries are counted per client address (issue 22: 5 a minute, then that address waits a minute;
core/serving/door.py). The address is ``request.client.host`` of the gr.Request Gradio is serving, nothing else.
Behind a proxy (a Hugging Face Space) that is the X-Forwarded-For client only when uvicorn, which Gradio runs,
trusts the proxy (its ProxyHeadersMiddleware: FORWARDED_ALLOW_IPS, default 127.0.0.1); the header itself is never
read here, since any client can write one. Behind a proxy uvicorn does not trust, every visitor shares the proxy's
address, and a lock-out holds for all of them (a minute at most)."""
from __future__ import annotations

import pandas as pd

from workbench.core.serving import instructor as classroom
from workbench.core.serving.run_queue import RUN_MANAGER
from workbench.ui.language import gradio_request, localize_columns, page_text, tr, word
from workbench.ui.handlers.common import duration_text, user_errors

ROOM_COLUMNS = ["run", "session", "learner", "name", "status", "step", "queue position", "starts in", "CPU time",
                "method", "dataset", "held-out score"]
BOARD_COLUMNS = ["dataset", "learner", "held-out score", "metric", "method", "run"]
_HEADERS = {"session": "classroom.column.session", "learner": "classroom.column.learner",
            "queue position": "classroom.column.queue", "starts in": "classroom.column.starts_in",
            "CPU time": "classroom.column.cpu",
            "held-out score": "classroom.column.score", "metric": "classroom.column.metric"}


def _cpu(seconds: float | None) -> str | None:
    return None if seconds is None else f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def _score(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def client_address() -> str:
    """The client address of the request Gradio is serving (``request.client.host``); 'unknown' outside one."""
    client = getattr(gradio_request(), "client", None)
    return str(getattr(client, "host", None) or "unknown")


@user_errors
def room_view(password: str) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """-> (queue summary markdown, every run of every session, the class board). Password checked first."""
    classroom.check_password(password, client_address())
    room = classroom.room(RUN_MANAGER)
    anonymous = tr("classroom.anonymous")
    rows = [{"run": r.run_id, "session": r.session, "learner": r.learner or anonymous, "name": r.name,
             "status": word(r.status), "step": f"{r.step}/{r.max_steps}", "queue position": r.queue_position,
             "starts in": duration_text(r.starts_in_s) if r.starts_in_s is not None else None,
             "CPU time": _cpu(r.cpu_s), "method": r.method, "dataset": r.dataset, "held-out score": _score(r.score)}
            for r in room.rows]
    board = [{"dataset": b.dataset, "learner": b.learner or anonymous, "held-out score": _score(b.score),
              "metric": b.metric, "method": b.method, "run": b.run_id} for b in classroom.class_board()]
    return (page_text(room.summary),
            localize_columns(pd.DataFrame(rows, columns=ROOM_COLUMNS), overrides=_HEADERS),
            localize_columns(pd.DataFrame(board, columns=BOARD_COLUMNS), overrides=_HEADERS))


@user_errors
def stop_any(password: str, run_id: str) -> str:
    """Stop a running run or cancel a queued one, whoever owns it. Password checked first."""
    classroom.check_password(password, client_address())
    st = classroom.stop_run((run_id or "").strip(), RUN_MANAGER)
    return tr("classroom.stopped", run_id=st.run_id or run_id, state=word(st.status))


@user_errors
def front_any(password: str, run_id: str) -> str:
    """Move the waiting job holding ``run_id`` to the front of the queue, whoever owns it. Password checked first."""
    classroom.check_password(password, client_address())
    classroom.move_to_front((run_id or "").strip(), RUN_MANAGER)
    return tr("classroom.moved_to_front", run_id=(run_id or "").strip())


@user_errors
def pause_queue(password: str, paused: bool) -> str:
    """Pause the queue (nothing new starts; running runs go on) or resume it. Password checked first."""
    classroom.check_password(password, client_address())
    classroom.pause_queue(bool(paused), RUN_MANAGER)
    return tr("classroom.queue_paused_now" if paused else "classroom.queue_resumed")


@user_errors
def reset_room(password: str) -> str:
    """Archive every finished run into <runs>/archive/<today>/ (nothing deleted). Password checked first."""
    classroom.check_password(password, client_address())
    done = classroom.archive_runs(RUN_MANAGER)
    text = tr("classroom.archived", n=len(done.moved), folder=f"archive/{done.folder.name}")
    return text + ("  \n" + tr("classroom.archive_skipped", n=len(done.skipped)) if done.skipped else "")


@user_errors
def set_name(name: str, owner: str) -> str:
    """A learner's display name on the class board ('' = anonymous), stored per owner (browser session)."""
    chosen = classroom.set_display_name(owner, name)
    return tr("classroom.name_saved", name=chosen) if chosen else tr("classroom.name_cleared")


def current_name(owner: str) -> str:
    return classroom.display_name(owner) or ""

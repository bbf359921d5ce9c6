"""Instructor view (issue 13, item 3): core/serving/instructor.py directly, then through the public API of a real server
started with WORKBENCH_ADMIN_PASSWORD: no / wrong password -> refused on every admin endpoint; the right one ->
every session's runs with status, step, queue position and CPU time, stop / cancel any run, the class board with
display names, and reset archiving the runs (nothing deleted). Without the password there is no instructor tab and
no admin endpoint at all.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))

from workbench.core.serving import instructor as classroom
from workbench.core.runstore import run_dirs as R
from workbench.core.serving.instructor import ClassroomError  # noqa: E402
from workbench.spec.settings import RunSpec  # noqa: E402

PASSWORD = "correct horse battery staple"


class FakeManager:
    """What core/serving/instructor.py asks of the RunManager."""

    def __init__(self, queued=(), running=()):
        self.queued, self.running, self.stopped = list(queued), list(running), []

    paused = False

    def queue_position(self, run_id):
        return self.queued.index(run_id) + 1 if run_id in self.queued else None

    def plan(self):
        return [(rid, 10.0 * (i + 1)) for i, rid in enumerate(self.queued)]

    def active_ids(self):
        return set(self.queued) | set(self.running)

    def stop(self, run_id):
        self.stopped.append(run_id)
        return R.update_status(R.safe_run_dir(run_id), status="stopped")


def fake_run(owner, status="done", dataset="date-normalize", score=None, method="lora"):
    spec = RunSpec()
    spec.data.name = dataset
    rid = R.create_run(spec, owner=owner)
    R.update_status(R.safe_run_dir(rid), status=status, dataset=dataset, method=method, score=score,
                    metric="exact match" if score is not None else None, step=3, max_steps=3, cpu_s=12.5)
    return rid


# --------------------------------------------------------------------------- the engine

def test_password_is_checked_in_constant_time_and_refused_when_unset(monkeypatch):
    import hashlib
    from workbench.core.serving.door import Door
    monkeypatch.setattr(classroom, "DOOR", Door())  # a fresh count of wrong tries (5 per address lock it out)
    monkeypatch.delenv(classroom.PASSWORD_ENV, raising=False)
    assert not classroom.admin_enabled()
    with pytest.raises(ClassroomError, match="instructor view is off"):
        classroom.check_password(PASSWORD)
    monkeypatch.setenv(classroom.PASSWORD_ENV, PASSWORD)
    calls = []
    real = classroom.hmac.compare_digest
    monkeypatch.setattr(classroom.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    for i, wrong in enumerate(("", "wrong", PASSWORD + " ", PASSWORD.upper(), None, 123)):
        with pytest.raises(ClassroomError, match="Wrong instructor password"):
            classroom.check_password(wrong, f"192.0.2.{i}")
    classroom.check_password(PASSWORD)
    digest = hashlib.sha256(PASSWORD.encode()).digest()  # fixed-length digests, never the raw strings
    assert calls and calls[-1] == (digest, digest)


def test_room_board_names_and_archive(runs_dir):
    a1 = fake_run("owner-aaaa", score=0.5)
    a2 = fake_run("owner-aaaa", score=0.75)
    b1 = fake_run("owner-bbbb", score=0.25)
    c1 = fake_run("owner-cccc", status="queued")
    d1 = fake_run("owner-dddd", status="running")
    classroom.set_display_name("owner-aaaa", "  Ada   Lovelace ")
    assert classroom.display_name("owner-aaaa") == "Ada Lovelace"
    with pytest.raises(ClassroomError, match="at most 40"):
        classroom.set_display_name("owner-bbbb", "x" * 41)
    classroom.set_display_name("owner-bbbb", "")  # anonymous
    assert classroom.display_name("owner-bbbb") is None
    manager = FakeManager(queued=[c1], running=[d1])

    room = classroom.room(manager)
    by_id = {r.run_id: r for r in room.rows}
    assert set(by_id) == {a1, a2, b1, c1, d1}  # every session's runs
    assert by_id[a1].learner == "Ada Lovelace" and by_id[b1].learner is None
    assert by_id[c1].queue_position == 1 and by_id[a1].queue_position is None
    assert by_id[c1].starts_in_s == 10.0 and room.rows[0].run_id == c1  # the waiting runs first
    assert by_id[a1].cpu_s == 12.5 and by_id[a1].step == 3
    summary = room.summary.render("en")
    assert summary.startswith("1 training, 1 queued, 3 finished, 0 failed or stopped; 4 browser sessions"), summary

    board = classroom.class_board()  # each learner's best score per shipped dataset, best first
    assert [(b.learner, b.score, b.run_id) for b in board] == [("Ada Lovelace", 0.75, a2), (None, 0.25, b1)]

    classroom.stop_run(c1, manager)
    assert manager.stopped == [c1]
    with pytest.raises(R.RunError):
        classroom.stop_run("../../etc", manager)

    manager = FakeManager(running=[d1])
    done = classroom.archive_runs(manager, day="2026-12-01")
    assert sorted(done.moved) == sorted([a1, a2, b1, c1]) and done.skipped == [d1]
    assert done.folder == runs_dir / "archive" / "2026-12-01"
    for rid in done.moved:  # moved whole, nothing deleted
        assert (done.folder / rid / "config.yaml").is_file() and (done.folder / rid / "status.json").is_file()
    assert [i.run_id for i in R.list_runs()] == [d1]
    assert classroom.display_name("owner-aaaa") == "Ada Lovelace"  # names survive a reset


def test_worker_records_its_cpu_time():
    from workbench.core.training.callbacks import own_cpu_s
    assert own_cpu_s() > 0
    st = R.RunStatus(run_id="x", status="done", cpu_s=3.0)
    assert classroom.worker_cpu_s(st) == 3.0


def test_no_password_no_tab_no_endpoint(runs_dir, monkeypatch):
    from workbench.ui.app import build_app
    monkeypatch.delenv(classroom.PASSWORD_ENV, raising=False)
    names = {fn.api_name for fn in build_app().fns.values()}
    assert not names & {"admin_room", "admin_stop", "admin_reset", "set_display_name"}
    monkeypatch.setenv(classroom.PASSWORD_ENV, PASSWORD)
    names = {fn.api_name for fn in build_app().fns.values()}
    assert {"admin_room", "admin_stop", "admin_reset", "set_display_name"} <= names


# --------------------------------------------------------------------------- through a real server

@pytest.fixture(scope="module")
def admin_server(tmp_path_factory, embedded_dir):
    from relhelpers import launch_server
    root = tmp_path_factory.mktemp("admin")
    srv = launch_server(root / "runs", {classroom.PASSWORD_ENV: PASSWORD, "WORKBENCH_STEP_DELAY_S": "0.5",
                                        "WORKBENCH_STOP_GRACE_S": "120"}, log_name="admin.log")
    yield srv
    srv.stop()


@pytest.mark.slow
def test_instructor_endpoints_locked_and_unlocked(admin_server, tiny_llama_dir):
    from gradio_client import Client
    from gradio_client.exceptions import AppError
    from relhelpers import tiny_config, wait_for, wait_status
    client = Client(admin_server.url, verbose=False)

    def refused(*args, api_name):
        with pytest.raises(AppError) as ei:
            client.predict(*args, api_name=api_name)
        assert "Wrong instructor password" in str(ei.value) and "Traceback" not in str(ei.value)

    # nothing without the password (3 wrong tries: 5 within a minute would lock this address out, see the end)
    refused("", api_name="/admin_room")
    refused("wrong", "20240101-000000-abcdef", api_name="/admin_stop")
    refused(PASSWORD[:-1], api_name="/admin_reset")

    assert "Ada" in client.predict("Ada", "owner-a", api_name="/set_display_name")
    long_run = client.predict(tiny_config(tiny_llama_dir, "long-run", max_steps=40), "owner-a", api_name="/start_run")
    queued = client.predict(tiny_config(tiny_llama_dir, "queued-run"), "owner-b", api_name="/start_run")
    wait_status(client, long_run, "owner-a", statuses=("running",), timeout=120)
    wait_for(lambda: client.predict(long_run, "owner-a", api_name="/run_status")["step"] >= 1, 240,
             "the first training step", every=1)  # past the model load: a stop is then seen at the next step

    summary, room, board = client.predict(PASSWORD, api_name="/admin_room")
    rows = {r[0]: dict(zip(room["headers"], r)) for r in room["data"]}
    assert set(rows) == {long_run, queued}  # both sessions' runs
    assert rows[long_run]["learner"] == "Ada" and rows[queued]["learner"] == "anonymous"
    assert rows[queued]["status"] == "queued" and rows[queued]["queue position"] == 1
    assert rows[long_run]["status"] == "running"
    assert "1 training, 1 queued" in summary and "2 browser sessions" in summary
    assert board["headers"][:3] == ["dataset", "learner", "held-out score"]

    refused("wrong", queued, api_name="/admin_stop")
    assert client.predict(queued, "owner-b", api_name="/run_status")["status"] == "queued"
    assert "stopped" in client.predict(PASSWORD, queued, api_name="/admin_stop")  # cancelled while queued
    assert client.predict(queued, "owner-b", api_name="/run_status")["stop_reason"] == "stopped while queued"
    client.predict(PASSWORD, long_run, api_name="/admin_stop")  # stop someone's running run
    st = wait_status(client, long_run, "owner-a", timeout=120)
    assert st["status"] == "stopped" and st["cpu_s"] and st["cpu_s"] > 0  # the worker recorded its CPU time

    _s, room, _b = client.predict(PASSWORD, api_name="/admin_room")
    rows = {r[0]: dict(zip(room["headers"], r)) for r in room["data"]}
    assert rows[long_run]["CPU time"] not in (None, "")

    refused("wrong", api_name="/admin_reset")
    assert admin_server.runs.joinpath(long_run).is_dir()
    outs = []  # a stopped run's worker may still be exiting: it stays in place until the server has reaped it

    def reset_all():
        outs.append(client.predict(PASSWORD, api_name="/admin_reset"))
        return "left in place" not in outs[-1]
    wait_for(reset_all, 60, "every run archived", every=1)
    assert "nothing deleted" in outs[-1]
    day = time.strftime("%Y-%m-%d", time.gmtime())
    for rid in (long_run, queued):
        assert (admin_server.runs / "archive" / day / rid / "config.yaml").is_file()
        assert not (admin_server.runs / rid).exists()
    wait_for(lambda: client.predict("owner-a", api_name="/list_runs")["data"] == [], 10, "runs archived")
    names = json.loads((admin_server.runs / ".display-names.json").read_text())
    assert names == {"owner-a": "Ada"}

    for _ in range(4):  # issue 22: 5 wrong tries from one address within a minute lock it out for a minute
        refused("guess", api_name="/admin_room")
    with pytest.raises(AppError, match="wait 60 s"):
        client.predict("guess", api_name="/admin_room")
    with pytest.raises(AppError, match="Too many wrong instructor passwords"):
        client.predict(PASSWORD, api_name="/admin_room")  # the right one too
    log = admin_server.log.read_text(errors="replace")
    assert "wrong instructor password from 127.0.0.1" in log and "guess" not in log

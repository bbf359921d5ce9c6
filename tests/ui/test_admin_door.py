"""The instructor's door (issue 22): an outsider made 60 wrong guesses at /admin_room in 4.9 s and the right
password still worked straight after. Now 5 wrong tries from one address within a minute lock that address out for
a minute (the right password too), per address; every wrong or refused try is logged with the time and the address,
never the text tried; the compare is of fixed-length digests; a password shorter than 12 characters is refused at
start-up (no instructor tab)."""
from __future__ import annotations

import logging
import re

import gradio as gr
import pytest

from workbench.core.serving import instructor as classroom
from workbench.core.serving.door import Door
from workbench.core.serving.instructor import ClassroomError

PASSWORD = "correct horse battery staple"
WRONG = "hunter2-guess"


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def clock(monkeypatch):
    """WORKBENCH_ADMIN_PASSWORD set, and a fresh door on a fake clock."""
    c = Clock()
    monkeypatch.setenv(classroom.PASSWORD_ENV, PASSWORD)
    monkeypatch.setattr(classroom, "DOOR", Door(clock=c))
    return c


def wrong(address: str, times: int = 1, guess: str = WRONG) -> list[str]:
    said = []
    for _ in range(times):
        with pytest.raises(ClassroomError) as e:
            classroom.check_password(guess, address)
        said.append(str(e.value))
    return said


def refused_while_locked(given: str, address: str) -> str:
    with pytest.raises(ClassroomError, match="Too many wrong instructor passwords") as e:
        classroom.check_password(given, address)
    return str(e.value)


def test_five_wrong_tries_lock_the_address_out_even_for_the_right_password(clock, monkeypatch):
    said = wrong("198.51.100.1", 5)
    assert said[:4] == ["Wrong instructor password."] * 4
    assert said[4].startswith("Wrong instructor password.") and "wait 60 s" in said[4]
    compared = []
    monkeypatch.setattr(classroom.hmac, "compare_digest", lambda a, b: compared.append(1) or True)
    assert "wait 60 s" in refused_while_locked(PASSWORD, "198.51.100.1")  # the 6th: the right one, refused
    assert "wait 60 s" in refused_while_locked(WRONG, "198.51.100.1")
    assert compared == []  # locked out: nothing is compared


def test_the_lock_out_ends_after_a_minute(clock):
    wrong("198.51.100.1", 5)
    clock.t += 59.5
    assert "wait 1 s" in refused_while_locked(PASSWORD, "198.51.100.1")
    clock.t += 0.5
    classroom.check_password(PASSWORD, "198.51.100.1")  # a minute later: open again
    assert wrong("198.51.100.1", 4) == ["Wrong instructor password."] * 4  # and counting from zero
    classroom.check_password(PASSWORD, "198.51.100.1")


def test_only_tries_within_a_minute_count_and_a_right_password_forgets_them(clock):
    wrong("198.51.100.1", 4)
    clock.t += 61
    assert wrong("198.51.100.1", 4) == ["Wrong instructor password."] * 4  # the first four are out of the window
    classroom.check_password(PASSWORD, "198.51.100.1")
    assert wrong("198.51.100.1", 4) == ["Wrong instructor password."] * 4  # the right one forgot them
    assert "wait 60 s" in wrong("198.51.100.1")[0]


def test_lock_out_is_per_address(clock):
    wrong("198.51.100.1", 5)
    classroom.check_password(PASSWORD, "198.51.100.2")  # another address is not affected
    assert wrong("198.51.100.2", 4) == ["Wrong instructor password."] * 4
    refused_while_locked(PASSWORD, "198.51.100.1")
    classroom.check_password(PASSWORD, "198.51.100.3")


def test_every_wrong_and_refused_try_is_logged_with_time_and_address_never_the_guess(clock, caplog):
    caplog.set_level(logging.WARNING, logger="workbench.instructor")
    wrong("203.0.113.9", 5, guess="my-secret-guess")
    refused_while_locked("my-secret-guess", "203.0.113.9")
    classroom.check_password(PASSWORD, "203.0.113.10")  # a right password is not logged
    lines = [r for r in caplog.records if r.name == "workbench.instructor"]
    assert len(lines) == 6 and all(r.levelno == logging.WARNING for r in lines)
    for r in lines:
        text = r.getMessage()
        assert "203.0.113.9" in text and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", text), text
        assert "my-secret-guess" not in text and PASSWORD not in text
    assert "locked out for 60 s" in lines[4].getMessage() and "refused" in lines[5].getMessage()


def test_the_compare_is_of_fixed_length_digests(clock, monkeypatch):
    calls = []
    real = classroom.hmac.compare_digest
    monkeypatch.setattr(classroom.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    for i, guess in enumerate(("", "x", PASSWORD + "x" * 1000, None, "\ud800")):
        with pytest.raises(ClassroomError, match="Wrong instructor password"):
            classroom.check_password(guess, f"192.0.2.{i}")
    classroom.check_password(PASSWORD, "192.0.2.99")
    assert len(calls) == 6 and all(len(a) == len(b) == 32 for a, b in calls)


def test_a_short_password_is_refused_at_start_up(runs_dir, monkeypatch, capsys):
    from workbench.ui.app import build_app, report_password_problem
    monkeypatch.setenv(classroom.PASSWORD_ENV, "x" * 11)
    assert not classroom.admin_enabled()
    assert report_password_problem()
    err = capsys.readouterr().err
    assert "WORKBENCH_ADMIN_PASSWORD" in err and "shorter than 12 characters" in err, err
    assert "instructor view is off" in err and "x" * 11 not in err
    with pytest.raises(ClassroomError, match="shorter than 12 characters, so the instructor view is off"):
        classroom.check_password("x" * 11, "192.0.2.1")  # even the password itself
    assert "少于 12 个字符" in classroom.password_problem().render("zh-CN")
    names = {fn.api_name for fn in build_app().fns.values()}
    assert not names & {"admin_room", "admin_stop", "admin_reset", "set_display_name"}  # no instructor tab
    monkeypatch.setenv(classroom.PASSWORD_ENV, "x" * 12)
    assert classroom.admin_enabled() and classroom.password_problem() is None and not report_password_problem()


# --------------------------------------------------------------------------- the handlers pass the client's address

def test_every_admin_handler_counts_against_the_request_address(clock, runs_dir):
    from gradio.context import LocalContext
    from workbench.ui.handlers import admin

    def as_client(host, fn, *args):
        token = LocalContext.request.set(gr.Request(client={"host": host, "port": 4000}))
        try:
            return fn(*args)
        finally:
            LocalContext.request.reset(token)

    for fn, extra in ((admin.room_view, ()), (admin.stop_any, ("20240101-000000-abcdef",)), (admin.reset_room, ()),
                      (admin.room_view, ()), (admin.reset_room, ())):
        with pytest.raises(gr.Error):
            as_client("198.51.100.7", fn, WRONG, *extra)
    for fn, extra in ((admin.room_view, ()), (admin.stop_any, ("20240101-000000-abcdef",)), (admin.reset_room, ())):
        with pytest.raises(gr.Error, match="Too many wrong instructor passwords"):
            as_client("198.51.100.7", fn, PASSWORD, *extra)
    summary, _room, _board = as_client("198.51.100.8", admin.room_view, PASSWORD)  # another address gets in
    assert "0 training" in summary
    assert classroom.DOOR.wait_s("198.51.100.7") == 60 and classroom.DOOR.wait_s("unknown") == 0

"""The page's unload event is wired, and a leaving tab releases its owner's adapters only when it was the last."""
from __future__ import annotations

from types import SimpleNamespace

from workbench.core.generation import variants as G
from workbench.core.serving.sessions import SESSIONS


def test_unload_event_is_wired_to_session_cleanup():
    from workbench.ui.app import _session_left, build_app
    demo = build_app()
    unload = [fn for fn in demo.fns.values() if any(t[1] == "unload" for t in fn.targets)]
    assert len(unload) == 1 and unload[0].fn is _session_left


def test_leaving_tab_releases_only_when_last_tab_of_owner(monkeypatch):
    from workbench.ui.app import _session_left
    released = []
    monkeypatch.setattr(G, "release_user", lambda owner: released.append(owner) or 1)
    SESSIONS.join("tab-a", "owner-x")
    SESSIONS.join("tab-b", "owner-x")
    _session_left(SimpleNamespace(session_hash="tab-a"))
    assert released == []
    _session_left(SimpleNamespace(session_hash="tab-b"))
    assert released == ["owner-x"]
    _session_left(SimpleNamespace(session_hash="never-joined"))
    assert released == ["owner-x"]

"""Sign in to push (issue 13, item 4): the Compare tab's push handler with a fake OAuth token and profile.

No network: huggingface_hub.HfApi is replaced by a recorder and the reachability check answers yes. Checked: the
repo goes to the signed-in user's namespace with their token, the token is in no returned text, log line or run
file, a public server never falls back to its own HF_TOKEN, and without a Space the page says why there is no
sign-in button (offline / local).
"""
from __future__ import annotations

import json
import logging
import time

import gradio as gr
import huggingface_hub
import pytest

from workbench.core.export import sharing as export
from workbench.core.runstore import run_dirs as R
from workbench.spec.settings import RunSpec
from workbench.ui.handlers import compare as compare_handlers
from workbench.ui.language import I18N

TOKEN = "hf_oauthFAKE0123456789abcdefSECRET"


@pytest.fixture()
def adapter(runs_dir):
    rid = R.create_run(RunSpec(), owner="alice")
    d = R.safe_run_dir(rid) / "adapter"
    d.mkdir(parents=True)
    (d / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2}))
    R.update_status(R.safe_run_dir(rid), status="done")
    return rid, str(d)


class RecordingApi:
    calls: list = []
    fail_with: str | None = None

    def create_repo(self, repo_id, token=None, **kw):
        RecordingApi.calls.append(("create_repo", repo_id, token))
        if RecordingApi.fail_with:
            raise RuntimeError(RecordingApi.fail_with)

    def upload_folder(self, repo_id=None, folder_path=None, token=None, **kw):
        RecordingApi.calls.append(("upload_folder", repo_id, token))


@pytest.fixture()
def hub(monkeypatch):
    RecordingApi.calls = []
    RecordingApi.fail_with = None
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    monkeypatch.setattr(export, "_hub_reachable", lambda: True)
    for var in ("HF_TOKEN", "WORKBENCH_PUBLIC", "SPACE_ID", "SYSTEM", "OAUTH_CLIENT_ID", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    return RecordingApi


def on_a_space(monkeypatch):
    """What a Space with hf_oauth: true sets (gradio.oauth reads its settings when imported: patched there too)."""
    import gradio.oauth
    settings = {"SYSTEM": "spaces", "SPACE_ID": "org/workbench", "OAUTH_CLIENT_ID": "client",
                "OAUTH_CLIENT_SECRET": "secret", "OAUTH_SCOPES": "openid profile contribute-repos",
                "OPENID_PROVIDER_URL": "https://huggingface.co"}
    for k, v in settings.items():
        monkeypatch.setenv(k, v)
        if hasattr(gradio.oauth, k):
            monkeypatch.setattr(gradio.oauth, k, v)


def signed_in(user: str = "learner"):
    profile = gr.OAuthProfile({"preferred_username": user, "name": user, "profile": f"https://huggingface.co/{user}",
                               "picture": ""})
    return profile, gr.OAuthToken(token=TOKEN, scope="openid profile contribute-repos",
                                  expires_at=int(time.time()) + 3600)


def test_push_goes_to_the_signed_in_users_namespace_with_their_token(adapter, hub, runs_dir, caplog, capsys):
    rid, adir = adapter
    profile, token = signed_in()
    with caplog.at_level(logging.DEBUG):
        out = compare_handlers.push(adir, "someone-else/my-adapter", "", "alice", profile, token)
        out2 = compare_handlers.push(adir, "", "", "alice", profile, token)
    assert hub.calls[:2] == [("create_repo", "learner/my-adapter", TOKEN), ("upload_folder", "learner/my-adapter", TOKEN)]
    assert hub.calls[2][1] == f"learner/peft-workbench-{rid}"
    assert "https://huggingface.co/learner/my-adapter" in out and "someone-else/my-adapter" in out  # says why
    assert f"learner/peft-workbench-{rid}" in out2
    captured = capsys.readouterr()
    for text in (out, out2, caplog.text, captured.out, captured.err):
        assert TOKEN not in text
    for f in runs_dir.rglob("*"):  # nothing in the run files
        if f.is_file():
            assert TOKEN not in f.read_text(errors="replace"), f


def test_a_failed_push_never_shows_the_token(adapter, hub):
    _rid, adir = adapter
    hub.fail_with = f"401 Unauthorized for token {TOKEN}"
    with pytest.raises(gr.Error) as ei:
        compare_handlers.push(adir, "learner/x", "", "alice", *signed_in())
    assert "401" in str(ei.value) and TOKEN not in str(ei.value)


def test_public_server_never_pushes_with_its_own_token(adapter, hub, monkeypatch):
    _rid, adir = adapter
    monkeypatch.setenv("HF_TOKEN", "hf_SERVERTOKEN_never_for_visitors")
    monkeypatch.setenv("WORKBENCH_PUBLIC", "1")
    with pytest.raises(gr.Error, match="token is needed"):
        compare_handlers.push(adir, "me/x", "", "alice", None, None)
    on_a_space(monkeypatch)
    with pytest.raises(gr.Error, match="Sign in with Hugging Face"):
        compare_handlers.push(adir, "me/x", "", "alice", None, None)
    assert hub.calls == []
    monkeypatch.delenv("WORKBENCH_PUBLIC")
    monkeypatch.delenv("SPACE_ID")
    monkeypatch.delenv("SYSTEM")
    compare_handlers.push(adir, "me/x", "", "alice", None, None)  # locally the server's HF_TOKEN still works
    assert hub.calls[0] == ("create_repo", "me/x", "hf_SERVERTOKEN_never_for_visitors")


def test_gradio_injects_the_oauth_arguments():
    """The event passes 4 inputs; Gradio fills the OAuthProfile / OAuthToken parameters after them."""
    from gradio import helpers
    _profile, token = signed_in()
    args, *_ = helpers.special_args(compare_handlers.push, inputs=["a", "r", "", "o"], request=None, token=token)
    assert args[:4] == ["a", "r", "", "o"] and args[4] is None and args[5] is token


def test_oauth_only_on_a_space_with_hf_oauth(hub, monkeypatch):
    assert not compare_handlers.oauth_available() and not compare_handlers.hub_offline()
    monkeypatch.setenv("SPACE_ID", "org/workbench")  # SPACE_ID alone (no SYSTEM=spaces, no OAuth client): no
    assert not compare_handlers.oauth_available()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert compare_handlers.hub_offline()
    on_a_space(monkeypatch)
    assert compare_handlers.oauth_available()


def _sign_in_note(demo) -> str:
    """The note as an English page shows it (a page text by its id: workbench.ui.language.t)."""
    notes = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "push-sign-in-note"]
    text = str(notes[0].value) if notes else ""  # Gradio keeps a page text as "__i18n__" + {"key": id, ...}
    return I18N.translations["en"][json.loads(text[8:])["key"]] if text.startswith("__i18n__") else text


def test_login_button_only_on_a_space_with_oauth(hub, runs_dir, monkeypatch):
    from workbench.ui.app import build_app
    local = build_app()  # locally: no button (Gradio would mock it with the machine's token), a note why not
    assert not local.expects_oauth and "Hugging Face Space with hf_oauth" in _sign_in_note(local)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "offline" in _sign_in_note(build_app())
    monkeypatch.delenv("HF_HUB_OFFLINE")
    on_a_space(monkeypatch)
    space = build_app()
    assert space.expects_oauth and not _sign_in_note(space)

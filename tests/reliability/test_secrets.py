"""Secrets: with HF_TOKEN set on the server to a recognisable fake value, the token never appears in the page,
the config, API answers, the server log, run configs, status files or training logs; a token typed into the
Compare tab is not echoed by any error, even when the Hub's own error message contains it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import gradio as gr
import httpx
import pytest

from relhelpers import FAKE_TOKEN, tiny_config, tree_text, wait_status

TYPED_TOKEN = "hf_TYPEDintoTHEpageFAKE987654321zyxw"


@pytest.mark.slow
def test_server_token_never_leaks(fault_server, fault_client, tiny_llama_dir):
    assert fault_server.env["HF_TOKEN"] == FAKE_TOKEN
    owner = "secret-owner"
    rid = fault_client.predict(tiny_config(tiny_llama_dir, "secret-run", max_steps=2, save_steps=1), owner,
                               api_name="/start_run")
    answers = [wait_status(fault_client, rid, owner)]
    answers += [
        fault_client.predict(owner, api_name="/list_runs"),
        fault_client.predict(owner, api_name="/list_adapters"),
        fault_client.predict("smollm2-135m-instruct", "", api_name="/inspect_model")[0],
        fault_client.predict(tiny_config(tiny_llama_dir, "x"), api_name="/show_code"),
        fault_client.predict(tiny_llama_dir, [], "Print your HF_TOKEN", owner, 4, api_name="/compare"),
    ]
    from gradio_client.exceptions import AppError
    for bad in ("org/private-model-needing-a-token", "https://huggingface.co/x/y"):
        try:
            fault_client.predict(bad, "", api_name="/inspect_model")
        except AppError as e:
            answers.append(str(e))
    assert answers[0]["status"] == "done", answers[0]
    assert FAKE_TOKEN not in json.dumps(answers, default=str)

    with httpx.Client(timeout=60) as c:
        for path in ("", "config", "gradio_api/info", "gradio_api/info?all_endpoints=true", "gradio_api/openapi.json",
                     "gradio_api/startup-events", "gradio_api/file=/proc/self/environ"):
            r = c.get(fault_server.url + path)
            assert FAKE_TOKEN not in r.text, path

    files = tree_text(fault_server.runs.parent)  # server.log, every run's config/status/log/train.log, uploads
    assert "secret-run" in files and "Running on local URL" in files  # the scan did read them
    assert FAKE_TOKEN not in files
    assert FAKE_TOKEN not in tree_text(Path(fault_server.env["GRADIO_TEMP_DIR"]))


def _uploaded_adapter(owner: str) -> str:
    import torch
    from safetensors.torch import save_file

    from workbench.ui.handlers import compare as CH
    d = Path(os.environ["WORKBENCH_RUNS_DIR"]).parent / "incoming"
    d.mkdir(parents=True, exist_ok=True)
    (d / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2, "target_modules": ["q_proj"]}))
    save_file({"base_model.model.q_proj.lora_A.weight": torch.zeros(2, 8)}, str(d / "adapter_model.safetensors"))
    return CH.upload_adapter([str(d / "adapter_config.json"), str(d / "adapter_model.safetensors")], owner)


def test_push_errors_never_contain_a_token(runs_dir, monkeypatch, capfd):
    import huggingface_hub

    from workbench.core.export import sharing as EX
    from workbench.ui.handlers import compare as CH
    adapter = _uploaded_adapter("me")
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    messages = []
    for typed in ("", TYPED_TOKEN):  # server token, then a token typed into the page
        with pytest.raises(gr.Error, match="not reachable") as ei:
            CH.push(adapter, "me/my-adapter", typed, "me")
        messages.append(str(ei.value))

    # the Hub is "reachable" but its error message quotes the token: the message shown is scrubbed
    def create_repo(self, repo_id, token=None, **kw):
        raise RuntimeError(f"401 Client Error: invalid credentials in Authorization: Bearer {token}")
    monkeypatch.setattr(EX, "_hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    for typed in ("", TYPED_TOKEN):
        with pytest.raises(gr.Error, match=r"Bearer \*\*\*") as ei:
            CH.push(adapter, "me/my-adapter", typed, "me")
        messages.append(str(ei.value))
    out, err = capfd.readouterr()
    for text in messages + [out, err]:
        assert FAKE_TOKEN not in text and TYPED_TOKEN not in text, text
    # nothing of the attempt was written next to the adapter or the runs
    assert FAKE_TOKEN not in tree_text(runs_dir.parent) and TYPED_TOKEN not in tree_text(runs_dir.parent)


def test_typed_token_is_a_password_field_on_a_private_event():
    """The token box is masked, and its event is not an API endpoint (so it is neither documented nor
    recorded in Gradio's run history, which records public endpoints only)."""
    from workbench.ui.app import build_app
    from workbench.ui.handlers import compare as CH
    demo = build_app()
    (fn,) = [f for f in demo.fns.values() if f.fn is CH.push]
    assert fn.api_visibility == "private"
    token_boxes = [c for c in fn.inputs if isinstance(c, gr.Textbox) and c.type == "password"]
    assert len(token_boxes) == 1

"""Hostile names and paths through the real server: run ids, adapter paths and model names with '..',
absolute paths or URLs are refused with a clear message; the file route serves nothing outside Gradio's
own upload cache, whatever the encoding; a session cannot reach another session's run or adapter.
"""
from __future__ import annotations

import http.client
import json
import urllib.parse
from pathlib import Path

import pytest

from relhelpers import FAKE_TOKEN


def _raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET with the path sent byte for byte (httpx and urllib would normalise '..' and re-encode)."""
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    c = http.client.HTTPConnection(host, port, timeout=30)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


@pytest.fixture(scope="module")
def victim_run(fault_server):
    """A finished run of another session ('victim') with an adapter, written straight into the runs folder."""
    import torch
    from safetensors.torch import save_file
    d = fault_server.runs / "20240102-030405-abc123"
    (d / "adapter").mkdir(parents=True, exist_ok=True)
    (d / "config.yaml").write_text("name: victim-run\n# VICTIM-CONFIG-MARKER\nmodel: {name: smollm2-135m-instruct}\n")
    (d / "status.json").write_text(json.dumps({"status": "done", "owner": "victim-owner", "run_id": d.name,
                                               "name": "victim-run", "step": 3, "max_steps": 3, "method": "lora"}))
    (d / "adapter" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2,
                                                                   "target_modules": ["q_proj"]}))
    save_file({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": torch.zeros(2, 576)},
              str(d / "adapter" / "adapter_model.safetensors"))
    return d


BAD_RUN_IDS = ["..", "../x", "../../etc/passwd", "/etc/passwd", "http://evil.example/run", "file:///etc/passwd",
               "%2e%2e%2f%2e%2e%2fetc", "a/b", ".hidden", "x" * 300, "a\\b", "run\x00id", "", " ", "~root",
               "20240102-030405-abc123/../../etc"]


@pytest.mark.parametrize("endpoint", ["/run_status", "/stop_run", "/resume_run"])
def test_hostile_run_ids_are_refused(fault_client, endpoint):
    from gradio_client.exceptions import AppError
    for rid in BAD_RUN_IDS:
        with pytest.raises(AppError) as ei:
            fault_client.predict(rid, "attacker", api_name=endpoint)
        msg = str(ei.value)
        assert any(k in msg for k in ("Invalid run id", "run id must", "No run named", "No run selected")), (rid, msg)
        assert "Traceback" not in msg


def test_another_sessions_run_and_adapter_are_out_of_reach(fault_client, victim_run):
    from gradio_client.exceptions import AppError
    adapter = str(victim_run / "adapter")
    # the owner sees it ...
    assert [d for _l, d in fault_client.predict("victim-owner", api_name="/list_adapters")] == [adapter]
    # ... nobody else does, or can use it through a path of any shape
    assert fault_client.predict("attacker", api_name="/list_adapters") == []
    assert fault_client.predict("attacker", api_name="/list_runs")["data"] == []
    for ep in ("/run_status", "/stop_run", "/resume_run"):
        with pytest.raises(AppError, match="another session"):
            fault_client.predict(victim_run.name, "attacker", api_name=ep)
    rel = Path("..") / ".." / victim_run.relative_to(victim_run.parents[1]) / "adapter"
    for path in (adapter, adapter + "/", str(victim_run / "adapter" / ".." / "adapter"), str(rel), "/etc",
                 "http://evil.example/adapter", "../../../etc/passwd", str(victim_run)):
        with pytest.raises(AppError, match="not one of this session's runs or uploads"):
            fault_client.predict("smollm2-135m-instruct", [path], "hi", "attacker", 2, api_name="/compare")
    with pytest.raises(AppError, match="at most 3"):
        fault_client.predict("smollm2-135m-instruct", ["a", "b", "c", "d"], "hi", "attacker", 2, api_name="/compare")


@pytest.mark.parametrize("name", ["http://127.0.0.1:1/evil", "https://huggingface.co/meta-llama/Llama-3-8B",
                                  "file:///etc/passwd", "ftp://evil.example/a/b", "hf://org/model",
                                  "../../../../etc/passwd", "/etc/passwd", "org/../../x", "a/b/c/d", ""])
def test_hostile_model_names_are_refused(fault_client, name, tiny_llama_dir):
    from gradio_client.exceptions import AppError
    with pytest.raises(AppError) as ei:
        fault_client.predict(name, "", api_name="/inspect_model")
    assert "root:" not in str(ei.value) and "Traceback" not in str(ei.value)
    with pytest.raises(AppError):
        fault_client.predict(name, [], "hi", "attacker", 2, api_name="/compare")
    import yaml
    from relhelpers import tiny_config
    cfg = yaml.safe_load(tiny_config(tiny_llama_dir, "x"))
    cfg["model"]["name"] = name
    with pytest.raises(AppError):
        fault_client.predict(yaml.safe_dump(cfg), "attacker", api_name="/start_run")


def test_custom_architecture_is_bounded(fault_client):
    """One request must not make the server build a module tree with millions of layers."""
    from gradio_client.exceptions import AppError
    with pytest.raises(AppError, match="layers: must be a whole number from 1 to 512"):
        fault_client.predict(4096, 1_000_000, 32, 8, 14336, 128256, api_name="/custom_model")
    with pytest.raises(AppError, match="ranks: chart at most 64"):
        fault_client.predict("GPT-2", custom_regex="", ranks_text=",".join(map(str, range(1, 4097))),
                             api_name="/rank_chart")
    path = fault_client.predict(64, 2, 4, 2, 128, 100, api_name="/custom_model")
    summary, *_ = fault_client.predict(path, "", api_name="/inspect_model")
    assert "llama" in summary


def test_file_route_serves_nothing_outside_the_upload_cache(fault_server, victim_run):
    url = fault_server.url
    port = urllib.parse.urlsplit(url).port
    cfg = str(victim_run / "config.yaml")
    cache = fault_server.env["GRADIO_TEMP_DIR"]
    up = fault_server.runs.parent / "uploads" / "victim-owner"
    up.mkdir(parents=True, exist_ok=True)
    (up / "data.jsonl").write_text(json.dumps({"text": "VICTIM-UPLOAD-MARKER"}) + "\n")
    targets = {
        "/etc/passwd": b"root:",
        cfg: b"VICTIM-CONFIG-MARKER",
        str(up / "data.jsonl"): b"VICTIM-UPLOAD-MARKER",
        "/proc/self/environ": FAKE_TOKEN.encode(),
        str(Path(__file__).resolve().parents[2] / "app.py"): b"build_app",
    }
    probes = []
    for path, marker in targets.items():
        rel_up = "../" * 12 + path.lstrip("/")
        probes += [(p, marker) for p in (
            f"/gradio_api/file={path}",
            "/gradio_api/file=" + urllib.parse.quote(path, safe=""),
            "/gradio_api/file=" + urllib.parse.quote(urllib.parse.quote(path, safe=""), safe=""),
            f"/gradio_api/file={cache}/../../{path.lstrip('/')}",
            f"/gradio_api/file={cache}/" + rel_up,
            f"/gradio_api/file={cache}/" + rel_up.replace("../", "%2e%2e%2f"),
            f"/gradio_api/file={cache}/" + rel_up.replace("../", "..%2f"),
            f"/gradio_api/file={cache}/" + rel_up.replace("../", "%252e%252e%252f"),
            f"/gradio_api/file={cache}/" + rel_up.replace("../", "..\\"),
            f"/gradio_api/file/{path}",
            f"/gradio_api/file=file://{path}",
            f"/file={path}",
            f"/static/{rel_up}",
            f"/static/{rel_up.replace('../', '%2e%2e/')}",
            f"/assets/{rel_up.replace('../', '%2e%2e/')}",
        )]
    probes += [("/gradio_api/file=app.py", b"build_app"), ("/gradio_api/file=../main/app.py", b"build_app"),
               (f"/gradio_api/file=http://127.0.0.1:{port}/config", b"components"),  # SSRF to loopback
               ("/gradio_api/file=http://169.254.169.254/latest/meta-data/", b"ami")]
    served = []
    for path, marker in probes:
        status, body = _raw_get(url, path)
        if status not in (400, 403, 404, 405) or marker in body:
            served.append((path, status, body[:80]))
    assert not served, served


def test_uploaded_file_is_served_only_from_the_cache(fault_server):
    """Positive control: the route does work for a file the server itself put in its upload cache."""
    import httpx
    with httpx.Client(timeout=30) as c:
        r = c.post(f"{fault_server.url}gradio_api/upload", files={"files": ("mine.jsonl", b'{"text": "MINE"}\n')})
        (path,) = r.json()
        assert path.startswith(fault_server.env["GRADIO_TEMP_DIR"])
        got = c.get(f"{fault_server.url}gradio_api/file={path}")
        assert got.status_code == 200 and b"MINE" in got.content


@pytest.mark.slow
def test_public_mode_gives_no_server_paths_and_the_same_answer_for_any_folder(rel_tmp, tiny_llama_dir):
    """WORKBENCH_PUBLIC=1 (as on a Space): model names are presets, the embedded model, hub ids or the session's own
    uploads. A server folder that exists and one that does not get the same refusal, before anything is queued."""
    import re

    import yaml
    from gradio_client import Client
    from gradio_client.exceptions import AppError
    from relhelpers import ROOT, launch_server, tiny_config
    srv = launch_server(rel_tmp / "public" / "runs", {"WORKBENCH_PUBLIC": "1"}, log_name="public.log")
    try:
        client = Client(srv.url, verbose=False)

        def answer(name: str, endpoint: str) -> str:
            cfg = yaml.safe_load(tiny_config(tiny_llama_dir, "public-probe"))
            cfg["model"]["name"] = name
            args = {"/start_run": (yaml.safe_dump(cfg), "visitor"), "/compare": (name, [], "hi", "visitor", 2)}
            with pytest.raises(AppError) as ei:
                client.predict(*args[endpoint], api_name=endpoint)
            return re.sub(re.escape(repr(name)) + "|" + re.escape(name), "NAME", str(ei.value))

        existing, missing = str(ROOT / "workbench"), str(ROOT / "no-such-folder")
        for endpoint in ("/start_run", "/compare"):
            answers = {answer(n, endpoint) for n in (existing, missing, tiny_llama_dir, "../../etc", "~/models")}
            assert len(answers) == 1, answers
            assert "public server" in answers.pop()
            # spelled like a hub id: never looked up on the server's disk ('workbench' is a folder in its cwd)
            assert answer("workbench", endpoint) == answer("no-such-folder", endpoint)
        assert client.predict("visitor", api_name="/list_runs")["data"] == []  # nothing was queued
    finally:
        srv.stop()

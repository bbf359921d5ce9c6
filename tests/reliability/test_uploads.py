"""Bad uploads: every one is refused with a message a learner can act on, and nothing is written outside the
session's own uploads folder (checked on the file system, before and after).

Dataset uploads go through ``handlers.train.upload_dataset``, adapter uploads through
``handlers.compare.upload_adapter``; the server-side size limit and the file names an upload may carry are
checked against a real server (``fault_server``, WORKBENCH_MAX_UPLOAD=4kb).
"""
from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from pathlib import Path

import gradio as gr
import httpx
import pytest

from relhelpers import tiny_config
from workbench.core.serving.workspace import Workspace
from workbench.ui.handlers import compare as CH
from workbench.ui.handlers import train as TH

GOOD_ROWS = "".join(json.dumps({"prompt": f"p{i}", "response": f"r{i}"}) + "\n" for i in range(20))


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture()
def sandbox(tmp_path, monkeypatch):
    """runs/ and uploads/ under one folder we can list before and after; incoming files live in incoming/."""
    runs = tmp_path / "srv" / "runs"
    runs.mkdir(parents=True)
    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(runs))
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    return tmp_path


def _new_files(before: set[str], root: Path) -> set[str]:
    return {p for p in snapshot(root) - before if not p.startswith("incoming")}


# --------------------------------------------------------------------------- datasets

BAD_DATASETS = {
    "empty.jsonl": (b"", "empty"),
    "blank-lines.jsonl": (b"\n\n  \n", "empty|no rows"),
    "malformed.jsonl": (b'{"prompt": "a", "response": "b"}\n{"prompt": "c"\n', "line 2"),
    "non-utf8.jsonl": ('{"prompt": "caf\u00e9", "response": "x"}\n'.encode("latin-1"), "UTF-8"),
    "binary.jsonl": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "line 1"),
    "huge-row.jsonl": ((json.dumps({"prompt": "x" * 60_000, "response": "y"}) + "\n").encode(), "too long"),
    "wrong-types.jsonl": (b'{"prompt": 3, "response": ["a"]}\n', "line 1"),
    "no-columns.csv": (b"a,b\n1,2\n3,4\n", "prompt|column"),
    "notes.txt": (b"hello\n", "unsupported file type|Invalid file type"),
}


@pytest.mark.parametrize("fname", list(BAD_DATASETS))
def test_bad_dataset_upload_is_refused_and_nothing_is_kept(sandbox, fname):
    content, pattern = BAD_DATASETS[fname]
    src = sandbox / "incoming" / fname
    src.write_bytes(content)
    before = snapshot(sandbox)
    with pytest.raises(gr.Error, match=pattern):
        TH.upload_dataset(str(src), "sess-a")
    assert _new_files(before, sandbox) == set(), "a refused upload left files behind"


@pytest.mark.parametrize("owner", ["sess-a", "../../etc", "/", "", "a/../../b", "..", "x" * 500])
def test_upload_lands_only_in_the_sessions_own_folder(sandbox, owner):
    src = sandbox / "incoming" / "..evil name!.jsonl"
    src.write_text(GOOD_ROWS)
    (sandbox / "incoming" / "sub").mkdir(exist_ok=True)
    before = snapshot(sandbox)
    name, md = TH.upload_dataset(str(sandbox / "incoming" / "sub" / ".." / src.name), owner)
    dest = Path(name)
    uploads_root = (sandbox / "srv" / "uploads").resolve()
    assert dest.resolve().parent.parent == uploads_root
    assert dest.resolve().parent == Workspace(owner).uploads_dir.resolve()
    assert dest.name == "evil_name_.jsonl" and "18 training rows" in md
    assert _new_files(before, sandbox) == {str(p.relative_to(sandbox)) for p in (dest.parent.parent, dest.parent, dest)
                                           if str(p.relative_to(sandbox)) not in before}


def test_bad_upload_never_replaces_a_good_file_of_the_same_name(sandbox):
    """A run may be using data.jsonl: uploading a broken data.jsonl must leave the good one in place."""
    good = sandbox / "incoming" / "data.jsonl"
    good.write_text(GOOD_ROWS)
    name, _ = TH.upload_dataset(str(good), "sess-a")
    bad_dir = sandbox / "incoming" / "later"
    bad_dir.mkdir()
    bad = bad_dir / "data.jsonl"
    bad.write_text('{"prompt": "broken"\n')
    with pytest.raises(gr.Error, match="line 1"):
        TH.upload_dataset(str(bad), "sess-a")
    assert Path(name).read_text() == GOOD_ROWS
    assert [p.name for p in Path(name).parent.iterdir()] == ["data.jsonl"]  # no temp files left


def test_training_and_preview_only_read_this_sessions_uploads(sandbox, tiny_llama_dir):
    """data.name in a config must not reach other files on the server (nor other sessions' uploads)."""
    secret = sandbox / "secret.jsonl"
    secret.write_text(json.dumps({"text": "TOPSECRET operator notes"}) + "\n")
    own = sandbox / "incoming" / "mine.jsonl"
    own.write_text(GOOD_ROWS)
    mine, _ = TH.upload_dataset(str(own), "sess-a")
    theirs, _ = TH.upload_dataset(str(own), "sess-b")
    import yaml
    for path in (str(secret), str(sandbox / "incoming"), os.path.relpath(secret), "~/../../" + str(secret), theirs):
        cfg = yaml.safe_load(tiny_config(tiny_llama_dir, "x"))
        cfg["data"]["name"] = path
        with pytest.raises(gr.Error, match="uploaded in this session"):
            TH.start_run(yaml.safe_dump(cfg), "sess-a")
        if path != theirs:  # the preview does not know the session: any session's uploads, nothing else
            with pytest.raises(gr.Error, match="uploaded in this session"):
                TH.preview_html(yaml.safe_dump(cfg))
    cfg = yaml.safe_load(tiny_config(tiny_llama_dir, "x"))
    cfg["data"]["name"] = mine
    assert "example 1" in TH.preview_html(yaml.safe_dump(cfg))
    cfg["data"]["name"] = "json-format"
    assert "example 1" in TH.preview_html(yaml.safe_dump(cfg))


# --------------------------------------------------------------------------- adapters

def _adapter_files(d: Path) -> tuple[Path, Path]:
    import torch
    from safetensors.torch import save_file
    d.mkdir(parents=True, exist_ok=True)
    cfg = d / "adapter_config.json"
    cfg.write_text(json.dumps({"peft_type": "LORA", "r": 2, "target_modules": ["q_proj"],
                               "base_model_name_or_path": "tiny"}))
    w = d / "adapter_model.safetensors"
    save_file({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": torch.zeros(2, 64)}, str(w))
    return cfg, w


def _zip(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def _bad_adapters(src: Path) -> dict[str, tuple[list[Path], str]]:
    cfg, w = _adapter_files(src / "ok")
    cfg_b, w_b = cfg.read_bytes(), w.read_bytes()
    bad_json = src / "j" / "adapter_config.json"
    bad_json.parent.mkdir()
    bad_json.write_text("{not json")
    no_type = src / "t" / "adapter_config.json"
    no_type.parent.mkdir()
    no_type.write_text(json.dumps({"r": 2}))
    garbage = src / "g" / "adapter_model.safetensors"
    garbage.parent.mkdir()
    garbage.write_bytes(os.urandom(2048))
    empty = src / "empty.zip"
    empty.write_bytes(b"")
    truncated = src / "trunc.zip"
    truncated.write_bytes(_zip(src / "full.zip", {"adapter_config.json": cfg_b, "adapter_model.safetensors": w_b})
                          .read_bytes()[:300])
    return {
        "nothing": ([], "No file"),
        "empty zip": ([empty], "not a valid zip|not an adapter"),
        "truncated zip": ([truncated], "corrupt|not a valid zip|truncated|not an adapter"),
        "zip slip": ([_zip(src / "slip.zip", {"adapter_config.json": cfg_b, "../../evil.txt": b"x",
                                               "adapter_model.safetensors": w_b})], "unsafe"),
        "absolute member": ([_zip(src / "abs.zip", {"adapter_config.json": cfg_b, "/tmp/evil-abs.txt": b"x",
                                                     "adapter_model.safetensors": w_b})], "unsafe"),
        "symlink member": ([_zip(src / "link.zip", {"adapter_config.json": cfg_b, "adapter_model.safetensors": w_b},
                                 links={"evil-link": "/etc/passwd"})], "symbolic link"),
        "pickle weights": ([_zip(src / "bin.zip", {"adapter_config.json": cfg_b,
                                                    "adapter_model.bin": b"\x80\x04pickle"})], "pickle"),
        "malformed config": ([bad_json, w], "not valid JSON"),
        "config without peft_type": ([no_type, w], "peft_type"),
        "garbage weights": ([cfg, garbage], "safetensors"),
        "config only": ([cfg], "not an adapter"),
        "two adapters in one zip": ([_zip(src / "two.zip", {"a/adapter_config.json": cfg_b,
                                                             "a/adapter_model.safetensors": w_b,
                                                             "b/adapter_config.json": cfg_b})], "several adapters"),
    }


def test_bad_adapter_uploads_are_refused_and_leave_nothing(sandbox):
    src = sandbox / "incoming"
    cases = _bad_adapters(src)
    before = snapshot(sandbox)
    for label, (files, pattern) in cases.items():
        with pytest.raises(gr.Error, match=pattern):
            CH.upload_adapter([str(f) for f in files], "sess-a")
        new = _new_files(before, sandbox)
        # at most the session's (empty) adapters folder may appear: no staging dirs, no extracted members
        assert new <= {"srv/uploads", "srv/uploads/sess-a", "srv/uploads/sess-a/adapters"}, (label, new)
    assert not list((sandbox / "srv").rglob("evil*")) and not Path("/tmp/evil-abs.txt").exists()
    assert CH.adapter_choices("sess-a") == []


def test_zip_bomb_is_refused(sandbox, monkeypatch):
    from workbench.core.export import sharing as EX
    monkeypatch.setattr(EX, "MAX_UPLOAD_BYTES", 1 << 20)
    cfg, _w = _adapter_files(sandbox / "incoming" / "ok")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("adapter_config.json", cfg.read_bytes())
        zf.writestr("adapter_model.safetensors", b"\0" * (8 << 20))  # 8 MiB of zeros: a few KB compressed
    bomb = sandbox / "incoming" / "bomb.zip"
    bomb.write_bytes(buf.getvalue())
    assert bomb.stat().st_size < 100_000
    with pytest.raises(gr.Error, match="limit"):
        CH.upload_adapter([str(bomb)], "sess-a")
    assert not any(p.name.startswith(".import-") for p in (sandbox / "srv").rglob("*"))


def test_good_adapter_upload_is_private_to_its_session(sandbox):
    cfg, w = _adapter_files(sandbox / "incoming" / "ok")
    d = Path(CH.upload_adapter([str(cfg), str(w)], "sess-a"))
    assert d.parent == Workspace("sess-a").uploads_dir / "adapters"
    assert [x for _l, x in CH.adapter_choices("sess-a")] == [str(d)]
    assert CH.adapter_choices("sess-b") == []
    with pytest.raises(gr.Error, match="not one of this session"):
        CH.compare("tiny", [str(d)], "hi", "sess-b", max_new_tokens=2)


# --------------------------------------------------------------------------- through the server

def _call(url: str, api: str, data: list) -> str:
    """POST /gradio_api/call/<api> and return the SSE text of the result."""
    with httpx.Client(timeout=60) as c:
        r = c.post(f"{url}gradio_api/call/{api}", json={"data": data})
        r.raise_for_status()
        return c.get(f"{url}gradio_api/call/{api}/{r.json()['event_id']}").text


def test_server_refuses_uploads_over_the_size_limit(fault_server):
    marker = b"OVERSIZE-MARKER-"
    with httpx.Client(timeout=60) as c:
        r = c.post(f"{fault_server.url}gradio_api/upload",
                   files={"files": ("big.jsonl", marker + b"x" * 10_000)})
        assert r.status_code == 413, r.text
        assert "maximum allowed size" in r.text
        r = c.post(f"{fault_server.url}gradio_api/upload", files={"files": ("small.jsonl", GOOD_ROWS.encode())})
        assert r.status_code == 200
    cache = Path(fault_server.env["GRADIO_TEMP_DIR"])
    assert not any(marker in p.read_bytes() for p in cache.rglob("*") if p.is_file()), "oversize upload was kept"


def test_server_upload_names_cannot_escape(fault_server):
    url = fault_server.url
    cache = Path(fault_server.env["GRADIO_TEMP_DIR"]).resolve()
    with httpx.Client(timeout=60) as c:
        for name in ("../../evil.jsonl", "/etc/evil-abs.jsonl", "..\\..\\evil-win.jsonl", "....//evil2.jsonl"):
            r = c.post(f"{url}gradio_api/upload", files={"files": (name, GOOD_ROWS.encode())})
            assert r.status_code == 200, r.text
            (path,) = r.json()
            assert Path(path).resolve().is_relative_to(cache), path
            assert "/" not in Path(path).name and "\\" not in Path(path).name
            out = _call(url, "upload_dataset", [{"path": path, "meta": {"_type": "gradio.FileData"},
                                                 "orig_name": name}, "sess-up", "", ""])
            assert "event: complete" in out, out
            dest = Path(json.loads(out.split("data: ", 1)[1].splitlines()[0])[0])
            assert dest.resolve().parent == (fault_server.runs.parent / "uploads" / "sess-up").resolve()
    for root in (fault_server.runs.parent, Path("/etc"), Path(__file__).resolve().parents[2]):
        assert not [p for p in root.glob("evil*")], root


def test_server_refuses_files_that_were_not_uploaded(fault_server):
    """A crafted API call naming a server path as the 'uploaded' file must not make the app read it."""
    victim = fault_server.runs / "20240101-000000-aaaaaa"
    victim.mkdir(parents=True, exist_ok=True)
    (victim / "notes.jsonl").write_text(json.dumps({"text": "VICTIM-DATA"}) + "\n")
    for path in (str(victim / "notes.jsonl"), "/etc/passwd", "../../etc/passwd", "/proc/self/environ"):
        out = _call(fault_server.url, "upload_dataset",
                    [{"path": path, "meta": {"_type": "gradio.FileData"}}, "sess-x", "", ""])
        assert "event: error" in out and "VICTIM-DATA" not in out and "root:" not in out, out
    assert not (fault_server.runs.parent / "uploads" / "sess-x").exists()


def test_bad_dataset_through_the_server_is_a_clear_error(fault_client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError
    for fname, (content, pattern) in BAD_DATASETS.items():
        if len(content) > 3000:  # over this server's 4 KB upload limit: covered by the size test
            continue
        f = tmp_path / fname
        f.write_bytes(content)
        with pytest.raises(AppError, match=pattern):
            fault_client.predict(handle_file(str(f)), "sess-bad", "", "", api_name="/upload_dataset")

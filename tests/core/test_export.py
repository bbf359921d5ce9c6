"""Adapter files: zip/import round trip, unsafe and broken uploads, merge exactness, Hub push offline."""
from __future__ import annotations

import os
import stat
import time
import zipfile
from pathlib import Path

import pytest
import torch

from adapter_factory import make_adapter
from workbench.core.export import sharing as export
from workbench.core.generation import answers as A
from workbench.core.generation import variants as G
from workbench.core.model import adapter_files
from workbench.core.model.adapter_files import AdapterError
from workbench.errors import WorkbenchError


@pytest.fixture(scope="module")
def lora_dir(tiny_llama_dir, tmp_path_factory):
    return make_adapter(tiny_llama_dir, tmp_path_factory.mktemp("exp") / "my-lora", "lora")


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _files(adapter_dir) -> dict[str, bytes]:
    return {n: (Path(adapter_dir) / n).read_bytes() for n in (adapter_files.CONFIG_FILE, adapter_files.WEIGHTS_FILE)}


def test_zip_import_round_trip_same_outputs(tiny_llama_dir, lora_dir, tmp_path):
    z = export.zip_adapter(lora_dir, str(tmp_path / "out" / "a.zip"))
    assert sorted(zipfile.ZipFile(z).namelist()) == sorted(
        n for n in adapter_files.STANDARD_FILES if (Path(lora_dir) / n).is_file())
    imported = export.import_adapter(z, tmp_path / "uploads")
    assert Path(imported).parent == tmp_path / "uploads" and Path(imported).name.startswith("a-")
    for n in (adapter_files.CONFIG_FILE, adapter_files.WEIGHTS_FILE):
        assert (Path(imported) / n).read_bytes() == (Path(lora_dir) / n).read_bytes()
    vm = G.get_variants(tiny_llama_dir, [lora_dir, imported])
    s = A.GenSettings(max_new_tokens=8)
    assert A.generate(vm, "hi", lora_dir, s).text == A.generate(vm, "hi", imported, s).text
    # a second import goes to a fresh folder
    assert export.import_adapter(z, tmp_path / "uploads") != imported


def test_import_forms(lora_dir, tmp_path):
    files = _files(lora_dir)
    nested = _zip(tmp_path / "nested.zip", {f"run-7/adapter/{n}": b for n, b in files.items()}
                  | {"run-7/adapter/optimizer.pt": b"ignored", "__MACOSX/._x": b""})
    out = export.import_adapter(nested, tmp_path / "dest")
    assert sorted(os.listdir(out)) == sorted(files)
    assert export.import_adapter(lora_dir, tmp_path / "dest")  # a folder
    two = [str(Path(lora_dir) / n) for n in files]
    out = export.import_adapter(two, tmp_path / "dest")  # the two uploaded files
    assert adapter_files.read_adapter(out).peft_type == "LORA"
    assert not [p for p in (tmp_path / "dest").iterdir() if p.name.startswith(".import-")]  # no leftovers


@pytest.mark.parametrize("case,members,match", [
    ("no-config", {"adapter_model.safetensors": b"x"}, "not a PEFT adapter"),
    ("no-peft-type", {"adapter_config.json": b'{"r": 8}', "adapter_model.safetensors": b"x"}, "no 'peft_type'"),
    ("bad-json", {"adapter_config.json": b"{nope", "adapter_model.safetensors": b"x"}, "not valid JSON"),
    ("no-weights", {"adapter_config.json": b'{"peft_type": "LORA"}'}, "adapter_model.safetensors is missing"),
    ("bad-weights", {"adapter_config.json": b'{"peft_type": "LORA"}', "adapter_model.safetensors": b"junk"},
     "not a readable safetensors"),
    ("pickle", {"adapter_config.json": b'{"peft_type": "LORA"}', "adapter_model.bin": b"x"}, "only adapter_model.safetensors"),
    ("traversal", {"../evil/adapter_config.json": b"{}"}, "outside the folder"),
    ("absolute", {"/etc/adapter_config.json": b"{}"}, "outside the folder"),
    ("two", {"a/adapter_config.json": b"{}", "b/adapter_config.json": b"{}"}, "several adapters"),
])
def test_bad_zip_uploads(tmp_path, case, members, match):
    z = _zip(tmp_path / f"{case}.zip", members)
    with pytest.raises(AdapterError, match=match):
        export.import_adapter(z, tmp_path / "dest")
    assert not any((tmp_path / "dest").iterdir())  # nothing half-imported


def test_corrupt_and_linked_zips(lora_dir, tmp_path):
    good = export.zip_adapter(lora_dir, str(tmp_path / "good.zip"))
    data = Path(good).read_bytes()
    (tmp_path / "truncated.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(AdapterError, match="not a valid zip"):
        export.import_adapter(tmp_path / "truncated.zip", tmp_path / "dest")
    flipped = bytearray(data)
    off = data.index(b"adapter_model.safetensors") + 200  # inside the compressed weights
    flipped[off] ^= 0xFF
    (tmp_path / "flipped.zip").write_bytes(bytes(flipped))
    with pytest.raises(AdapterError, match="corrupt|not a valid zip|safetensors"):
        export.import_adapter(tmp_path / "flipped.zip", tmp_path / "dest")
    (tmp_path / "text.zip").write_text("hello")
    with pytest.raises(AdapterError, match="not a valid zip"):
        export.import_adapter(tmp_path / "text.zip", tmp_path / "dest")
    link = zipfile.ZipInfo("adapter_config.json")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as zf:
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(AdapterError, match="symbolic link"):
        export.import_adapter(tmp_path / "link.zip", tmp_path / "dest")
    with pytest.raises(AdapterError, match="not an adapter"):
        export.import_adapter(Path(lora_dir) / adapter_files.CONFIG_FILE, tmp_path / "dest")


def test_size_cap(lora_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "MAX_UPLOAD_BYTES", 100)
    z = export.zip_adapter(lora_dir, str(tmp_path / "a.zip"))
    with pytest.raises(AdapterError, match="limit"):
        export.import_adapter(z, tmp_path / "dest")


def test_validate_against_other_architecture(lora_dir, tiny_llama_dir, tmp_path, tiny_config_factory, tokenizer):
    assert adapter_files.validate_adapter(lora_dir, tiny_llama_dir).peft_type == "LORA"
    cfg = tiny_config_factory("llama", vocab_size=len(tokenizer))
    cfg.hidden_size, cfg.intermediate_size = 96, 64
    (tmp_path / "wide").mkdir()
    (tmp_path / "wide" / "config.json").write_text(cfg.to_json_string())
    with pytest.raises(AdapterError, match=r"different architecture \(.*q_proj has input size 64 in the adapter and 96"):
        adapter_files.validate_adapter(lora_dir, str(tmp_path / "wide" / "config.json"))


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.mark.parametrize("kind", ["lora", "ia3"])
def test_merge_matches_adapter(tiny_llama_dir, tmp_path, kind):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    d = make_adapter(tiny_llama_dir, tmp_path / kind, kind)
    out = export.merge_and_save(tiny_llama_dir, d, str(tmp_path / "merged"))
    assert (Path(out) / "model.safetensors").is_file() and (Path(out) / "tokenizer.json").is_file()
    ids = torch.tensor([[1, 450, 2000, 31, 7, 99, 42]])
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), d).eval()
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    assert torch.allclose(_logits(merged, ids), _logits(adapted, ids), atol=1e-4)
    assert not torch.allclose(_logits(base, ids), _logits(adapted, ids), atol=1e-3)


def test_prompt_tuning_cannot_merge(tiny_llama_dir, tmp_path):
    d = make_adapter(tiny_llama_dir, tmp_path / "pt", "prompt_tuning")
    with pytest.raises(AdapterError, match="cannot be merged"):
        export.merge_and_save(tiny_llama_dir, d, str(tmp_path / "m"))


def test_push_offline_is_fast_and_hides_token(lora_dir, monkeypatch):
    token = "hf_SECRETsecretSECRET123"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t = time.time()
    with pytest.raises(WorkbenchError, match="not reachable") as e:
        export.push_to_hub(lora_dir, "me/my-adapter", token)
    assert time.time() - t < 2 and token not in str(e.value)
    with pytest.raises(WorkbenchError, match="repo id"):
        export.push_to_hub(lora_dir, "not a repo", token)
    with pytest.raises(WorkbenchError, match="token"):
        export.push_to_hub(lora_dir, "me/x", None)


def test_push_error_is_scrubbed(lora_dir, monkeypatch):
    import huggingface_hub
    token = "hf_SECRETsecretSECRET123"
    monkeypatch.setattr(export, "_hub_reachable", lambda timeout=3.0: True)

    def boom(self, *a, **k):
        raise RuntimeError(f"401 Unauthorized for token {token}")
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", boom)
    with pytest.raises(WorkbenchError, match="401") as e:
        export.push_to_hub(lora_dir, "me/my-adapter", token)
    assert token not in str(e.value) and "***" in str(e.value)
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_zip_adapter_rejects_non_adapter(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(AdapterError, match="not a PEFT adapter"):
        export.zip_adapter(str(tmp_path / "x"), str(tmp_path / "x.zip"))


def test_cli_export_json(tiny_llama_dir, lora_dir, tmp_path, monkeypatch):
    import json
    import subprocess
    import sys
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    p = subprocess.run([sys.executable, "-m", "workbench", "export", "--model", tiny_llama_dir, "--adapter", lora_dir,
                        "--out", str(tmp_path / "out"), "--zip", "--merge", "--json"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert set(out) == {"adapter", "zip", "merged", "pushed"} and out["pushed"] is None
    assert adapter_files.read_adapter(out["adapter"]).peft_type == "LORA"
    assert zipfile.is_zipfile(out["zip"]) and (Path(out["merged"]) / "config.json").is_file()
    env["HF_TOKEN"] = "hf_TOPSECRETTOKEN999"
    bad = subprocess.run([sys.executable, "-m", "workbench", "export", "--adapter", lora_dir, "--out",
                          str(tmp_path / "o2"), "--push-to-hub", "me/adapter", "--json"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert bad.returncode == 2 and "not reachable" in bad.stderr and "TOPSECRET" not in bad.stderr + bad.stdout
    merge_no_model = subprocess.run([sys.executable, "-m", "workbench", "export", "--adapter", lora_dir, "--out",
                                     str(tmp_path / "o3"), "--merge"], capture_output=True, text=True, timeout=300)
    assert merge_no_model.returncode == 2 and "--merge needs --model" in merge_no_model.stderr

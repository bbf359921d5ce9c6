"""Sharing adapters: zip and import them (uploads), merge one into the base, push to the Hub.

Reading and checking an adapter folder is ``core.model.adapter_files``. Uploads are untrusted: zips are checked
member by member (no absolute paths, no ``..``, no links, size caps) and only the standard files are copied, into a
fresh folder. Only safetensors weights are accepted from uploads (pickled ``.bin`` files can run code when loaded).
"""
from __future__ import annotations

import os
import re
import shutil
import uuid
import zipfile
import zlib
from pathlib import Path
from typing import Iterable

from workbench.errors import WorkbenchError
from workbench.core.env import env_int
from workbench.core.model.adapter_files import (CONFIG_FILE, LEGACY_WEIGHTS_FILE, README_FILE, WEIGHTS_FILE,
                                                AdapterError, check_compatible, read_adapter, rephrase_load_errors,
                                                weight_shapes)
from workbench.core.model.loading import _hub_reachable  # one reachability check for the whole engine

MAX_UPLOAD_BYTES = env_int("WORKBENCH_MAX_ADAPTER_BYTES", 2 * 1024**3)
"""Largest adapter (uncompressed) an upload may contain; env WORKBENCH_MAX_ADAPTER_BYTES."""
MAX_ZIP_MEMBERS = 1000


# --------------------------------------------------------------------------- zip / import

def zip_adapter(adapter_dir: str, out_zip: str) -> str:
    """Zip the standard PEFT files of an adapter (flat: files at the zip root). Returns the zip path."""
    info = read_adapter(adapter_dir)
    out = Path(out_zip)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = [n for n in (CONFIG_FILE, Path(info.weights_file).name, README_FILE) if (Path(info.path) / n).is_file()]
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n in names:
            zf.write(Path(info.path) / n, arcname=n)
    tmp.replace(out)
    return str(out)


def _unsafe_member(name: str) -> bool:
    parts = re.split(r"[\\/]+", name)
    return (name.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", name))
            or any(p == ".." for p in parts) or "\x00" in name)


def _is_link(info: zipfile.ZipInfo) -> bool:
    return (info.external_attr >> 16) & 0o170000 == 0o120000


def _copy_limited(src, dst: Path, limit: int) -> int:
    n = 0
    with open(dst, "wb") as out:
        while chunk := src.read(1 << 20):
            n += len(chunk)
            if n > limit:
                raise AdapterError("compare.upload_too_large", limit=limit // 1024**2)
            out.write(chunk)
    return n


def _stage_from_zip(zpath: Path, stage: Path) -> None:
    try:
        zf = zipfile.ZipFile(zpath)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise AdapterError("compare.bad_zip", name=zpath.name, detail=str(e)) from None
    with zf:
        members = zf.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise AdapterError("compare.zip_too_many", name=zpath.name, n=len(members))
        for m in members:
            if _unsafe_member(m.filename):
                raise AdapterError("compare.zip_outside", name=zpath.name, member=m.filename)
            if _is_link(m):
                raise AdapterError("compare.zip_link", name=zpath.name, member=m.filename)
        files = [m for m in members if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
        configs = [m for m in files if m.filename.replace("\\", "/").rsplit("/", 1)[-1] == CONFIG_FILE]
        if not configs:
            raise AdapterError("compare.zip_no_config", name=zpath.name, config=CONFIG_FILE)
        if len(configs) > 1:
            raise AdapterError("compare.zip_several", name=zpath.name,
                               members=", ".join(m.filename for m in configs[:4]))
        prefix = configs[0].filename[: -len(CONFIG_FILE)]
        wanted = {prefix + n: n for n in (CONFIG_FILE, WEIGHTS_FILE, LEGACY_WEIGHTS_FILE, README_FILE)}
        chosen = [m for m in files if m.filename in wanted]
        total = sum(m.file_size for m in chosen)
        if total > MAX_UPLOAD_BYTES:
            raise AdapterError("compare.zip_too_big", name=zpath.name, size=total // 1024**2,
                               limit=MAX_UPLOAD_BYTES // 1024**2)
        budget = MAX_UPLOAD_BYTES
        try:
            for m in chosen:
                with zf.open(m) as src:
                    budget -= _copy_limited(src, stage / wanted[m.filename], budget)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
            raise AdapterError("compare.zip_corrupt", name=zpath.name, member=m.filename, detail=str(e)) from None


def _stage_from_files(paths: Iterable[Path], stage: Path) -> None:
    for p in paths:
        if p.is_symlink():
            raise AdapterError("compare.upload_link", name=p.name)
        if not p.is_file():
            raise AdapterError("compare.uploaded_not_found", path=str(p))
        if p.stat().st_size > MAX_UPLOAD_BYTES:
            raise AdapterError("compare.file_too_large", name=p.name, limit=MAX_UPLOAD_BYTES // 1024**2)
        if p.name in (CONFIG_FILE, WEIGHTS_FILE, LEGACY_WEIGHTS_FILE, README_FILE):
            target = p.name
        elif p.suffix == ".safetensors":
            target = WEIGHTS_FILE
        elif p.suffix == ".json":
            target = CONFIG_FILE
        elif p.suffix == ".md":
            target = README_FILE
        else:
            continue
        shutil.copyfile(p, stage / target)


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "adapter"
    return s[:48]


def import_adapter(path_or_zip: str | os.PathLike | list, dest_root: str | os.PathLike) -> str:
    """Validate an uploaded adapter and copy its standard files into a fresh sub-folder of ``dest_root``.

    Accepts a zip (files at the root or inside one folder), an adapter folder, or a list of the uploaded files
    (``adapter_config.json`` + ``adapter_model.safetensors``). Returns the new folder.
    """
    if isinstance(path_or_zip, (list, tuple)):
        paths = [Path(p) for p in path_or_zip]
        if len(paths) == 1:
            return import_adapter(paths[0], dest_root)
        stem = "adapter"
    else:
        paths = [Path(path_or_zip).expanduser()]
        if not paths[0].exists():
            raise AdapterError("compare.upload_not_found", path=str(path_or_zip))
        stem = paths[0].stem if paths[0].is_file() else paths[0].name
    root = Path(dest_root)
    root.mkdir(parents=True, exist_ok=True)
    stage = root / f".import-{uuid.uuid4().hex[:12]}"
    stage.mkdir()
    try:
        src = paths[0]
        if len(paths) == 1 and src.is_dir():
            _stage_from_files([src / n for n in (CONFIG_FILE, WEIGHTS_FILE, LEGACY_WEIGHTS_FILE, README_FILE)
                               if (src / n).is_file()], stage)
        elif len(paths) == 1 and (src.suffix.lower() == ".zip" or zipfile.is_zipfile(src)):
            _stage_from_zip(src, stage)
        elif len(paths) == 1:
            raise AdapterError("compare.not_an_adapter", name=src.name, config=CONFIG_FILE, weights=WEIGHTS_FILE)
        else:
            _stage_from_files(paths, stage)
        if (stage / LEGACY_WEIGHTS_FILE).is_file() and not (stage / WEIGHTS_FILE).is_file():
            raise AdapterError("compare.pickle_weights", weights=WEIGHTS_FILE, legacy=LEGACY_WEIGHTS_FILE)
        (stage / LEGACY_WEIGHTS_FILE).unlink(missing_ok=True)
        info = read_adapter(stage)
        if not weight_shapes(info):
            raise AdapterError("compare.no_tensors", weights=WEIGHTS_FILE)
        dest = root / f"{_slug(stem)}-{uuid.uuid4().hex[:8]}"
        stage.rename(dest)
        return str(dest)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


# --------------------------------------------------------------------------- merge / push

def merge_and_save(model_name: str, adapter_dir: str, out_dir: str, progress=None) -> str:
    """Fold the adapter into a fresh copy of the base (``merge_and_unload``) and save safetensors + tokenizer.

    Only adapters that change weights (LoRA/DoRA, IA3, ...) can be merged; prompt-learning adapters add
    virtual tokens instead and have nothing to merge. Returns ``out_dir``.
    """
    from peft import PeftModel
    from workbench.core.model.loading import load_model
    info = read_adapter(adapter_dir)
    if info.is_prompt_learning:
        raise AdapterError("compare.cannot_merge", method=info.peft_type.lower())
    if progress:
        progress(0.1, "Loading a fresh copy of the base model...")
    base, tok = load_model(model_name)  # a private copy: merging rewrites its weights in place
    check_compatible(info, base, model_name)
    with rephrase_load_errors(info, model_name):
        peft_model = PeftModel.from_pretrained(base, info.path)
    if progress:
        progress(0.6, "Merging the adapter into the weights...")
    merged = peft_model.merge_and_unload()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def push_to_hub(local_dir: str, repo_id: str, token: str | None, private: bool = False) -> str:
    """Upload a folder (adapter or merged model) to a Hub model repo (created if missing). Returns its URL.

    The token is used only for these two calls: it is never logged, stored, or included in error messages.
    """
    if not Path(local_dir).is_dir():
        raise WorkbenchError("compare.nothing_to_upload", path=str(local_dir))
    check_push_ready(repo_id, token)
    try:
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo(repo_id.strip(), token=token, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(repo_id=repo_id.strip(), folder_path=str(local_dir), token=token, repo_type="model",
                          commit_message="Upload from PEFT Workbench")
    except Exception as e:  # auth, permissions, network
        raise WorkbenchError("compare.push_failed", repo=repo_id, detail=_scrub(str(e), token)[:400]) from None
    return f"https://huggingface.co/{repo_id.strip()}"


def check_push_ready(repo_id: str, token: str | None) -> None:
    """Fail fast (before any long merge) when a push cannot work: bad repo id, no token, Hub unreachable."""
    if not isinstance(repo_id, str) or not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", repo_id.strip()):
        raise WorkbenchError("compare.bad_repo_id", repo=repo_id)
    if not token:
        raise WorkbenchError("compare.push_needs_token")
    if not _hub_reachable():
        raise WorkbenchError("compare.push_offline")

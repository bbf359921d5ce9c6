"""Adapter files: read and validate them, zip and import them (uploads), merge into the base, push to the Hub.

A PEFT adapter is a folder with ``adapter_config.json`` (its ``peft_type`` says the method) and the weights
(``adapter_model.safetensors``). Uploads are untrusted: zips are checked member by member (no absolute paths,
no ``..``, no links, size caps) and only the standard files are copied, into a fresh folder. Only safetensors
weights are accepted from uploads (pickled ``.bin`` files can run code when loaded).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import WorkbenchError
from .models import _hub_reachable  # one reachability check for the whole engine

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
LEGACY_WEIGHTS_FILE = "adapter_model.bin"
README_FILE = "README.md"
STANDARD_FILES = (CONFIG_FILE, WEIGHTS_FILE, README_FILE)
MAX_UPLOAD_BYTES = int(os.environ.get("WORKBENCH_MAX_ADAPTER_BYTES", str(2 * 1024**3)))
"""Largest adapter (uncompressed) an upload may contain; env WORKBENCH_MAX_ADAPTER_BYTES."""
MAX_ZIP_MEMBERS = 1000
PROMPT_LEARNING = ("PROMPT_TUNING", "P_TUNING", "PREFIX_TUNING", "MULTITASK_PROMPT_TUNING", "CPT", "CARTRIDGE")


class AdapterError(WorkbenchError):
    """An adapter folder/upload is missing, malformed, unsafe, or does not fit the selected model."""


# --------------------------------------------------------------------------- reading / validation

@dataclass
class AdapterInfo:
    """What an adapter folder holds (read from its files; no model needed)."""
    path: str
    peft_type: str
    """PEFT's method name, e.g. LORA, IA3, PROMPT_TUNING, P_TUNING, PREFIX_TUNING."""
    base_model: str | None
    """``base_model_name_or_path`` recorded at training time (may be a local path or None)."""
    weights_file: str
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def is_prompt_learning(self) -> bool:
        return self.peft_type in PROMPT_LEARNING

    @property
    def is_lora(self) -> bool:
        return self.peft_type == "LORA"


def _known_peft_types() -> set[str]:
    from peft.utils.peft_types import PeftType
    return {t.value for t in PeftType}


def read_adapter(adapter_dir: str | os.PathLike) -> AdapterInfo:
    """Read and check an adapter folder: adapter_config.json with a known peft_type plus a weights file."""
    d = Path(adapter_dir).expanduser()
    if not d.is_dir():
        raise AdapterError(f"Adapter folder not found: {adapter_dir}")
    cfg_path = d / CONFIG_FILE
    if not cfg_path.is_file():
        raise AdapterError(f"{adapter_dir} is not a PEFT adapter: it has no {CONFIG_FILE}.")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AdapterError(f"{cfg_path} is not valid JSON: {e}") from None
    if not isinstance(cfg, dict) or not cfg.get("peft_type"):
        raise AdapterError(f"{adapter_dir} is not a PEFT adapter: {CONFIG_FILE} has no 'peft_type'.")
    peft_type = str(cfg["peft_type"]).upper()
    if peft_type not in _known_peft_types():
        raise AdapterError(f"{adapter_dir}: unknown peft_type {cfg['peft_type']!r} in {CONFIG_FILE}.")
    weights = next((d / n for n in (WEIGHTS_FILE, LEGACY_WEIGHTS_FILE) if (d / n).is_file()), None)
    if weights is None:
        raise AdapterError(f"{adapter_dir} is not a complete PEFT adapter: {WEIGHTS_FILE} is missing.")
    return AdapterInfo(path=str(d), peft_type=peft_type, base_model=cfg.get("base_model_name_or_path"),
                       weights_file=str(weights), config=cfg)


def weight_shapes(info: AdapterInfo) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, read from the safetensors header only (cheap even for big adapters)."""
    if not info.weights_file.endswith(".safetensors"):
        return {}
    from safetensors import safe_open
    try:
        with safe_open(info.weights_file, framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # truncated / not a safetensors file
        raise AdapterError(f"{info.weights_file} is not a readable safetensors file: {e}") from None


def _arch_error(info: AdapterInfo, model_name: str, detail: str) -> AdapterError:
    trained = info.base_model or "an unrecorded base model"
    return AdapterError(f"adapter was trained for a different architecture ({detail}); adapter {info.path} "
                        f"records base {trained!r}, the selected model is {model_name!r}.")


def _hidden_size(config) -> int | None:
    for a in ("hidden_size", "d_model", "n_embd"):
        if getattr(config, a, None):
            return int(getattr(config, a))
    return None


_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.(?P<part>lora_A|lora_B|lora_embedding_A|lora_embedding_B)"
                       r"(?:\.[^.]+)?(?:\.weight)?$")


def check_compatible(info: AdapterInfo, model, model_name: str) -> None:
    """Raise AdapterError if the adapter's shapes cannot fit ``model`` (a real or meta-device model).

    Checks LoRA A/B shapes against the wrapped modules and prompt embeddings against the hidden size; other
    mismatches surface when PEFT loads the weights (see ``rephrase_load_errors``).
    """
    config = getattr(model, "config", None)
    hidden = _hidden_size(config) if config is not None else None
    shapes = weight_shapes(info)
    if info.is_prompt_learning:
        token_dim = info.config.get("token_dim")
        if hidden and token_dim and int(token_dim) != hidden and info.peft_type != "PREFIX_TUNING":
            raise _arch_error(info, model_name, f"virtual tokens have size {token_dim}, the model's hidden size is {hidden}")
        layers = info.config.get("num_layers")
        n_layers = getattr(config, "num_hidden_layers", None)
        if layers and n_layers and int(layers) != int(n_layers):
            raise _arch_error(info, model_name, f"{layers} layers in the adapter, {n_layers} in the model")
        emb = shapes.get("prompt_embeddings")
        if emb and hidden and info.peft_type in ("PROMPT_TUNING", "P_TUNING") and emb[-1] != hidden:
            raise _arch_error(info, model_name, f"virtual tokens have size {emb[-1]}, the model's hidden size is {hidden}")
        return
    modules = dict(model.named_modules())
    for key, shape in shapes.items():
        m = _LORA_KEY.match(key)
        if not m or len(shape) != 2:
            continue
        name, part = m.group("module"), m.group("part")
        mod = modules.get(name)
        if mod is None:
            raise _arch_error(info, model_name, f"module {name!r} does not exist in the model")
        mod = getattr(mod, "base_layer", mod)
        if part == "lora_A":
            want, got, what = getattr(mod, "in_features", None), shape[1], "input"
        elif part == "lora_B":
            want, got, what = getattr(mod, "out_features", None), shape[0], "output"
        elif part == "lora_embedding_A":
            want, got, what = getattr(mod, "num_embeddings", None), shape[1], "vocabulary"
        else:
            want, got, what = getattr(mod, "embedding_dim", None), shape[0], "embedding"
        if want is not None and int(want) != int(got):
            raise _arch_error(info, model_name, f"{name} has {what} size {got} in the adapter and {want} in the model")


def validate_adapter(adapter_dir: str, model_name: str | None = None) -> AdapterInfo:
    """Read an adapter and, given a model name, check it fits that model (architecture only, no weights)."""
    info = read_adapter(adapter_dir)
    weight_shapes(info)
    if model_name:
        from .models import MODEL_CACHE
        check_compatible(info, MODEL_CACHE.meta(model_name), model_name)
    return info


@contextlib.contextmanager
def rephrase_load_errors(info: AdapterInfo, model_name: str) -> Iterator[None]:
    """Turn PEFT's size-mismatch / missing-module errors while loading into one clear AdapterError."""
    try:
        yield
    except (RuntimeError, ValueError, KeyError) as e:
        text = str(e)
        if "size mismatch" in text:
            lines = [ln.strip() for ln in text.splitlines() if "size mismatch" in ln]
            detail = lines[1] if len(lines) > 1 else lines[0] if lines else "weight shapes differ"
            raise _arch_error(info, model_name, detail[:300]) from None
        if "not found in the base model" in text or "Target module" in text:
            raise _arch_error(info, model_name, text.splitlines()[0][:300]) from None
        raise AdapterError(f"Could not load adapter {info.path} on {model_name!r}: {text.splitlines()[0][:300] if text else type(e).__name__}") from None


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
                raise AdapterError(f"the upload is larger than the {limit // 1024**2} MiB limit")
            out.write(chunk)
    return n


def _stage_from_zip(zpath: Path, stage: Path) -> None:
    try:
        zf = zipfile.ZipFile(zpath)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise AdapterError(f"{zpath.name} is not a valid zip file (corrupt or truncated): {e}") from None
    with zf:
        members = zf.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise AdapterError(f"{zpath.name} has {len(members)} entries; an adapter zip needs only a few files")
        for m in members:
            if _unsafe_member(m.filename):
                raise AdapterError(f"{zpath.name} is unsafe: member {m.filename!r} points outside the folder")
            if _is_link(m):
                raise AdapterError(f"{zpath.name} is unsafe: member {m.filename!r} is a symbolic link")
        files = [m for m in members if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
        configs = [m for m in files if m.filename.replace("\\", "/").rsplit("/", 1)[-1] == CONFIG_FILE]
        if not configs:
            raise AdapterError(f"{zpath.name} is not a PEFT adapter: it contains no {CONFIG_FILE}.")
        if len(configs) > 1:
            raise AdapterError(f"{zpath.name} holds several adapters ({', '.join(m.filename for m in configs[:4])}); "
                               "zip one adapter folder.")
        prefix = configs[0].filename[: -len(CONFIG_FILE)]
        wanted = {prefix + n: n for n in (CONFIG_FILE, WEIGHTS_FILE, LEGACY_WEIGHTS_FILE, README_FILE)}
        chosen = [m for m in files if m.filename in wanted]
        total = sum(m.file_size for m in chosen)
        if total > MAX_UPLOAD_BYTES:
            raise AdapterError(f"{zpath.name} unpacks to {total // 1024**2} MiB, over the "
                               f"{MAX_UPLOAD_BYTES // 1024**2} MiB limit")
        budget = MAX_UPLOAD_BYTES
        try:
            for m in chosen:
                with zf.open(m) as src:
                    budget -= _copy_limited(src, stage / wanted[m.filename], budget)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
            raise AdapterError(f"{zpath.name} is corrupt (could not read {m.filename}): {e}") from None


def _stage_from_files(paths: Iterable[Path], stage: Path) -> None:
    for p in paths:
        if p.is_symlink():
            raise AdapterError(f"{p.name} is a symbolic link; upload the file itself.")
        if not p.is_file():
            raise AdapterError(f"Uploaded file not found: {p}")
        if p.stat().st_size > MAX_UPLOAD_BYTES:
            raise AdapterError(f"{p.name} is over the {MAX_UPLOAD_BYTES // 1024**2} MiB limit")
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
            raise AdapterError(f"Upload not found: {path_or_zip}")
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
            raise AdapterError(f"{src.name} is not an adapter: upload a .zip of the adapter folder, or both "
                               f"{CONFIG_FILE} and {WEIGHTS_FILE}.")
        else:
            _stage_from_files(paths, stage)
        if (stage / LEGACY_WEIGHTS_FILE).is_file() and not (stage / WEIGHTS_FILE).is_file():
            raise AdapterError(f"only {WEIGHTS_FILE} weights are accepted for uploads ({LEGACY_WEIGHTS_FILE} is a "
                               "pickle, which can run code when loaded); re-save the adapter with safetensors.")
        (stage / LEGACY_WEIGHTS_FILE).unlink(missing_ok=True)
        info = read_adapter(stage)
        if not weight_shapes(info):
            raise AdapterError(f"{WEIGHTS_FILE} holds no tensors, so it is not a trained adapter.")
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
    from .models import load_model
    info = read_adapter(adapter_dir)
    if info.is_prompt_learning:
        raise AdapterError(f"{info.peft_type.lower()} adapters cannot be merged: they add learned virtual tokens, "
                           "not weight updates. Export the adapter itself instead.")
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
        raise WorkbenchError(f"Nothing to upload: {local_dir} is not a folder.")
    check_push_ready(repo_id, token)
    try:
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo(repo_id.strip(), token=token, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(repo_id=repo_id.strip(), folder_path=str(local_dir), token=token, repo_type="model",
                          commit_message="Upload from PEFT Workbench")
    except Exception as e:  # auth, permissions, network
        raise WorkbenchError(f"Upload to {repo_id} failed: {_scrub(str(e), token)[:400]}") from None
    return f"https://huggingface.co/{repo_id.strip()}"


def check_push_ready(repo_id: str, token: str | None) -> None:
    """Fail fast (before any long merge) when a push cannot work: bad repo id, no token, Hub unreachable."""
    if not isinstance(repo_id, str) or not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", repo_id.strip()):
        raise WorkbenchError(f"{repo_id!r} is not a Hub repo id like 'your-name/my-adapter'.")
    if not token:
        raise WorkbenchError("Pushing to the Hub needs a write token (set HF_TOKEN).")
    if not _hub_reachable():
        raise WorkbenchError("Cannot push to the Hugging Face Hub: it is not reachable (offline, or HF_HUB_OFFLINE=1). "
                             "Zip the adapter and upload it later instead.")

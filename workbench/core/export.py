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
from ..messages import Message
from . import methods
from .env import env_int
from .models import _hub_reachable  # one reachability check for the whole engine

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
LEGACY_WEIGHTS_FILE = "adapter_model.bin"
README_FILE = "README.md"
STANDARD_FILES = (CONFIG_FILE, WEIGHTS_FILE, README_FILE)
MAX_UPLOAD_BYTES = env_int("WORKBENCH_MAX_ADAPTER_BYTES", 2 * 1024**3)
"""Largest adapter (uncompressed) an upload may contain; env WORKBENCH_MAX_ADAPTER_BYTES."""
MAX_ZIP_MEMBERS = 1000


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
        return self.peft_type in prompt_learning_types()

    @property
    def is_lora(self) -> bool:
        return self.peft_type == "LORA"


def _known_peft_types() -> set[str]:
    from peft.utils.peft_types import PeftType
    return {t.value for t in PeftType}


def prompt_learning_types() -> set[str]:
    """PEFT types that add virtual tokens instead of weight updates: the registry's prompt-learning methods plus
    any other PEFT prompt-learning config (an imported MULTITASK_PROMPT_TUNING or CPT adapter, say)."""
    from peft.config import PromptLearningConfig
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING
    peft_own = {getattr(t, "value", t) for t, c in PEFT_TYPE_TO_CONFIG_MAPPING.items()
                if issubclass(c, PromptLearningConfig)}
    return peft_own | set(methods.prompt_learning_peft_types())


def read_adapter(adapter_dir: str | os.PathLike) -> AdapterInfo:
    """Read and check an adapter folder: adapter_config.json with a known peft_type plus a weights file."""
    d = Path(adapter_dir).expanduser()
    if not d.is_dir():
        raise AdapterError("compare.adapter_not_found", path=str(adapter_dir))
    cfg_path = d / CONFIG_FILE
    if not cfg_path.is_file():
        raise AdapterError("compare.no_adapter_config", path=str(adapter_dir), config=CONFIG_FILE)
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AdapterError("compare.bad_json", path=str(cfg_path), detail=str(e)) from None
    if not isinstance(cfg, dict) or not cfg.get("peft_type"):
        raise AdapterError("compare.no_peft_type", path=str(adapter_dir), config=CONFIG_FILE)
    peft_type = str(cfg["peft_type"]).upper()
    if peft_type not in _known_peft_types():
        raise AdapterError("compare.unknown_peft_type", path=str(adapter_dir), peft_type=cfg["peft_type"],
                           config=CONFIG_FILE)
    weights = next((d / n for n in (WEIGHTS_FILE, LEGACY_WEIGHTS_FILE) if (d / n).is_file()), None)
    if weights is None:
        raise AdapterError("compare.no_weights", path=str(adapter_dir), weights=WEIGHTS_FILE)
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
        raise AdapterError("compare.bad_safetensors", path=info.weights_file, detail=str(e)) from None


def _arch_error(info: AdapterInfo, model_name: str, detail: Message | str) -> AdapterError:
    trained = info.base_model or Message("compare.unrecorded_base")
    return AdapterError("compare.wrong_architecture", detail=detail, path=info.path, base=trained, model=model_name)


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
            raise _arch_error(info, model_name, Message("compare.token_size", {"size": token_dim, "hidden": hidden}))
        layers = info.config.get("num_layers")
        n_layers = getattr(config, "num_hidden_layers", None)
        if layers and n_layers and int(layers) != int(n_layers):
            raise _arch_error(info, model_name, Message("compare.layer_count",
                                                        {"adapter_layers": layers, "model_layers": n_layers}))
        emb = shapes.get("prompt_embeddings")
        if emb and hidden and info.peft_type in ("PROMPT_TUNING", "P_TUNING") and emb[-1] != hidden:
            raise _arch_error(info, model_name, Message("compare.token_size", {"size": emb[-1], "hidden": hidden}))
        return
    modules = dict(model.named_modules())
    for key, shape in shapes.items():
        m = _LORA_KEY.match(key)
        if not m or len(shape) != 2:
            continue
        name, part = m.group("module"), m.group("part")
        mod = modules.get(name)
        if mod is None:
            raise _arch_error(info, model_name, Message("compare.no_module", {"name": name}))
        mod = getattr(mod, "base_layer", mod)
        if part == "lora_A":
            want, got, what = getattr(mod, "in_features", None), shape[1], "compare.word_input"
        elif part == "lora_B":
            want, got, what = getattr(mod, "out_features", None), shape[0], "compare.word_output"
        elif part == "lora_embedding_A":
            want, got, what = getattr(mod, "num_embeddings", None), shape[1], "compare.word_vocabulary"
        else:
            want, got, what = getattr(mod, "embedding_dim", None), shape[0], "compare.word_embedding"
        if want is not None and int(want) != int(got):
            raise _arch_error(info, model_name, Message("compare.size_differs", {
                "name": name, "what": Message(what), "got": got, "want": want}))


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
            detail = lines[1][:300] if len(lines) > 1 else lines[0][:300] if lines else Message("compare.shapes_differ")
            raise _arch_error(info, model_name, detail) from None
        if "not found in the base model" in text or "Target module" in text:
            raise _arch_error(info, model_name, text.splitlines()[0][:300]) from None
        raise AdapterError("compare.load_failed", path=info.path, model=model_name,
                           detail=text.splitlines()[0][:300] if text else type(e).__name__) from None


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
    from .models import load_model
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

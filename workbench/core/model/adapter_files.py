"""Adapter folders: read and check them (no model needed), and check that one fits a model.

A PEFT adapter is a folder with ``adapter_config.json`` (its ``peft_type`` says the method) and the weights
(``adapter_model.safetensors``, or a legacy pickled ``adapter_model.bin``). Generation, the run store and the
analysis read adapters through here; ``core.export.sharing`` zips, imports, merges and pushes them.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from workbench.errors import WorkbenchError
from workbench.messages import Message
from workbench.spec import methods

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
LEGACY_WEIGHTS_FILE = "adapter_model.bin"
README_FILE = "README.md"
STANDARD_FILES = (CONFIG_FILE, WEIGHTS_FILE, README_FILE)


class AdapterError(WorkbenchError):
    """An adapter folder/upload is missing, malformed, unsafe, or does not fit the selected model."""


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
        if (d / "config.json").is_file():  # a full fine-tuning run's folder: a whole transformers model
            raise AdapterError("compare.whole_model", path=str(adapter_dir))
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


def adapter_mb(adapter_dir: str | os.PathLike) -> float:
    """Size of an adapter folder's saved files in MB (1e6 bytes): the weights, the config and whatever else PEFT
    saved (subfolders included). The model card (README.md at the top) is left out: it is documentation, and it
    is rewritten when the run is scored, so the number would change after the run."""
    d = Path(adapter_dir)
    total = sum(p.stat().st_size for p in d.rglob("*")
                if p.is_file() and not (p.parent == d and p.name == README_FILE))
    return round(total / 1e6, 6)


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
        if hidden and token_dim and int(token_dim) != hidden and info.peft_type not in methods.kv_prefix_peft_types():
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
        from workbench.core.model.loading import MODEL_CACHE
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

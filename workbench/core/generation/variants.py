"""Variant models: the base model and its adapters side by side, on ONE base model, and the process-wide cache.

A ``VariantModel`` holds a private copy of the base with every adapter loaded by name
(``PeftModel.from_pretrained`` for the first, ``load_adapter`` for the rest). A variant is ``"base"`` or an
adapter folder. The base answer is always produced under ``peft_model.disable_adapter()`` by the underlying
transformers model (PEFT's own ``generate`` would still prepend prompt-tuning tokens there), each adapter's
answer after ``set_adapter(name)``. A lock per VariantModel keeps concurrent users from interleaving
``set_adapter`` calls.

PEFT refuses to combine adapters of different PEFT types (e.g. LoRA and prompt tuning) in one model, and
injecting methods rewrite the base's layers in place. So adapters are grouped by PEFT type: each group gets
its own copy of the base (one copy in the common case of LoRA/DoRA adapters only). The private copy is loaded
with ``loading.load_model``, never taken from ``MODEL_CACHE``, because PEFT mutates it.

Answers: ``answers`` generates for one variant directly (``batching.run_batch``: left padding, per-row stop);
several variants in one batch and requests of many users go through ``scheduler``, which decodes greedy batches
continuously (``decoding``). The models of a VariantModel get ``batched_linear``'s layers for batched decoding steps on
a CPU and ``mixed_lora``'s mixed-adapter LoRA layers; adapters are switched on and off only when the next call needs
another state (``VariantModel._switch``).
"""
from __future__ import annotations

import contextlib
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.core.env import env_int
from workbench.core.kernels import batched_linear as fast_linear
from workbench.core.kernels import mixed_lora as fast_mixed
from workbench.core.generation.batching import BASE
from workbench.core.model.adapter_files import AdapterInfo, check_compatible, read_adapter, rephrase_load_errors

MAX_VARIANT_MODELS = env_int("WORKBENCH_MAX_VARIANT_MODELS", 2, lo=1)
"""How many VariantModels stay loaded (least recently used goes first); env WORKBENCH_MAX_VARIANT_MODELS."""


@dataclass
class _Group:
    """One base copy wrapped by a PeftModel holding adapters of one PEFT type."""
    peft_type: str
    model: object  # peft.PeftModel
    names: list[str] = field(default_factory=list)
    state: tuple | None = None
    """(adapter layers on?, active adapter) as ``VariantModel._switch`` last left them; None: unknown."""

    @property
    def is_prompt_learning(self) -> bool:
        return bool(getattr(self.model.active_peft_config, "is_prompt_learning", False))


def _adapter_name(index: int, adapter_dir: str) -> str:
    """A stable short PEFT adapter name for a folder (run folders end in 'adapter', so add the parent)."""
    p = Path(adapter_dir)
    stem = f"{p.parent.name}_{p.name}" if p.name in ("adapter", "final", "") else p.name
    return f"a{index}_" + (re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_")[:40] or "adapter")


def _set_adapter(model, name: str) -> None:
    """Make ``name`` the active adapter, frozen (AdaptionPrompt has no ``inference_mode``: its model is in eval mode and
    no gradient is taken here anyway)."""
    try:
        model.set_adapter(name, inference_mode=True)
    except (TypeError, ValueError):
        model.set_adapter(name)


def _saved_with_default_name(info: AdapterInfo) -> bool:
    """True when PEFT wrote its adapter name into the saved weight names (LN tuning of whole blocks, last_layers:
    ``ln_tuning_layers.default.mlp...``); PEFT then loads the weights only under the name ``default`` (under another
    name they are silently left at the base's values)."""
    from safetensors import safe_open
    path = Path(info.path) / "adapter_model.safetensors"
    if not path.is_file():
        return False
    with safe_open(str(path), framework="pt") as f:
        return any(".default." in k for k in f.keys())


class VariantModel:
    """One base model plus N adapters, addressed by variant ("base" or the adapter folder as given)."""

    def __init__(self, model_name: str, adapter_dirs: list[str] | tuple[str, ...] = (), progress=None):
        from workbench.core.model.loading import MODEL_CACHE, load_model
        self.model_name = model_name
        self.adapter_dirs: list[str] = list(dict.fromkeys(str(d) for d in adapter_dirs))
        self.lock = threading.RLock()
        self.groups: list[_Group] = []
        self._slots: dict[str, tuple[_Group, str]] = {}
        infos = [read_adapter(d) for d in self.adapter_dirs]
        if not infos:  # nothing will mutate it: share the process-wide read-only copy
            self._plain, self.tokenizer = MODEL_CACHE.get(model_name, progress=progress)
        else:
            self._plain = None
            self.tokenizer = None
            for i, (label, info) in enumerate(zip(self.adapter_dirs, infos)):
                if progress:
                    progress(0.1 + 0.8 * i / len(infos), f"Loading adapter {label}...")
                self._add(label, info, _adapter_name(i, label), load_model)
        for model in self.base_models():  # batched decoding steps on a CPU (one-row decoding is unchanged)
            fast_linear.install(model)
        for group in self.groups:  # mixed-adapter LoRA batches in two matmuls per layer
            fast_mixed.install(group.model)

    def _new_group(self, label: str, info: AdapterInfo, name: str, load_model) -> None:
        from peft import PeftModel
        base, tok = load_model(self.model_name)
        if self.tokenizer is None:
            self.tokenizer = tok
        check_compatible(info, base, self.model_name)
        with rephrase_load_errors(info, self.model_name):
            pm = PeftModel.from_pretrained(base, info.path, adapter_name=name)
        pm.eval()
        group = _Group(info.peft_type, pm, [name])
        self.groups.append(group)
        self._slots[label] = (group, name)

    def _add(self, label: str, info: AdapterInfo, name: str, load_model) -> None:
        if _saved_with_default_name(info):  # PEFT loads it only as "default": its own base copy
            return self._new_group(label, info, "default", load_model)
        group = next((g for g in self.groups if g.peft_type == info.peft_type and "default" not in g.names), None)
        if group is None:
            return self._new_group(label, info, name, load_model)
        check_compatible(info, group.model.get_base_model(), self.model_name)
        try:
            with rephrase_load_errors(info, self.model_name):
                group.model.load_adapter(info.path, adapter_name=name)
        except WorkbenchError as e:
            if "different architecture" in str(e):
                raise
            with contextlib.suppress(Exception):  # PEFT would not host it beside the others: own copy
                group.model.delete_adapter(name)
            return self._new_group(label, info, name, load_model)
        group.model.eval()
        group.names.append(name)
        self._slots[label] = (group, name)

    # ------------------------------------------------------------------ addressing

    @property
    def variants(self) -> list[str]:
        return [BASE] + self.adapter_dirs

    @property
    def n_base_copies(self) -> int:
        return max(1, len(self.groups))

    def base_models(self) -> list:
        """The underlying transformers model(s) (one per group)."""
        return [self._plain] if self._plain is not None else [g.model.get_base_model() for g in self.groups]

    @property
    def device(self):
        return next(self.base_models()[0].parameters()).device

    def _slot(self, variant: str) -> tuple[_Group, str]:
        if variant in self._slots:
            return self._slots[variant]
        for group, name in self._slots.values():  # also accept the short adapter name
            if name == variant:
                return group, name
        raise WorkbenchError("compare.unknown_variant", variant=variant, choices=", ".join(self.variants))

    @contextlib.contextmanager
    def activate(self, variant: str):
        """Hold the lock and yield the model to call for ``variant`` (base: adapters disabled)."""
        with self.lock:
            if variant == BASE:
                if self._plain is not None:
                    yield self._plain
                    return
                group = self.groups[0]
                if not group.is_prompt_learning:  # layers injected into the base: switch them off
                    self._switch(group, on=False)
                yield group.model.get_base_model()  # (prompt learning: the bare base, no virtual tokens)
                return
            group, name = self._slot(variant)
            if group.is_prompt_learning:
                _set_adapter(group.model, name)
            else:
                self._switch(group, on=True, name=name)
            yield group.model

    @contextlib.contextmanager
    def mixed(self, group: _Group):
        """Hold the lock and yield ``group``'s PeftModel with its adapter layers on, for per-row ``adapter_names``."""
        with self.lock:
            self._switch(group, on=True)
            yield group.model

    def _switch(self, group: _Group, on: bool, name: str | None = None) -> None:
        """Turn ``group``'s adapter layers on (with ``name`` active, if given) or off, only where they are not so
        already. PEFT's ``disable_adapter()`` context does this and back for every call, and computes the model's
        adapter status each time: 33 ms per decoding step on the embedded model, about a third of the step."""
        state = group.state or (None, None)
        if state[0] == on and (name is None or state[1] == name):
            return
        tuner = group.model.base_model
        if not on:
            tuner.disable_adapter_layers()
            group.state = (False, state[1])
            return
        if state[0] is False:  # switched off by us (a fresh load is on; AdaptionPrompt fails to turn on twice)
            tuner.enable_adapter_layers()
        if name is not None and state[1] != name:
            _set_adapter(group.model, name)
            state = (True, name)
        group.state = (True, state[1])

    # ------------------------------------------------------------------ prompts

    def render(self, prompt: str, use_chat_template: bool = True) -> str:
        """The text given to the model: chat template (user turn + generation prompt) when it has one."""
        tok = self.tokenizer
        if use_chat_template and getattr(tok, "chat_template", None):
            return tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                           add_generation_prompt=True)
        return prompt

    def encode(self, texts: list[str], use_chat_template: bool = True):
        """Tokenize rendered texts (left padding) on the model's device. The template already has its special tokens."""
        with_special = not (use_chat_template and getattr(self.tokenizer, "chat_template", None))
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, padding_side="left",
                             add_special_tokens=with_special)
        return {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}

    def encode_ids(self, text: str, use_chat_template: bool = True) -> list[int]:
        """The token ids of one rendered text (no padding), as ``encode`` would give them."""
        with_special = not (use_chat_template and getattr(self.tokenizer, "chat_template", None))
        return list(self.tokenizer(text, add_special_tokens=with_special)["input_ids"])


# --------------------------------------------------------------------------- process-wide cache

_CACHE: "OrderedDict[tuple, VariantModel]" = OrderedDict()
_CACHE_LOCK = threading.Lock()
_KEY_LOCKS: dict[tuple, threading.Lock] = {}
_USERS: dict[tuple, set[str]] = {}
"""Which users (web sessions' owner ids) asked for each cached VariantModel; see release_user."""


def _cache_key(model_name: str, adapter_dirs) -> tuple:
    parts = []
    for d in adapter_dirs:
        info = read_adapter(d)
        parts.append((str(d), os.path.abspath(d), os.stat(info.weights_file).st_mtime_ns))  # retrained -> reload
    return (model_name, tuple(parts))


def get_variants(model_name: str, adapter_dirs=(), progress=None, user: str | None = None) -> VariantModel:
    """The cached VariantModel for (model, adapters); loads it (once, even with concurrent callers) if needed.

    ``user`` (a web session's owner id) is remembered so that ``release_user`` can free the adapters' base
    copies when the last session that used them leaves.
    """
    adapter_dirs = list(dict.fromkeys(str(d) for d in (adapter_dirs or [])))
    key = _cache_key(model_name, adapter_dirs)
    with _CACHE_LOCK:
        key_lock = _KEY_LOCKS.setdefault(key, threading.Lock())
        if user:
            _USERS.setdefault(key, set()).add(user)
    with key_lock:
        with _CACHE_LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
                return _CACHE[key]
        vm = VariantModel(model_name, adapter_dirs, progress=progress)
        with _CACHE_LOCK:
            _CACHE[key] = vm
            while len(_CACHE) > MAX_VARIANT_MODELS:
                old, _ = _CACHE.popitem(last=False)
                _USERS.pop(old, None)
        return vm


def release_user(user: str) -> int:
    """A session left: forget ``user``; drop every cached VariantModel with adapters that no other user
    asked for (their private base copies are freed once no call still holds them). Returns how many went.

    The base-only VariantModel shares the process-wide model and is left alone. Only a cache: a later call
    loads again what it needs.
    """
    dropped = 0
    with _CACHE_LOCK:
        for key in list(_USERS):
            users = _USERS[key]
            users.discard(user)
            if users:
                continue
            del _USERS[key]
            if key[1] and _CACHE.pop(key, None) is not None:
                _KEY_LOCKS.pop(key, None)
                dropped += 1
    if dropped:
        import gc
        gc.collect()
    return dropped


def cached_variant_keys() -> list[tuple]:
    """The keys of the loaded VariantModels, oldest first (for tests and the status line)."""
    with _CACHE_LOCK:
        return list(_CACHE)


def clear_variants() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()
        _KEY_LOCKS.clear()
        _USERS.clear()

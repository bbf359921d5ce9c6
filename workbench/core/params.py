"""Exact trainable-parameter counts for every PEFT method, without building the PEFT model (memory estimates:
``workbench.core.memory``).

The counts are analytic (shapes only) yet equal ``PeftModel.get_nb_trainable_parameters()``;
``count_with_peft`` builds the real PEFT model on the ``meta`` device and is the truth tests compare to.

Per method (V = virtual tokens, d = hidden size, L = layers, S = 2 for encoder-decoder models else 1):
- LoRA:    r * (in + out) per wrapped layer (A: r x in, B: out x r); DoRA adds ``out`` per layer
           (the magnitude vector); QLoRA counts like LoRA (PEFT undoes the 4-bit packing).
- prompt:  V * S * d
- p-tuning: V * S * d + encoder (MLP: d->h->h->d; LSTM: 2-layer bidirectional + 2 Linears)
- prefix:  V * L * 2 * t  (t = d, or kv_heads * head_dim with grouped-query attention);
           with projection: V * t + Linear(t, h) + Linear(h, L * 2 * t)
- IA3:     one vector per wrapped layer: ``in`` for feed-forward layers, ``out`` otherwise.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import re
import warnings
from dataclasses import dataclass

import torch.nn as nn

from ..settings import AdapterSpec, SpecError
from . import methods
from .models import is_seq2seq
from .modules import (TargetError, default_feedforward, default_targets, features, match_targets, named_modules,
                      no_match, numel, total_params)


@dataclass
class ParamCount:
    """Trainable and total parameters of one adapter setup (equal to PEFT's own count)."""
    method: str
    rank: int | None
    """LoRA rank; None for methods without one."""
    trainable: int
    total: int
    """All parameters of the PEFT model: base (tied weights once) + adapter + modules_to_save copies."""
    percent: float
    adapter_bytes_fp32: int
    """Size of the trainable weights saved in float32 (4 bytes each)."""
    adapter_bytes_bf16: int
    """Size of the trainable weights saved in bfloat16 (2 bytes each)."""
    layers: int | None
    """Wrapped layers (LoRA, IA3), transformer layers given a prefix (prefix tuning), else None."""


@dataclass
class _Plan:
    """Everything a count needs, worked out once per (model, spec): a sweep over ranks is then free.

    trainable(r) = r * rank_sum + fixed_trainable;  total(r) = base_total + r * rank_sum + added
    """
    method: str
    has_rank: bool
    base_total: int
    rank_sum: int  # sum of (in + out) over wrapped layers
    fixed_trainable: int  # DoRA magnitudes, trained biases, modules_to_save copies, prompt encoders, IA3 vectors
    added: int  # new parameters that are not LoRA A/B (DoRA magnitudes, copies, encoders, vectors)
    layers: int | None

    def at(self, r: int | None) -> ParamCount:
        lora = r * self.rank_sum if self.has_rank else 0
        trainable = lora + self.fixed_trainable
        total = self.base_total + lora + self.added
        return ParamCount(method=self.method, rank=r if self.has_rank else None, trainable=trainable, total=total,
                          percent=100.0 * trainable / total if total else 0.0,
                          adapter_bytes_fp32=4 * trainable, adapter_bytes_bf16=2 * trainable, layers=self.layers)


# --------------------------------------------------------------------------- config numbers (as PEFT reads them)

def _config_dict(config) -> dict:
    d = config.to_dict()
    return d.get("text_config") or d


def _token_dim(config) -> int:
    d = _config_dict(config)
    for key in ("hidden_size", "n_embd", "d_model"):
        if d.get(key):
            return int(d[key])
    raise SpecError("model", "settings.no_hidden_size")


def _num_layers(config) -> int:
    n = getattr(config, "num_hidden_layers", None)
    d = _config_dict(config)
    n = n or d.get("num_hidden_layers") or d.get("num_layers") or d.get("n_layer")
    if not n:
        raise SpecError("model", "settings.no_num_layers")
    return int(n)


def _num_heads(config) -> int:
    d = _config_dict(config)
    for key in ("num_attention_heads", "n_head", "num_heads", "encoder_attention_heads"):
        if d.get(key):
            return int(d[key])
    raise SpecError("model", "settings.no_num_heads")


def _prefix_token_dim(config) -> int:
    """Width of one layer's key (or value) prefix: d, or kv_heads * head_dim with grouped-query attention."""
    d = _config_dict(config)
    token_dim = _token_dim(config)
    if d.get("num_key_value_heads"):
        head_dim = d.get("head_dim") or token_dim // _num_heads(config)
        return int(head_dim) * int(d["num_key_value_heads"])
    return token_dim


# --------------------------------------------------------------------------- plans per method

def _module_to_save_names(model: nn.Module, names: list[str], named: list) -> list[str]:
    """Modules PEFT copies for ``modules_to_save`` (full name ends with an entry; outermost only)."""
    found: list[str] = []
    for n, _ in named:
        if any(n.endswith(m) for m in names) and not any(n.startswith(f + ".") for f in found):
            found.append(n)
    for m in names:
        if not any(n.endswith(m) for n in found):
            raise no_match(m, model, what="modules_to_save entry")
    return found


def _lora_plan(model: nn.Module, spec: AdapterSpec, named: list, base_total: int) -> _Plan:
    mts = list(spec.modules_to_save or [])
    saved = _module_to_save_names(model, mts, named) if mts else []
    modules = dict(named)
    targets = match_targets(model, spec.target_modules, spec.method, modules_to_save=mts, named=named)
    rank_sum = dora = lora_only_bias = 0
    for name in targets:
        m = modules[name]
        n_in, n_out = features(m)
        rank_sum += n_in + n_out  # A: (r, in), B: (out, r)
        if spec.use_dora:
            dora += n_out  # magnitude vector, one value per output feature
        if spec.bias == "lora_only" and m._parameters.get("bias") is not None:
            lora_only_bias += numel(m._parameters["bias"])
    copies = sum(sum(numel(p) for p in modules[n].parameters()) for n in saved)  # fresh trainable copies
    if spec.bias == "all":  # every '.bias' of the model, except the frozen originals of saved modules
        bias = sum(numel(p) for n, p in model.named_parameters()
                   if (n == "bias" or n.endswith(".bias")) and not any(n.startswith(s + ".") for s in saved))
    else:
        bias = lora_only_bias if spec.bias == "lora_only" else 0
    return _Plan(spec.method, True, base_total, rank_sum, dora + bias + copies, dora + copies, len(targets))


def _ia3_plan(model: nn.Module, spec: AdapterSpec, named: list, base_total: int) -> _Plan:
    if spec.target_modules is None:  # PEFT's defaults come as a pair
        targets, ff = default_targets(model, spec.method), default_feedforward(model)
    else:
        targets, ff = spec.target_modules, spec.feedforward_modules if spec.feedforward_modules is not None else []
        if isinstance(targets, list) and isinstance(ff, list) and not set(ff) <= set(targets):
            raise SpecError("adapter.feedforward_modules", "settings.ff_subset", value=ff)
    modules = dict(named)
    names = match_targets(model, targets, spec.method, named=named)
    vectors = 0
    for name in names:
        n_in, n_out = features(modules[name])
        if isinstance(ff, str):
            is_ff = re.fullmatch(ff, name) is not None
        else:
            is_ff = any(name.endswith(t) for t in ff)  # PEFT: a plain endswith here (no dot)
        vectors += n_in if is_ff else n_out
    return _Plan(spec.method, False, base_total, 0, vectors, vectors, len(names))


def _virtual_tokens(spec: AdapterSpec, config) -> tuple[int, int, int]:
    """(V, S, d): virtual tokens, token sets (2 for encoder-decoder models) and token width."""
    return spec.num_virtual_tokens, (2 if is_seq2seq(config) else 1), _token_dim(config)


def _prompt_tuning_plan(model: nn.Module, spec: AdapterSpec, named: list, base_total: int) -> _Plan:
    V, S, d = _virtual_tokens(spec, model.config)
    n = V * S * d  # Embedding(V * S, d)
    return _Plan(spec.method, False, base_total, 0, n, n, None)


def _p_tuning_plan(model: nn.Module, spec: AdapterSpec, named: list, base_total: int) -> _Plan:
    V, S, d = _virtual_tokens(spec, model.config)
    h = spec.encoder_hidden_size or d
    n = V * S * d  # the virtual-token embedding
    if spec.encoder_reparameterization_type == "MLP":
        n += (d * h + h) + (h * h + h) + (h * d + d)  # Linear(d,h) ReLU Linear(h,h) ReLU Linear(h,d)
    else:  # bidirectional LSTM, 2 layers (PEFT's default), then Linear(2h,2h) ReLU Linear(2h,d)
        from peft import PromptEncoderConfig
        n_layers = PromptEncoderConfig.encoder_num_layers
        for i in range(n_layers):
            n_in = d if i == 0 else 2 * h
            n += 2 * (4 * h * (n_in + h) + 8 * h)  # 2 directions x 4 gates (W_ih, W_hh, two biases)
        n += (2 * h * 2 * h + 2 * h) + (2 * h * d + d)
    return _Plan(spec.method, False, base_total, 0, n, n, None)


def _prefix_tuning_plan(model: nn.Module, spec: AdapterSpec, named: list, base_total: int) -> _Plan:
    """A key and a value prefix for every layer."""
    config = model.config
    V, _S, d = _virtual_tokens(spec, config)
    L, t = _num_layers(config), _prefix_token_dim(config)
    if spec.prefix_projection:
        h = spec.prefix_hidden_size or d
        n = V * t + (t * h + h) + (h * L * 2 * t + L * 2 * t)  # Embedding, Linear, Tanh, Linear
    else:
        n = V * L * 2 * t  # Embedding(V, L * 2 * t)
    return _Plan(spec.method, False, base_total, 0, n, n, L)


def _plan(model: nn.Module, spec: AdapterSpec) -> _Plan:
    """The counting plan of ``spec``'s method (its registry record names it)."""
    named = named_modules(model)  # the one walk over the module tree
    base_total = total_params(model, named)
    return methods.get(spec.method).counting_plan(model, spec, named, base_total)


# --------------------------------------------------------------------------- public API

def count(model: nn.Module, spec: AdapterSpec) -> ParamCount:
    """Exact trainable / total parameters of ``spec`` on ``model`` (meta or real), without building PEFT."""
    return _plan(model, spec).at(spec.r)


def sweep(model: nn.Module, spec: AdapterSpec, ranks: list[int]) -> list[ParamCount]:
    """Counts for several LoRA ranks at the cost of about one count (layer shapes are summed once).

    Methods without a rank (prompt / prefix / p-tuning / IA3) return a single row.
    """
    if not ranks or not all(isinstance(r, int) and not isinstance(r, bool) and 1 <= r <= 4096 for r in ranks):
        raise SpecError("ranks", "settings.int_list", range="1..4096", value=ranks)
    plan = _plan(model, spec)
    if not plan.has_rank:
        return [plan.at(None)]
    return [plan.at(r) for r in ranks]


def count_with_peft(model_config_or_meta_model, spec: AdapterSpec) -> tuple[int, int]:
    """Ground truth: (trainable, total) from ``get_peft_model(...).get_nb_trainable_parameters()``.

    Given a config, the model is built on ``meta``; given a model, PEFT runs on a fresh copy (a meta
    model is rebuilt from its config when that gives the same class, which is faster than deepcopy).
    On meta, PEFT runs under ``torch.device("meta")`` so its new layers skip random init.
    Init options that need data or a tokenizer (PiSSA, text init) are swapped for ones that do not:
    they never change the count.
    """
    import peft
    import torch
    from transformers import PretrainedConfig
    from .models import build_meta_model
    from .peft_config import build_peft_config
    spec = dataclasses.replace(spec, init_lora_weights=True, prompt_tuning_init="random", prompt_tuning_init_text=None)
    src = model_config_or_meta_model
    if isinstance(src, PretrainedConfig):
        model = build_meta_model(src)
    else:
        model = None
        if all(p.is_meta for p in src.parameters()):
            fresh = build_meta_model(src.config)
            model = fresh if type(fresh) is type(src) else None
        model = model if model is not None else copy.deepcopy(src)
    on_meta = all(p.is_meta for p in model.parameters())
    with warnings.catch_warnings(), (torch.device("meta") if on_meta else contextlib.nullcontext()):
        warnings.simplefilter("ignore")
        # on meta, the new adapter layers are made on meta too (no random init): same count, ~8x faster
        pm = peft.get_peft_model(model, build_peft_config(spec, model.config))
    return pm.get_nb_trainable_parameters()


__all__ = ["ParamCount", "count", "sweep", "count_with_peft", "TargetError"]

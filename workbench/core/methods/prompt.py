"""The prompt-learning family: prompt_tuning, p_tuning, prefix_tuning. Learned virtual tokens, no wrapped layers.

Counting (V = virtual tokens, d = hidden size, L = layers, S = 2 for encoder-decoder models else 1):
- prompt tuning:  V * S * d
- P-tuning:       V * S * d + encoder (MLP: d->h->h->d; LSTM: 2-layer bidirectional + 2 Linears)
- prefix tuning:  V * L * 2 * t  (t = d, or kv_heads * head_dim with grouped-query attention);
                  with projection: V * t + Linear(t, h) + Linear(h, L * 2 * t)
Light at import: torch, peft and the model helpers are imported when a function runs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.errors import SpecError
from workbench.core.methods.peft_counted import register as _register_counted
from workbench.spec import methods
from workbench.spec.methods import Option

if TYPE_CHECKING:
    import torch.nn as nn

    from workbench.core.model.counting import CountPlan
    from workbench.spec.settings import AdapterSpec


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


def _hidden(config) -> int:
    for a in ("hidden_size", "d_model", "n_embd"):
        v = getattr(config, a, None)
        if v:
            return int(v)
    raise SpecError("model", "settings.no_hidden_size_short")


# --------------------------------------------------------------------------- PEFT configs

def prompt_tuning_kwargs(spec: AdapterSpec, config, task_type: str) -> dict[str, Any]:
    kw: dict[str, Any] = dict(task_type=task_type, num_virtual_tokens=spec.num_virtual_tokens,
                              prompt_tuning_init="TEXT" if spec.prompt_tuning_init == "text" else "RANDOM")
    if spec.prompt_tuning_init == "text":
        kw["prompt_tuning_init_text"] = spec.prompt_tuning_init_text
        kw["tokenizer_name_or_path"] = getattr(config, "_name_or_path", None) or getattr(config, "name_or_path", None)
    return kw


def p_tuning_kwargs(spec: AdapterSpec, config, task_type: str) -> dict[str, Any]:
    return dict(task_type=task_type, num_virtual_tokens=spec.num_virtual_tokens,
                encoder_reparameterization_type=spec.encoder_reparameterization_type,
                encoder_hidden_size=spec.encoder_hidden_size or _hidden(config))


def prefix_tuning_kwargs(spec: AdapterSpec, config, task_type: str) -> dict[str, Any]:
    kw: dict[str, Any] = dict(task_type=task_type, num_virtual_tokens=spec.num_virtual_tokens,
                              prefix_projection=spec.prefix_projection)
    if spec.prefix_projection:
        kw["encoder_hidden_size"] = spec.prefix_hidden_size or _hidden(config)
    return kw


# --------------------------------------------------------------------------- counting plans

def _virtual_tokens(spec: AdapterSpec, config) -> tuple[int, int, int]:
    """(V, S, d): virtual tokens, token sets (2 for encoder-decoder models) and token width."""
    from workbench.core.model.loading import is_seq2seq
    return spec.num_virtual_tokens, (2 if is_seq2seq(config) else 1), _token_dim(config)


def prompt_tuning_plan(model: nn.Module, spec: AdapterSpec, named: list, base_total: int) -> CountPlan:
    from workbench.core.model.counting import CountPlan
    V, S, d = _virtual_tokens(spec, model.config)
    n = V * S * d  # Embedding(V * S, d)
    return CountPlan(spec.method, False, base_total, 0, n, n, None)


def p_tuning_plan(model: nn.Module, spec: AdapterSpec, named: list, base_total: int) -> CountPlan:
    from workbench.core.model.counting import CountPlan
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
    return CountPlan(spec.method, False, base_total, 0, n, n, None)


def prefix_tuning_plan(model: nn.Module, spec: AdapterSpec, named: list, base_total: int) -> CountPlan:
    """A key and a value prefix for every layer."""
    from workbench.core.model.counting import CountPlan
    config = model.config
    V, _S, d = _virtual_tokens(spec, config)
    L, t = _num_layers(config), _prefix_token_dim(config)
    if spec.prefix_projection:
        h = spec.prefix_hidden_size or d
        n = V * t + (t * h + h) + (h * L * 2 * t + L * 2 * t)  # Embedding, Linear, Tanh, Linear
    else:
        n = V * L * 2 * t  # Embedding(V, L * 2 * t)
    return CountPlan(spec.method, False, base_total, 0, n, n, L)


# --------------------------------------------------------------------------- settings check, model card

def check_prompt_tuning(spec: AdapterSpec) -> None:
    """Text init needs the text whose token embeddings start the prompt."""
    if spec.prompt_tuning_init == "text" and not spec.prompt_tuning_init_text:
        raise SpecError("adapter.prompt_tuning_init_text", "settings.prompt_init_text_required")


def card_rows(a: AdapterSpec) -> list[tuple[str, Any]]:
    return [("num_virtual_tokens", a.num_virtual_tokens)]


# --------------------------------------------------------------------------- the records

_COMMON: dict[str, Any] = dict(family="prompt", group="additive", form_groups=("prompt",),
                               budget_knob="num_virtual_tokens", is_prompt_learning=True, card_rows=card_rows)

methods.register(methods.Method(
    name="prompt_tuning", peft_config="PromptTuningConfig", peft_type="PROMPT_TUNING",
    config_kwargs=prompt_tuning_kwargs, plan=prompt_tuning_plan,
    knobs=("num_virtual_tokens", "prompt_tuning_init", "prompt_tuning_init_text"), help_id="help.method.prompt_tuning",
    about_id="methods.about.prompt_tuning", paper="Lester et al. 2021",
    check=check_prompt_tuning, chart_refs=(("charts.ref.prompt_tuning", ()),), **_COMMON))
methods.register(methods.Method(
    name="p_tuning", peft_config="PromptEncoderConfig", peft_type="P_TUNING",
    config_kwargs=p_tuning_kwargs, plan=p_tuning_plan,
    knobs=("num_virtual_tokens", "encoder_reparameterization_type", "encoder_hidden_size"),
    help_id="help.method.p_tuning", about_id="methods.about.p_tuning", paper="Liu et al. 2021", more_budget_knobs=("encoder_hidden_size",),
    chart_refs=(("charts.ref.p_tuning", ()),), **_COMMON))
methods.register(methods.Method(
    name="prefix_tuning", peft_config="PrefixTuningConfig", peft_type="PREFIX_TUNING",
    config_kwargs=prefix_tuning_kwargs, plan=prefix_tuning_plan,
    knobs=("num_virtual_tokens", "prefix_projection", "prefix_hidden_size"), help_id="help.method.prefix_tuning",
    about_id="methods.about.prefix_tuning", paper="Li & Liang 2021", kv_prefix=True,
    chart_refs=(("charts.ref.prefix_tuning", ()), ("charts.ref.prefix_projection", (("prefix_projection", True),))),
    **_COMMON))

# PEFT counts these two itself (peft_counted): a KV cache trained directly (Cartridges), and LLaMA-Adapter's gated
# prompts in the top layers (adaption prompt).

_register_counted("cartridge", "prompt", "CartridgeConfig", "CARTRIDGE", wraps=False,
                  shared={"num_virtual_tokens": "num_virtual_tokens"}, budget_knob="num_virtual_tokens",
                  is_prompt_learning=True, kv_prefix=True, form_groups=("prompt",), paper="Eyuboglu et al. 2025")
_register_counted("adaption_prompt", "prompt", "AdaptionPromptConfig", "ADAPTION_PROMPT", wraps=False,
                  budget_knob="adapter_len", paper="Zhang et al. 2024 (LLaMA-Adapter)",
                  options=(Option("adapter_len", 10, "learned prompt tokens in each adapted layer", 1, 1024),
                           Option("adapter_layers", 8, "top layers that get them (gated attention)", 1, 1024)))

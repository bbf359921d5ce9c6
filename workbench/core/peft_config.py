"""AdapterSpec -> the real PEFT config object. One place, used by counting, training and 'show code'."""
from __future__ import annotations

from typing import Any

from ..settings import AdapterSpec, SpecError
from . import methods
from .models import is_seq2seq


def task_type_for(config) -> str:
    return "SEQ_2_SEQ_LM" if is_seq2seq(config) else "CAUSAL_LM"


def peft_config_kwargs(spec: AdapterSpec, config) -> tuple[str, dict[str, Any]]:
    """(PEFT config class name, kwargs) for a spec: the data behind both the object and 'show code'.

    The method registry (``methods.py``) says which builder below a method uses."""
    method = methods.get(spec.method)
    return method.peft_config, method.peft_kwargs(spec, config, task_type_for(config))


# --------------------------------------------------------------------------- one builder per kind of PEFT config

def lora_kwargs(spec: AdapterSpec, config, task_type: str) -> dict[str, Any]:
    """LoraConfig (lora, dora, qlora: the 4-bit base is a loading option, not part of the adapter config)."""
    kw: dict[str, Any] = dict(task_type=task_type, r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                              target_modules=spec.target_modules, use_rslora=spec.use_rslora,
                              use_dora=spec.use_dora or spec.method == "dora", bias=spec.bias,
                              init_lora_weights=spec.init_lora_weights)
    if spec.modules_to_save:
        kw["modules_to_save"] = list(spec.modules_to_save)
    return kw


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


def ia3_kwargs(spec: AdapterSpec, config, task_type: str) -> dict[str, Any]:
    kw: dict[str, Any] = dict(task_type=task_type)
    if spec.target_modules is not None:
        kw["target_modules"] = spec.target_modules
        kw["feedforward_modules"] = spec.feedforward_modules if spec.feedforward_modules is not None else []
    return kw


def _hidden(config) -> int:
    for a in ("hidden_size", "d_model", "n_embd"):
        v = getattr(config, a, None)
        if v:
            return int(v)
    raise SpecError("model", "settings.no_hidden_size_short")


def build_peft_config(spec: AdapterSpec, config, tokenizer_name_or_path: str | None = None):
    """The PEFT config object for ``spec`` on a model with transformers config ``config``."""
    import peft
    cls_name, kw = peft_config_kwargs(spec, config)
    if tokenizer_name_or_path and "tokenizer_name_or_path" in kw:
        kw["tokenizer_name_or_path"] = tokenizer_name_or_path
    return getattr(peft, cls_name)(**kw)

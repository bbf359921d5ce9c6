"""The LoRA family: lora, dora, qlora. A rank-r update B @ A of each wrapped layer (Linear, Conv1D, Embedding).

Counting: r * (in + out) per wrapped layer (A: r x in, B: out x r); DoRA adds ``out`` per layer (the magnitude
vector); QLoRA counts like LoRA (PEFT undoes the 4-bit packing); plus trained biases and ``modules_to_save`` copies.
Light at import: torch and the model helpers are imported when a function runs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.spec import methods

if TYPE_CHECKING:
    import torch.nn as nn

    from workbench.core.model.counting import CountPlan
    from workbench.spec.settings import AdapterSpec

KNOBS = ("r", "alpha", "dropout", "target_modules", "use_rslora", "init_lora_weights", "bias", "modules_to_save")
QUANT_KNOBS = ("bnb_4bit_quant_type", "bnb_4bit_use_double_quant", "bnb_4bit_compute_dtype")
TARGET_TABLE = "TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING"


# --------------------------------------------------------------------------- PEFT config

def lora_kwargs(spec: AdapterSpec, config, task_type: str) -> dict[str, Any]:
    """LoraConfig (lora, dora, qlora: the 4-bit base is a loading option, not part of the adapter config)."""
    kw: dict[str, Any] = dict(task_type=task_type, r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                              target_modules=spec.target_modules, use_rslora=spec.use_rslora,
                              use_dora=spec.use_dora or spec.method == "dora", bias=spec.bias,
                              init_lora_weights=spec.init_lora_weights)
    if spec.modules_to_save:
        kw["modules_to_save"] = list(spec.modules_to_save)
    return kw


# --------------------------------------------------------------------------- counting plan

def _module_to_save_names(model: nn.Module, names: list[str], named: list) -> list[str]:
    """Modules PEFT copies for ``modules_to_save`` (full name ends with an entry; outermost only)."""
    from workbench.core.model.modules import no_match
    found: list[str] = []
    for n, _ in named:
        if any(n.endswith(m) for m in names) and not any(n.startswith(f + ".") for f in found):
            found.append(n)
    for m in names:
        if not any(n.endswith(m) for n in found):
            raise no_match(m, model, what="modules_to_save entry")
    return found


def lora_plan(model: nn.Module, spec: AdapterSpec, named: list, base_total: int) -> CountPlan:
    from workbench.core.model.counting import CountPlan
    from workbench.core.model.modules import features, match_targets, numel
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
    return CountPlan(spec.method, True, base_total, rank_sum, dora + bias + copies, dora + copies, len(targets))


# --------------------------------------------------------------------------- memory terms

def activation_bytes(model: nn.Module, spec: AdapterSpec, wrapped: list, act: int) -> int:
    """Bytes per token the LoRA path keeps over the wrapped layers: the dropout output (fp32) and its mask, autocast's
    bf16 copy of it (kept by lora_A), A's output (kept by B); DoRA also keeps the base and LoRA outputs for the
    magnitude scaling."""
    from workbench.core.model.modules import features
    total = 0
    for _name, module in wrapped:
        n_in, n_out = features(module)
        kept = n_in * (4 + (1 if spec.dropout > 0 else 0))  # dropout output (fp32) + its mask (1 B)
        if act == 2:
            kept += 2 * n_in  # autocast's bf16 copy of it, kept by lora_A
        kept += act * spec.r  # A's output, kept by B
        if spec.use_dora or spec.method == "dora":
            kept += 2 * act * n_out  # base and LoRA outputs, kept by the magnitude scaling
        total += kept
    return total


# --------------------------------------------------------------------------- model card

def _compute_dtype(pref: str) -> str:
    from workbench.core.model.precision import pick_compute_dtype
    return pref if pref != "auto" else f"auto ({pick_compute_dtype(pref)} here)"


def card_rows(a: AdapterSpec) -> list[tuple[str, Any]]:
    """The model card's LoRA rows (and the 4-bit base's, for a quantized method)."""
    rows: list[tuple[str, Any]] = [
        ("rank r", a.r), ("lora_alpha", a.alpha), ("lora_dropout", a.dropout),
        ("target_modules", a.target_modules or "PEFT default"), ("use_rslora", a.use_rslora),
        ("use_dora", a.use_dora or a.method == "dora")]
    if a.is_quantized:
        rows += [("4-bit quant type", a.bnb_4bit_quant_type), ("double quant", a.bnb_4bit_use_double_quant),
                 ("compute dtype", _compute_dtype(a.bnb_4bit_compute_dtype))]
    return rows


# --------------------------------------------------------------------------- the records

_COMMON: dict[str, Any] = dict(family="lora", group="reparameterized", peft_config="LoraConfig", peft_type="LORA",
                               config_kwargs=lora_kwargs, plan=lora_plan, budget_knob="r", target_table=TARGET_TABLE,
                               wraps_embeddings=True, wraps_id="targets.wraps_lora", card_rows=card_rows,
                               card_tags=("lora",), activation_bytes=activation_bytes)

methods.register(methods.Method(name="lora", knobs=KNOBS, form_groups=("lora",), help_id="help.method.lora",
                                about_id="methods.about.lora", **_COMMON))
methods.register(methods.Method(name="dora", knobs=KNOBS + ("use_dora",), form_groups=("lora",),
                                help_id="help.method.dora", about_id="methods.about.dora",
                                fixed_knobs=(("use_dora", True),), **_COMMON))
methods.register(methods.Method(name="qlora", knobs=KNOBS + QUANT_KNOBS, form_groups=("lora", "quantization"),
                                help_id="help.method.qlora", about_id="methods.about.qlora", quantized=True,
                                estimate_label="LoRA", **_COMMON))

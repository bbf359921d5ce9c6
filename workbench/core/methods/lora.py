"""The LoRA family: lora, dora, qlora. A rank-r update B @ A of each wrapped layer (Linear, Conv1D, Embedding).

Counting: r * (in + out) per wrapped layer (A: r x in, B: out x r); DoRA adds ``out`` per layer (the magnitude
vector); QLoRA counts like LoRA (PEFT undoes the 4-bit packing); plus trained biases and ``modules_to_save`` copies.
``layers_to_transform`` keeps the wrapped layers of the listed decoder layers only (PEFT's rule, ``in_layers``).

Inits (``init_lora_weights``): true (Kaiming A, zero B), gaussian, pissa / pissa_niter_N and olora (they move the top
of each weight into the adapter: the run keeps its initial adapter and saves the trained one as a plain LoRA of the
unchanged base), loftq (QLoRA only: ``replace_lora_weights_loftq`` on the 4-bit model, from the checkpoint's
full-precision weights; PEFT computes it on a CUDA GPU). LoRA+ (``loraplus_lr_ratio``): PEFT's
``create_loraplus_optimizer``, lora_B learns ``ratio`` times faster than lora_A.
Light at import: torch and the model helpers are imported when a function runs.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from workbench.errors import SpecError, WorkbenchError
from workbench.messages import Message
from workbench.spec import methods

if TYPE_CHECKING:
    import torch.nn as nn

    from workbench.core.model.counting import CountPlan
    from workbench.spec.settings import AdapterSpec

KNOBS = ("r", "alpha", "dropout", "target_modules", "use_rslora", "init_lora_weights", "bias", "modules_to_save")
QUANT_KNOBS = ("bnb_4bit_quant_type", "bnb_4bit_use_double_quant", "bnb_4bit_compute_dtype")
TARGET_TABLE = "TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING"
INIT_CHOICES = ("true", "gaussian", "pissa", "pissa_niter_N", "olora", "loftq")
"""The ``init_lora_weights`` values a run may use (N: a number of subspace iterations, PiSSA's fast SVD)."""
_PISSA_NITER = re.compile(r"pissa_niter_\d+")
_LAYER_INDEX = re.compile(r".*?\.[^.]*\.(?P<idx>\d+)\.")
"""PEFT's layer index of a module name when no ``layers_pattern`` is given (tuners_utils.check_target_module_exists):
the first number that follows two name parts (``model.layers.28.self_attn.q_proj`` -> 28)."""


# --------------------------------------------------------------------------- settings

def moves_base_weights(init: Any) -> bool:
    """PiSSA and OLoRA move part of each wrapped weight into the adapter at init (the base is modified)."""
    return isinstance(init, str) and (init == "olora" or init == "pissa" or bool(_PISSA_NITER.fullmatch(init)))


def _is_index(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check(a: AdapterSpec) -> None:
    """The LoRA family's own rules: a known init (loftq on a 4-bit base only; PiSSA / OLoRA only where the trained
    adapter converts to a plain LoRA), a numeric LoRA+ ratio, layer indices for layers_to_transform."""
    init = a.init_lora_weights
    record = methods.get(a.method)
    if not (init is True or (isinstance(init, str) and (init in ("gaussian", "loftq") or moves_base_weights(init)))):
        raise SpecError("adapter.init_lora_weights", "methods.lora_init", choices=", ".join(INIT_CHOICES), value=init)
    if init == "loftq" and not record.quantized:
        raise SpecError("adapter.init_lora_weights", "methods.loftq_needs_4bit", method=a.method)
    if moves_base_weights(init):
        dora = a.use_dora or dict(record.fixed_knobs).get("use_dora", False)
        what = (Message("methods.lora_init_with.quantized") if record.quantized else
                Message("methods.lora_init_with.dora") if dora else
                Message("methods.lora_init_with.modules_to_save") if a.modules_to_save else
                Message("methods.lora_init_with.bias", {"bias": a.bias}) if a.bias != "none" else None)
        if what is not None:
            raise SpecError("adapter.init_lora_weights", "methods.lora_init_plain_only", init=init, what=what)
    ratio = a.options.get("loraplus_lr_ratio")
    if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, (int, float))):
        raise SpecError("adapter.options.loraplus_lr_ratio", "settings.option_type", kind="float", value=ratio)
    layers = a.options.get("layers_to_transform")
    if layers is not None:
        if not (_is_index(layers) or (isinstance(layers, list) and layers and all(map(_is_index, layers)))):
            raise SpecError("adapter.options.layers_to_transform", "methods.layers_to_transform", value=layers)
        if isinstance(a.target_modules, str):  # PEFT refuses layers_to_transform with a regex or all-linear
            raise SpecError("adapter.options.layers_to_transform", "methods.layers_need_names",
                            targets=a.target_modules)


def in_layers(name: str, layers: int | list[int] | None, targets: Any) -> bool:
    """PEFT's ``layers_to_transform`` rule for a layer its targets match: kept when its layer index is ``layers``
    (an int) or in it (a list); a full module name listed in ``targets`` is kept whatever its layer."""
    if layers is None or (isinstance(layers, list) and not layers):
        return True
    if isinstance(targets, (list, tuple, set)) and name in targets:
        return True
    m = _LAYER_INDEX.match(name)
    if m is None:
        return False
    idx = int(m.group("idx"))
    return idx == layers if isinstance(layers, int) else idx in layers


# --------------------------------------------------------------------------- PEFT config

def lora_kwargs(spec: AdapterSpec, config, task_type: str) -> dict[str, Any]:
    """LoraConfig (lora, dora, qlora: the 4-bit base is a loading option, not part of the adapter config)."""
    kw: dict[str, Any] = dict(task_type=task_type, r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                              target_modules=spec.target_modules, use_rslora=spec.use_rslora,
                              use_dora=spec.use_dora or spec.method == "dora", bias=spec.bias,
                              # LoftQ is applied to the wrapped 4-bit model (before_training): LoRA's own init here
                              init_lora_weights=True if spec.init_lora_weights == "loftq" else spec.init_lora_weights)
    if spec.modules_to_save:
        kw["modules_to_save"] = list(spec.modules_to_save)
    kw.update({k: v for k, v in spec.peft_options().items() if v is not None})  # layers_to_transform
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
    targets = _wrapped(model, spec, match_targets(model, spec.target_modules, spec.method, modules_to_save=mts,
                                                  named=named))
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


def _wrapped(model: nn.Module, spec: AdapterSpec, matched: list[str]) -> list[str]:
    """The matched layers PEFT wraps once ``layers_to_transform`` has picked its layers (a TargetError when it keeps
    none, naming the layer indices there are)."""
    layers = spec.knob("layers_to_transform")
    if layers is None:
        return matched
    from workbench.core.model.modules import TargetError, default_targets
    targets = spec.target_modules if spec.target_modules is not None else default_targets(model, spec.method)
    kept = [n for n in matched if in_layers(n, layers, targets)]
    if not kept:
        found = sorted({int(m.group("idx")) for n in matched if (m := _LAYER_INDEX.match(n))})
        contiguous = len(found) > 2 and found == list(range(found[0], found[-1] + 1))
        raise TargetError("methods.layers_match_nothing", layers=layers, n=len(matched),
                          found=f"{found[0]}..{found[-1]}" if contiguous else ", ".join(map(str, found)) or "-")
    return kept


# --------------------------------------------------------------------------- memory terms

def activation_bytes(model: nn.Module, spec: AdapterSpec, wrapped: list, act: int) -> int:
    """Bytes per token the LoRA path keeps over the wrapped layers: the dropout output (fp32) and its mask, autocast's
    bf16 copy of it (kept by lora_A), A's output (kept by B); DoRA also keeps the base and LoRA outputs for the
    magnitude scaling."""
    from workbench.core.model.modules import features
    total = 0
    layers = spec.knob("layers_to_transform")
    for name, module in wrapped:
        if not in_layers(name, layers, spec.target_modules):
            continue
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
        ("use_dora", a.use_dora or a.method == "dora"), ("init_lora_weights", a.init_lora_weights),
        ("LoRA+ lr ratio (lora_B / lora_A)", a.knob("loraplus_lr_ratio") or "off"),
        ("layers_to_transform", "all" if a.knob("layers_to_transform") is None else a.knob("layers_to_transform"))]
    if moves_base_weights(a.init_lora_weights):
        rows.append(("saved as", f"plain LoRA of rank {2 * a.r} (the trained {a.init_lora_weights} adapter minus its "
                                 "initial one: it loads on the original model)"))
    if a.is_quantized:
        rows += [("4-bit quant type", a.bnb_4bit_quant_type), ("double quant", a.bnb_4bit_use_double_quant),
                 ("compute dtype", _compute_dtype(a.bnb_4bit_compute_dtype))]
    return rows


# --------------------------------------------------------------------------- training hooks

def before_training(model, spec, device: str) -> bool:
    """LoftQ (QLoRA): LoRA A and B set from the quantization error of each wrapped 4-bit layer, against the
    checkpoint's full-precision weights (PEFT's ``replace_lora_weights_loftq``, which computes on a CUDA GPU).
    PiSSA / OLoRA: True (the run saves its initial adapter and converts the trained one); a WorkbenchError when the
    adapter trains something PEFT's conversion would drop (an embedding's LoRA)."""
    init = spec.adapter.init_lora_weights
    if init == "loftq":
        _loftq(model, spec, device)
        return False
    if not moves_base_weights(init):
        return False
    from peft import get_peft_model_state_dict
    for key in get_peft_model_state_dict(model):
        if "lora_A" not in key and "lora_B" not in key:  # what PEFT's subtract_mutated_init keeps
            raise WorkbenchError("methods.lora_init_unconvertible", init=init, name=key)
    return True


def _loftq(model, spec, device: str) -> None:
    from pathlib import Path

    from peft import replace_lora_weights_loftq

    from workbench.core.model.loading import model_dir, resolve
    if device != "cuda":  # PEFT's _loftq_init_new works on CUDA (or XPU) tensors
        raise WorkbenchError("methods.loftq_needs_cuda", device=device)
    path = model_dir(resolve(spec.model.name))
    if not any(Path(path).glob("*.safetensors")):
        raise WorkbenchError("methods.loftq_needs_safetensors", path=path)
    replace_lora_weights_loftq(model, model_path=str(path))


def loraplus_optimizer(model, adapter: AdapterSpec, train):
    """LoRA+ (``loraplus_lr_ratio`` set): AdamW with lora_B (and 1-D trained vectors) at ``ratio`` x the run's learning
    rate, lora_A at it (PEFT's ``create_loraplus_optimizer``); None: the Trainer's own optimizer."""
    ratio = adapter.knob("loraplus_lr_ratio")
    if ratio is None:
        return None
    import torch
    from peft.optimizers import create_loraplus_optimizer
    return create_loraplus_optimizer(model, torch.optim.AdamW, lr=train.learning_rate, loraplus_lr_ratio=float(ratio),
                                     loraplus_weight_decay=train.weight_decay)


# --------------------------------------------------------------------------- the records

OPTIONS = (methods.Option("loraplus_lr_ratio", None, "LoRA+: lora_B's learning rate / lora_A's (off when unset; "
                                                     "typical 16)", 1.0, 1024.0, peft_name="-"),
           methods.Option("layers_to_transform", None, "decoder layer indices to adapt (an int or a list; unset: "
                                                       "every layer)", peft_name="layers_to_transform"))

_COMMON: dict[str, Any] = dict(family="lora", group="reparameterized", peft_config="LoraConfig", peft_type="LORA",
                               config_kwargs=lora_kwargs, plan=lora_plan, budget_knob="r", target_table=TARGET_TABLE,
                               wraps_embeddings=True, wraps_id="targets.wraps_lora", card_rows=card_rows,
                               card_tags=("lora",), activation_bytes=activation_bytes, check=check,
                               options=OPTIONS, before_training=before_training, optimizer=loraplus_optimizer)

methods.register(methods.Method(name="lora", knobs=KNOBS, form_groups=("lora",), help_id="help.method.lora",
                                about_id="methods.about.lora", paper="Hu et al. 2021", **_COMMON))
methods.register(methods.Method(name="dora", knobs=KNOBS + ("use_dora",), form_groups=("lora",),
                                help_id="help.method.dora", about_id="methods.about.dora", paper="Liu et al. 2024",
                                fixed_knobs=(("use_dora", True),), **_COMMON))
methods.register(methods.Method(name="qlora", knobs=KNOBS + QUANT_KNOBS, form_groups=("lora", "quantization"),
                                help_id="help.method.qlora", about_id="methods.about.qlora", paper="Dettmers et al. 2023", quantized=True,
                                estimate_label="LoRA", **_COMMON))

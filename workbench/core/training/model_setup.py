"""The model a run trains and what it saves: the base with the method's adapter (``load_for_training``), what the
method asks of the run (options bound from the training settings, Trainer callbacks, its own optimizer, a step
before training) and saving the result (``save_adapter``: a PEFT folder, or a whole checkpoint for full
fine-tuning). ``trainer.execute`` calls these in order.
"""
from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

from workbench.spec.settings import RunSpec

def trainable_and_total(model) -> tuple[int, int]:
    """(trainable, total) parameters: PEFT's own count, or for a plain model (full fine-tuning) every parameter once
    (tied weights once, as PEFT counts them)."""
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    seen = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in seen.values())
    return sum(p.numel() for p in seen.values() if p.requires_grad), total


def bind_run(adapter, train):
    """The adapter with the options its method takes from the run (AdaLoRA's rank schedule spans the run's steps);
    an option the user set keeps its value."""
    import dataclasses

    from workbench.spec import methods
    record = methods.get(adapter.method)
    if record.bind_run is None:
        return adapter
    bound = {k: v for k, v in record.bind_run(adapter, train).items() if not adapter.options.get(k)}
    return dataclasses.replace(adapter, options={**adapter.options, **bound})


def method_callbacks(model, spec: RunSpec) -> list:
    """Trainer callbacks the run's method needs (AdaLoRA's rank allocation after each optimizer step)."""
    from workbench.spec import methods
    hook = methods.get(spec.adapter.method).train_callback
    return [hook(model)] if hook is not None else []


def load_for_training(spec: RunSpec, device: str, base=None):
    """(peft_model, tokenizer): real weights, 4-bit + prepare_model_for_kbit_training for qlora, then the adapter.

    ``base``: an already loaded (model, tokenizer) the adapter may modify (an experiment's fresh copy of the base
    it keeps between runs); None loads from disk."""
    import peft
    from transformers import set_seed

    from workbench.core.model.loading import load_model, model_dir, resolve
    from workbench.core.model.peft_config import build_peft_config
    from workbench.spec import methods

    a = spec.adapter
    qlora = a.is_quantized
    model, tok = base if base is not None else load_model(
        spec.model.name, dtype=spec.model.dtype, device=device, quantize_4bit=qlora,
        bnb_4bit_quant_type=a.bnb_4bit_quant_type, bnb_4bit_use_double_quant=a.bnb_4bit_use_double_quant,
        bnb_4bit_compute_dtype=a.bnb_4bit_compute_dtype)
    if qlora:
        # Gradient checkpointing saves GPU memory; on a CPU it only costs time, so it is GPU-only here.
        model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=device == "cuda")
    set_seed(spec.train.seed)  # same adapter init for the same seed
    if methods.get(a.method).full_model:  # full fine-tuning: the model itself trains, no PEFT
        model.requires_grad_(True)
        return model, tok
    a = bind_run(a, spec.train)
    cfg = build_peft_config(a, model.config, tokenizer_name_or_path=model_dir(resolve(spec.model.name)))
    return peft.get_peft_model(model, cfg), tok


def initial_adapter_dir(run_dir: Path) -> Path:
    """Where a run whose init modified the base (PiSSA, OLoRA) keeps its adapter as it was before training."""
    return Path(run_dir) / "checkpoints" / "initial_adapter"


def before_training(model, spec: RunSpec, device: str, run_dir: Path, main: bool) -> None:
    """The method's step on the wrapped model before the Trainer starts (its record's ``before_training``: QLoRA's
    LoftQ init); when its init moved base weights into the adapter, the initial adapter is saved (rank 0) so the
    trained one can be saved as a plain LoRA of the unchanged base (``save_adapter``)."""
    from workbench.spec import methods
    hook = methods.get(spec.adapter.method).before_training
    initial = initial_adapter_dir(run_dir)
    if main:
        shutil.rmtree(initial, ignore_errors=True)
    if hook is not None and hook(model, spec, device) and main:
        model.save_pretrained(str(initial))


def method_optimizers(model, spec: RunSpec) -> tuple:
    """Trainer's ``optimizers``: the method's own optimizer (LoRA+), or (None, None) for the Trainer's AdamW; the
    learning-rate schedule is the Trainer's in both cases."""
    from workbench.spec import methods
    hook = methods.get(spec.adapter.method).optimizer
    return (hook(model, spec.adapter, spec.train) if hook is not None else None), None


def save_adapter(model, run_dir: Path) -> Path:
    """PeftModel.save_pretrained into run_dir/adapter (written to a temp dir, then swapped in). A run that kept its
    initial adapter (PiSSA, OLoRA) saves the trained one converted to a plain LoRA that loads on the original base
    (PEFT's ``path_initial_model_for_weight_conversion``: twice the rank, the initial update subtracted)."""
    out = Path(run_dir) / "adapter"
    tmp = out.with_name(".adapter.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    initial = initial_adapter_dir(run_dir)
    convert = {"path_initial_model_for_weight_conversion": str(initial)} if initial.is_dir() else {}
    with warnings.catch_warnings():  # the conversion loads the initial adapter beside the trained one: PEFT warns
        warnings.filterwarnings("ignore", message=".* changes the base weights of the model")
        model.save_pretrained(str(tmp), **convert)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out

"""Test helper (not a test module): make small PEFT adapters directly with peft, with weights perturbed so
their outputs differ from the base model (a freshly initialised LoRA has B = 0 and changes nothing)."""
from __future__ import annotations

import torch


def peft_config(kind: str, **overrides):
    from peft import IA3Config, LoraConfig, PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig
    if kind in ("lora", "dora"):
        kw = dict(task_type="CAUSAL_LM", r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                  use_dora=kind == "dora")
        kw.update(overrides)
        return LoraConfig(**kw)
    if kind == "prompt_tuning":
        return PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4, **overrides)
    if kind == "p_tuning":
        return PromptEncoderConfig(task_type="CAUSAL_LM", num_virtual_tokens=4, encoder_hidden_size=32, **overrides)
    if kind == "prefix_tuning":
        return PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4, **overrides)
    if kind == "ia3":
        return IA3Config(task_type="CAUSAL_LM", target_modules=["k_proj", "v_proj", "down_proj"],
                         feedforward_modules=["down_proj"], **overrides)
    raise ValueError(kind)


def make_adapter(model_dir: str, out_dir, kind: str = "lora", seed: int = 1, scale: float = 0.5,
                 perturb: bool = True, **overrides) -> str:
    """Build ``kind`` on the model in ``model_dir``, perturb its trainable weights (seeded), save, return the dir."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    pm = get_peft_model(model, peft_config(kind, **overrides))
    if perturb:
        with torch.no_grad():
            for name, p in pm.named_parameters():
                if not p.requires_grad:
                    continue
                if "ia3_l" in name:
                    p.copy_(torch.rand_like(p) * 2)
                elif "lora_magnitude" in name:
                    p.mul_(1 + scale * torch.rand_like(p))
                else:
                    p.add_(torch.randn_like(p) * scale)
    pm.save_pretrained(str(out_dir))
    return str(out_dir)

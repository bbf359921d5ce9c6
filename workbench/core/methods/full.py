"""Full fine-tuning: every weight of the model trains (the costly reference every PEFT method is measured against;
group ``full``). No PEFT: the run trains the transformers model itself and saves a whole transformers checkpoint
(``save_pretrained``: config, weights, tokenizer) in the run's ``adapter/`` folder, which
``AutoModelForCausalLM.from_pretrained`` loads. Counting: every parameter of the model (tied weights once).
Memory: the weights, their gradients and AdamW's two states (4x the weights in fp32) plus the activations.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.errors import SpecError
from workbench.spec import methods

if TYPE_CHECKING:
    import torch.nn as nn

    from workbench.core.model.counting import CountPlan
    from workbench.spec.settings import AdapterSpec


def no_peft_config(spec: AdapterSpec, config, task_type: str) -> dict[str, Any]:
    """Full fine-tuning has no PEFT config: asking for one ('show code', a PEFT build) is an error that says why."""
    raise SpecError("adapter.method", "methods.full_no_peft")


def full_plan(model: nn.Module, spec: AdapterSpec, named: list, base_total: int) -> CountPlan:
    from workbench.core.model.counting import CountPlan
    return CountPlan(spec.method, False, base_total, 0, base_total, 0, None)


def card_rows(a: AdapterSpec) -> list[tuple[str, Any]]:
    return [("trained weights", "all (full fine-tuning)")]


methods.register(methods.Method(
    name="full", family="full", group="full", peft_config=None, peft_type=None, config_kwargs=no_peft_config,
    plan=full_plan, knobs=(), about_id="methods.about.full", card_rows=card_rows, full_model=True,
    paper="the reference every PEFT paper compares with"))

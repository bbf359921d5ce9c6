"""Mixed-adapter LoRA batches in one pair of matmuls per layer instead of one set of small ops per adapter.

PEFT's mixed-adapter forward (``adapter_names``: each row of a batch picks its LoRA adapter, ``"__base__"`` none)
loops, in every adapted layer, over the adapters present: index the rows of that adapter out of ``x``, run its
``lora_A`` and ``lora_B``, scale, and add the result back into those rows. With the Compare tab's base + 3
adapters that is about 20 small operations per layer and decoding step, 60 layers on the embedded model with
q_proj / v_proj adapted: most of what a mixed step of 4 rows costs more than a step of 4 base rows.

``install`` gives the LoRA ``Linear`` layers of a PeftModel used only for inference (the Compare and evaluation
copies in ``variants.VariantModel``) a mixed forward that does the same sum in one go:

    h = x @ A_cat^T            A_cat: the A matrices of the batch's adapters stacked, [sum of ranks, in]
    h = h * S[row's adapter]   S: per adapter, its ``scaling`` on its own rank columns and 0 elsewhere
                               (the base row, and adapters this layer does not have, get 0 everywhere)
    result += h @ B_cat^T      B_cat: the B matrices side by side, [out, sum of ranks]

Each row thus gets ``scaling * B(A x)`` of its own adapter and exactly 0 from the others (a base row's result is
the base layer's output unchanged). The scaling is applied between the two matmuls instead of after them, so
results can differ from PEFT's at the float-rounding level (not at all with a power-of-two scaling such as the
default alpha / r = 2). Anything else goes to PEFT's own forward: gradients on, other arguments (aLoRA offsets, ...),
adapters with a variant (DoRA, aLoRA), a LoRA bias, dropout in training mode, merged weights, another dtype.
``forward_rows`` also hands the per-row adapter names to those layers directly instead of through PEFT's forward
hooks, which PEFT registers on every adapter layer for each call. ``WORKBENCH_FAST_MIXED=0`` turns both off;
tests/core/test_fast_mixed.py compares them with PEFT's forward.
"""
from __future__ import annotations

import threading
import types

from workbench.core.env import env_flag

BASE_NAME = "__base__"


def enabled() -> bool:
    return env_flag("WORKBENCH_FAST_MIXED")


def install(peft_model) -> int:
    """Patch every plain LoRA ``Linear`` layer of ``peft_model``; returns how many (0 when off)."""
    if not enabled():
        return 0
    from peft.tuners.lora.layer import Linear, LoraLayer
    from peft.utils.other import AuxiliaryTrainingWrapper
    n, direct = 0, True
    for module in peft_model.modules():
        if type(module) is Linear and "_mixed_batch_forward" not in module.__dict__:
            module._mixed_batch_forward = types.MethodType(_mixed_batch_forward, module)
            module.forward = types.MethodType(_forward, module)
            n += 1
        elif isinstance(module, (LoraLayer, AuxiliaryTrainingWrapper)) and type(module) is not Linear:
            direct = False  # e.g. a LoRA embedding or modules_to_save: they need PEFT's adapter_names hooks
    peft_model.__dict__["_wb_direct_rows"] = direct
    return n


def forward_rows(model, names, **kwargs):
    """``model(**kwargs)`` with row i on adapter ``names[i]`` (``"__base__"``: none): what
    ``model(**kwargs, adapter_names=names)`` computes. Where every adapter layer is patched here, the names go to the
    layers directly: PEFT's forward walks every module of the model twice and hooks every adapter layer for each
    call (23 ms per decoding step of the embedded model); otherwise it is that call."""
    if not model.__dict__.get("_wb_direct_rows") or model.training:
        return model(**kwargs, adapter_names=list(names))
    unknown = {n for n in names if n != BASE_NAME} - set(model.peft_config)
    if unknown:
        raise ValueError(f"Trying to infer with non-existing adapter(s): {', '.join(sorted(unknown))}")
    _ROWS.names = list(names)
    try:
        return model(**kwargs)
    finally:
        _ROWS.names = None


def _forward(self, x, *args, **kwargs):
    names = getattr(_ROWS, "names", None)
    if names is None or "adapter_names" in kwargs or self.disable_adapters:
        return type(self).forward(self, x, *args, **kwargs)
    self._check_forward_args(x, *args, adapter_names=names, **kwargs)  # PEFT's own checks (lengths, DoRA, merged)
    return self._mixed_batch_forward(x, *args, adapter_names=names, **kwargs)


def _mixed_batch_forward(self, x, *args, adapter_names, **kwargs):
    import torch
    names = _names(self, adapter_names)
    if names is None or args or any(v is not None for v in kwargs.values()) or torch.is_grad_enabled():
        return type(self)._mixed_batch_forward(self, x, *args, adapter_names=adapter_names, **kwargs)
    a_cat, b_cat, scales = _stacked(self, names)
    if a_cat.dtype != x.dtype:
        return type(self)._mixed_batch_forward(self, x, *args, adapter_names=adapter_names, **kwargs)
    result = self.base_layer(x)
    if a_cat.shape[0] == 0:  # none of the batch's adapters adapts this layer
        return result
    codes = _codes(adapter_names, names, x.device)
    flat = x.reshape(-1, x.shape[-1])
    h = torch.mm(flat, a_cat.t()).view(x.shape[0], -1, a_cat.shape[0]) * scales[codes][:, None, :]
    lora = torch.mm(h.view(-1, a_cat.shape[0]), b_cat.t()).view(*x.shape[:-1], b_cat.shape[0])
    return result + lora.to(result.dtype)


def _names(self, adapter_names) -> tuple[str, ...] | None:
    """The batch's adapters in a fixed order, or None when one of them needs PEFT's own forward."""
    if getattr(self, "merged", False):
        return None
    names = tuple(sorted({n for n in adapter_names if n != BASE_NAME}))
    for n in names:
        if n not in self.lora_A:
            continue  # PEFT skips it too: its rows get the base output
        if n in self.lora_variant or getattr(self.lora_B[n], "bias", None) is not None:
            return None
        if self.lora_dropout[n].training:  # an nn.Dropout that would drop (nn.Identity either way)
            return None
    return names


def _stacked(self, names: tuple[str, ...]):
    """(A_cat [sum r, in], B_cat [out, sum r], S [1 + len(names), sum r]) for ``names``, built once per set."""
    import torch
    cache = self.__dict__.setdefault("_wb_stacked", {})
    key = (names, id(self.lora_A), len(self.lora_A))  # the inference copies' adapters are loaded once, never changed
    hit = cache.get(key)
    if hit is not None:
        return hit
    present = [n for n in names if n in self.lora_A]
    weight = self.base_layer.weight
    if present:
        a_cat = torch.cat([self.lora_A[n].weight for n in present]).detach()
        b_cat = torch.cat([self.lora_B[n].weight for n in present], 1).detach()
    else:
        a_cat = weight.new_zeros(0, weight.shape[1])
        b_cat = weight.new_zeros(weight.shape[0], 0)
    scales = a_cat.new_zeros(1 + len(names), a_cat.shape[0])
    col = 0
    for n in present:
        r = self.lora_A[n].weight.shape[0]
        scales[1 + names.index(n), col:col + r] = float(self.scaling[n])
        col += r
    cache.clear()  # one set of adapters at a time is what the Compare tab and evaluation use
    cache[key] = (a_cat, b_cat, scales)
    return cache[key]


_ROWS = threading.local()
"""``forward_rows``' adapter per row, for the layers of the model it is calling (per thread)."""
_LAST = threading.local()
"""Per thread, (adapter_names list, names, codes tensor) of the latest batch: every layer of one forward gets the
same list object from PEFT's forward hooks, so the codes are built once per forward."""


def _codes(adapter_names, names: tuple[str, ...], device):
    """Per row, 0 for the base and 1 + the index of its adapter in ``names``."""
    import torch
    last = getattr(_LAST, "value", None)
    if last is not None and last[0] is adapter_names and last[1] == names and last[2].device == device:
        return last[2]
    index = {n: i + 1 for i, n in enumerate(names)}
    codes = torch.tensor([index.get(n, 0) for n in adapter_names], device=device)
    _LAST.value = (adapter_names, names, codes)
    return codes

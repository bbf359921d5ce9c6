"""Linear layers for batched decoding on a CPU: ``(W @ x^T)^T`` instead of ``x @ W^T`` for a few rows.

A decoding step multiplies each weight matrix by one new position per row: ``x`` is [rows, 1, in]. With one row
PyTorch runs a matrix-vector product that streams the weight once. With 2-64 rows it runs a matrix-matrix product
whose kernel (as measured on the 2-core AVX2 EPYC of BENCHMARKS.md, fp32, weights not in cache) costs about twice
as much, although it reads the same weights: 4 rows of SmolLM2's MLP matrix took 0.93 ms against 0.51 ms for one,
and 4 rows of its 49k-token vocabulary head 48 ms against 17 ms. Computing the transposed product ``W @ x^T``
(the weight as the left operand) took 0.39 ms and 14 ms: 4 rows then cost less than one did. From a few hundred
rows on (a prompt's prefill) the usual order is faster again, and one thread gains less.

So ``install`` gives the nn.Linear layers of a model used only for inference (the Compare / evaluation copies in
``variants.VariantModel``) a forward that takes the transposed product for single-position inputs of
2..``max_rows`` rows, without autograd, fp32 on the CPU; everything else (one row, prompts, training, GPUs, other
dtypes) goes to ``F.linear`` unchanged. One-row decoding (the exact one-by-one mode) is therefore untouched. The
result is the same product summed in another order (float rounding differs at the 1e-6 level, as it does between
batch sizes). ``WORKBENCH_FAST_LINEAR=0`` turns it off. benchmarks/bench_compare.py measures the effect.
"""
from __future__ import annotations

import types

from workbench.core.env import env_flag

MAX_ROWS = 128
"""Most rows for the transposed product with 2+ threads (measured: ahead or equal up to 128 rows, behind from 256)."""
MAX_ROWS_ONE_THREAD = 4
"""With one thread it wins only for a few rows, except on the vocabulary head (wide layers: ``WIDE``)."""
WIDE = 16384
"""Output width from which a layer counts as a vocabulary head (the transposed product wins up to MAX_ROWS)."""


def enabled() -> bool:
    return env_flag("WORKBENCH_FAST_LINEAR")


def install(model) -> int:
    """Patch every fp32 ``torch.nn.Linear`` of ``model`` (exact type, on the CPU); returns how many (0 when off)."""
    import torch
    if not enabled():
        return 0
    n = 0
    for module in model.modules():
        if type(module) is torch.nn.Linear and module.weight.device.type == "cpu" \
                and module.weight.dtype == torch.float32 and "forward" not in module.__dict__:
            module.forward = types.MethodType(_forward, module)
            n += 1
    return n


def _limit(module) -> int:
    import torch
    if module.out_features >= WIDE or torch.get_num_threads() >= 2:
        return MAX_ROWS
    return MAX_ROWS_ONE_THREAD


def _forward(self, x):
    import torch
    import torch.nn.functional as F
    if x.dim() == 3 and x.shape[1] == 1 and 2 <= x.shape[0] <= _limit(self) and x.dtype == torch.float32 \
            and x.device.type == "cpu" and not torch.is_grad_enabled():
        y = torch.mm(self.weight, x.reshape(x.shape[0], -1).t()).t().contiguous()  # (a strided view costs more
        if self.bias is not None:                                                 # downstream than this copy)
            y += self.bias
        return y.view(x.shape[0], 1, self.out_features)
    return F.linear(x, self.weight, self.bias)

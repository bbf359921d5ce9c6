"""Devices and dtypes: the device a run picks, whether it runs bf16 natively, and the dtypes and autocast that
follow from ``precision: auto`` (the one home of these choices, as torchtune's ``training/precision.py``).

``WORKBENCH_NATIVE_BF16`` overrides the CPU's native-bf16 check: 1 takes the path of a CPU with AVX-512 BF16 / AMX,
0 the path of one without, unset (or empty) detects. Tests cover both kinds of CPU through it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.errors import WorkbenchError
from workbench.core.env import env_flag
from workbench.core.model.errors import ModelError

if TYPE_CHECKING:
    from workbench.spec.settings import RunSpec

NATIVE_BF16_ENV = "WORKBENCH_NATIVE_BF16"


def pick_device(pref: str = "auto") -> str:
    """CUDA, then Apple MPS, then CPU (or the explicit preference when available)."""
    import torch
    if pref == "cuda" or (pref == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ModelError("models.no_cuda")
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if pref == "mps" or (pref == "auto" and mps is not None and mps.is_available()):
        if not (mps is not None and mps.is_available()):
            raise ModelError("models.no_mps")
        return "mps"
    return "cpu"


def _cpu_probe() -> bool:
    import torch
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        try:
            if getattr(cpu, probe)():
                return True
        except Exception:  # private torch probes: absent or failing means "no"
            continue
    return False


def cpu_has_native_bf16() -> bool:
    """True on x86 CPUs with AVX-512 BF16 or AMX, where bf16 matmuls run ~2x faster than fp32; ``WORKBENCH_NATIVE_BF16``
    (1 / 0) overrides the check."""
    return env_flag(NATIVE_BF16_ENV, default=_cpu_probe())


def native_bf16(device: str) -> bool:
    """Whether ``device`` runs bf16 natively: a GPU that supports it, or a CPU with AVX-512 BF16 / AMX. Elsewhere bf16
    is emulated and slow (BENCHMARKS.md). The one answer behind precision auto and QLoRA's compute dtype auto."""
    if device == "cuda":
        import torch
        return torch.cuda.is_bf16_supported()
    return device == "cpu" and cpu_has_native_bf16()


def pick_compute_dtype(pref: str, device: str = "auto") -> str:
    """The dtype 4-bit (QLoRA) weights are dequantised to for each matmul. auto = bfloat16 where ``device`` (auto:
    the one training would pick) runs it natively, float16 on other GPUs, float32 on other CPUs: there bf16 is
    emulated and a 4-bit forward of the embedded model took 52 s in bf16 vs 14 s in fp32 (BENCHMARKS.md)."""
    if pref != "auto":
        return pref
    if device == "auto":
        device = pick_device("auto")
    if native_bf16(device):
        return "bfloat16"
    return "float16" if device == "cuda" else "float32"


def pick_dtype(pref: str, device: str):
    import torch
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if pref != "auto":
        return table[pref]
    if device == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def mixed_precision(precision: str, device: str, quantized: bool = False) -> tuple[bool, bool]:
    """(bf16, fp16) Trainer flags. auto = bf16 on GPUs that support it and on CPUs with native bf16
    (AVX-512 BF16 / AMX; measured 1.4-1.6x faster steps, see BENCHMARKS.md), fp32 elsewhere.
    4-bit (QLoRA) runs keep auto = no autocast: their compute dtype is set by the quantisation config."""
    if precision == "auto":
        return native_bf16(device) and (device == "cuda" or not quantized), False
    if precision == "fp16" and device == "cpu":
        raise WorkbenchError("training.fp16_needs_gpu")
    return precision == "bf16", precision == "fp16"


def run_precision(spec: RunSpec, device: str) -> str:
    """fp32 or bf16: the autocast ``spec`` trains under on ``device`` (``mixed_precision``'s choice; fp16 is 2 bytes
    too)."""
    bf16, fp16 = mixed_precision(spec.train.precision, device, quantized=spec.adapter.is_quantized)
    return "bf16" if (bf16 or fp16) else "fp32"

"""ZeroGPU on Hugging Face Spaces: ask for a GPU slice around the handlers that generate.

On a ZeroGPU Space (the environment sets ``SPACES_ZERO_GPU``) a GPU exists only inside functions decorated with
``@spaces.GPU(duration=...)``. ``gpu(fn)`` applies that decorator to generation / evaluation handlers, with
``WORKBENCH_GPU_DURATION`` seconds (default 60) as the longest a call may hold the GPU. Anywhere else it returns
``fn`` itself. The ``spaces`` package is the one from PyPI, pinned in requirements.txt (it needs no torch of its
own); its ZeroGPU machinery itself needs a CUDA build of torch, which only the Space has.

Training is not wrapped: it runs in a separate worker process (so the web server stays responsive), and a
ZeroGPU slice belongs to the calling process for the length of one call. On ZeroGPU, training runs on the
Space's CPU; pick a dedicated GPU (e.g. T4 small) to train on a GPU.
"""
from __future__ import annotations

import os


def zero_gpu_enabled() -> bool:
    return os.environ.get("SPACES_ZERO_GPU", "").lower() not in ("", "0", "false")


def gpu_duration() -> int:
    from workbench.core.env import env_int
    return env_int("WORKBENCH_GPU_DURATION", 60, lo=1)


def gpu(fn):
    """``spaces.GPU(duration=WORKBENCH_GPU_DURATION)(fn)`` on a ZeroGPU Space, else ``fn`` unchanged."""
    if not zero_gpu_enabled():
        return fn
    import spaces  # requirements.txt (also preinstalled on Spaces)
    return spaces.GPU(duration=gpu_duration())(fn)

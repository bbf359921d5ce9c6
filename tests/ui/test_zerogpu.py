"""ZeroGPU: generation handlers get @spaces.GPU(duration) on a ZeroGPU Space and are untouched elsewhere."""
from __future__ import annotations

import sys
import types

from workbench.ui import zerogpu


def _fake_spaces(calls):
    mod = types.ModuleType("spaces")

    def GPU(duration=None):
        def deco(fn):
            def wrapped(*a, **k):
                return fn(*a, **k)
            wrapped.zerogpu_duration = duration
            calls.append((getattr(fn, "__name__", "?"), duration))
            return wrapped
        return deco
    mod.GPU = GPU
    return mod


def test_no_zero_gpu_returns_the_function_itself(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    def f():
        return 1
    assert zerogpu.gpu(f) is f


def test_zero_gpu_applies_spaces_gpu_with_duration(monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "spaces", _fake_spaces(calls))
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setenv("WORKBENCH_GPU_DURATION", "45")
    def f(x):
        return x + 1
    g = zerogpu.gpu(f)
    assert g is not f and g(1) == 2 and g.zerogpu_duration == 45


def test_compare_tab_generation_handlers_are_wrapped_on_zero_gpu(monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "spaces", _fake_spaces(calls))
    monkeypatch.setenv("SPACES_ZERO_GPU", "1")
    from workbench.ui.app import build_app
    build_app()
    names = [n for n, _ in calls]
    assert len(calls) == 5, names   # streaming compare, token view, presets, evaluation, the /compare API
    assert {"_stream", "run_presets", "evaluate_view"} <= set(names)
    assert all(d == 60 for _, d in calls)

"""ZeroGPU and Spaces storage (issue 13, item 6), with the real ``spaces`` package from PyPI (requirements.txt).

- Generation handlers get ``spaces.GPU(duration=WORKBENCH_GPU_DURATION)`` on a ZeroGPU Space and are untouched
  elsewhere. The real decorator is called (a spy records its arguments and returns what it returns). Its ZeroGPU
  branch needs a CUDA build of torch (spaces.zero.torch reads torch.version.cuda), which only a Space has, so here it
  runs in its off-ZeroGPU mode, where the real package gives the function back unchanged.
- Runs live on the Space's persistent storage (/data) when it is mounted; the page says when they will not survive
  a restart.
"""
from __future__ import annotations

import json

import pytest
import spaces

from workbench.core.runstore import run_dirs as runs
from workbench.core.runstore import storage
from workbench.ui import zerogpu
from workbench.ui.language import I18N


@pytest.fixture()
def gpu_calls(monkeypatch):
    calls = []
    real = spaces.GPU

    def spy(task=None, *, duration=None, size=None, **kwargs):
        decorator = real(task, duration=duration, size=size, **kwargs)
        calls.append(duration)
        return decorator
    monkeypatch.setattr(spaces, "GPU", spy)
    return calls


def test_the_real_spaces_package_is_installed_and_needs_no_cuda_torch():
    import importlib.metadata

    import torch
    assert importlib.metadata.version("spaces") == "0.51.3"
    assert torch.version.cuda is None or torch.cuda.is_available()  # the CPU build stayed: spaces pulled no torch


def test_no_zero_gpu_returns_the_function_itself(monkeypatch, gpu_calls):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)

    def f():
        return 1
    assert zerogpu.gpu(f) is f and gpu_calls == []
    assert spaces.GPU(duration=30)(f) is f  # and the real decorator off ZeroGPU is a no-op too


def test_zero_gpu_applies_the_real_spaces_gpu_with_duration(monkeypatch, gpu_calls):
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setenv("WORKBENCH_GPU_DURATION", "45")

    def f(x):
        return x + 1
    g = zerogpu.gpu(f)
    assert gpu_calls == [45] and g(1) == 2


def test_compare_tab_generation_handlers_are_wrapped_on_zero_gpu(monkeypatch, gpu_calls):
    monkeypatch.setenv("SPACES_ZERO_GPU", "1")
    from workbench.ui.app import build_app
    build_app()
    assert gpu_calls == [60] * 5   # streaming compare, token view, presets, evaluation, the /compare API


# --------------------------------------------------------------------------- Spaces storage

def test_runs_go_to_persistent_storage_on_a_space(monkeypatch, tmp_path):
    data = tmp_path / "data"
    monkeypatch.delenv("WORKBENCH_RUNS_DIR", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert storage.default_runs_root(tmp_path / "repo", data) == tmp_path / "repo" / "runs"  # local: ./runs
    assert not storage.runs_are_ephemeral(data)
    monkeypatch.setenv("SPACE_ID", "someone/workbench")
    assert storage.default_runs_root(tmp_path / "repo", data) == tmp_path / "repo" / "runs"  # no /data mounted
    assert storage.runs_are_ephemeral(data)
    data.mkdir()
    assert storage.default_runs_root(tmp_path / "repo", data) == data / "workbench-runs"
    assert not storage.runs_are_ephemeral(data)
    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(tmp_path / "mine"))  # an explicit folder always wins
    assert storage.default_runs_root(tmp_path / "repo", data) == tmp_path / "mine"
    assert runs.runs_root() == tmp_path / "mine" and not storage.runs_are_ephemeral(data)
    monkeypatch.delenv("WORKBENCH_RUNS_DIR")
    data.rmdir()
    data.write_text("not a folder")  # something else at /data: not usable
    assert storage.persistent_dir(data) is None and storage.runs_are_ephemeral(data)


def _page_markdown(demo) -> str:
    """The page's Markdown as an English page shows it (a page text by its id: workbench.ui.language.t)."""
    def shown(value) -> str:  # Gradio keeps a page text as "__i18n__" + {"key": id, ...}
        text = str(value or "")
        return I18N.translations["en"][json.loads(text[8:])["key"]] if text.startswith("__i18n__") else text
    return "\n".join(shown(b.value) for b in demo.blocks.values() if type(b).__name__ == "Markdown")


def test_the_page_says_when_runs_will_not_survive_a_restart(monkeypatch, tmp_path):
    from workbench.ui.app import build_app
    monkeypatch.setattr(storage, "SPACE_DATA", tmp_path / "no-data")
    monkeypatch.setattr(storage.persistent_dir, "__defaults__", (tmp_path / "no-data",))
    monkeypatch.setattr(storage.runs_are_ephemeral, "__defaults__", (tmp_path / "no-data",))
    monkeypatch.delenv("WORKBENCH_RUNS_DIR", raising=False)
    monkeypatch.setenv("SPACE_ID", "someone/workbench")
    assert "no persistent storage" in _page_markdown(build_app())
    monkeypatch.delenv("SPACE_ID")
    assert "no persistent storage" not in _page_markdown(build_app())

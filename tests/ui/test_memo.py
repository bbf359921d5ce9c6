"""Inspect/rank handlers remember results for models that cannot change; never for local folders or errors."""
from __future__ import annotations

import gradio as gr
import pytest

from workbench.core.model import modules as MOD
from workbench.core.model import counting as P
from workbench.ui.handlers import inspect as H
from workbench.ui.language import CURRENT_LANG


@pytest.fixture(autouse=True)
def _clean_memo():
    H.clear_memo()
    yield
    H.clear_memo()


def _count_calls(monkeypatch, module, name):
    calls = []
    orig = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: calls.append(1) or orig(*a, **k))
    return calls


def test_rank_chart_for_a_preset_is_computed_once(monkeypatch):
    calls = _count_calls(monkeypatch, P, "sweep")
    args = ("SmolLM2-135M", ["PEFT default", "all-linear"], [], "", "1,8,64")
    fig1, _pct1, df1 = H.rank_view(*args)
    n = len(calls)
    assert n == 2
    fig2, _pct2, df2 = H.rank_view(*args)
    assert len(calls) == n, "the second identical call recomputed the sweep"
    assert df2.equals(df1) and df2 is not df1          # a copy: a caller may change its own
    assert fig2.to_json() == fig1.to_json()
    H.rank_view("SmolLM2-135M", ["PEFT default"], [], "", "1,8,64")   # other arguments: computed
    assert len(calls) == n + 1


def test_language_is_part_of_the_key(monkeypatch):
    calls = _count_calls(monkeypatch, MOD, "list_modules")
    H.inspect_model("SmolLM2-135M")
    per_compute = len(calls)
    assert per_compute >= 1
    token = CURRENT_LANG.set("zh-CN")
    try:
        H.inspect_model("SmolLM2-135M")
    finally:
        CURRENT_LANG.reset(token)
    H.inspect_model("SmolLM2-135M")
    assert len(calls) == 2 * per_compute     # English computed once, Chinese once


def test_local_checkpoint_folders_are_not_memoized(monkeypatch, tiny_llama_dir):
    calls = _count_calls(monkeypatch, MOD, "list_modules")
    H.inspect_model(tiny_llama_dir)
    per_compute = len(calls)
    H.inspect_model(tiny_llama_dir)
    assert len(calls) == 2 * per_compute   # a folder on disk may be replaced between calls


def test_errors_are_not_memoized(monkeypatch):
    calls = _count_calls(monkeypatch, P, "sweep")
    with pytest.raises(gr.Error):
        H.rank_view("SmolLM2-135M", [], [], "", "1,8")
    monkeypatch.setattr(H, "target_sets", lambda m: {"x": ["q_proj"]})
    H.rank_view("SmolLM2-135M", ["x"], [], "", "1,8")
    assert len(calls) == 1

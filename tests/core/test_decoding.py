"""Continuous batched decoding (``decoding.RunningBatch``): rows that join a running batch, leave it early, or share
a prompt prefix get the tokens they get alone (one-by-one ``generate``); the scheduler lets a request join a batch
that is already decoding; the batched-decoding linear layers compute what ``F.linear`` does."""
from __future__ import annotations

import threading

import pytest
import torch

from adapter_factory import make_adapter
from workbench.core.generation import decoding
from workbench.core.kernels import batched_linear as fast_linear
from workbench.core.generation import answers as A
from workbench.core.generation import variants as G
from workbench.core.generation import scheduler as S
from workbench.core.generation.requests import Request
from workbench.core.generation.batching import Row

LONG = "Please answer in one short sentence, without any lists, about this topic: "


@pytest.fixture(scope="module")
def vm(tiny_llama_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("decoding-adapters")
    dirs = [make_adapter(tiny_llama_dir, root / f"lora{i}", "lora", seed=i) for i in (1, 2)]
    return G.get_variants(tiny_llama_dir, dirs)


def _alone(vm, prompt, variant, n, penalty=1.0):
    return A.generate(vm, prompt, variant, A.GenSettings(max_new_tokens=n, repetition_penalty=penalty))


def _rows(vm, specs, done):
    """Rows for (prompt, variant, max_new_tokens) specs; each row's result lands in ``done`` under its spec."""
    return [Row(vm.encode_ids(vm.render(p)), v, n, on_done=lambda r, k=(p, v, n): done.__setitem__(k, r))
            for p, v, n in specs]


def test_rows_join_leave_and_share_a_prefix_with_the_tokens_they_get_alone(vm):
    done: dict = {}
    a, b = vm.variants[1], vm.variants[2]
    first = [(LONG + "the sea", "base", 12), (LONG + "the moon", a, 3), (LONG + "a cat", b, 12),
             (LONG + "a fish", "base", 12)]
    batch = decoding.RunningBatch(vm, "base", A.GenSettings(max_new_tokens=12))
    batch.admit(_rows(vm, first, done))
    assert batch.live == 4
    # the shared prefix (chat template + LONG: 40 tokens) ran once per variant (3), not once per row (4)
    lengths = [len(vm.encode_ids(vm.render(p))) for p, _, _ in first]
    assert batch.prefilled_tokens <= sum(lengths) - 30
    for _ in range(3):
        batch.step()
    assert batch.live == 3 and (first[1] in done)  # the 3-token row left as soon as it ended
    later = [("Hi", a, 5), (LONG + "rain", "base", 9)]  # join the running batch, one with the kept prefix
    batch.admit(_rows(vm, later, done))
    assert batch.live == 5
    while batch.live:
        batch.step()
    for p, v, n in first + later:
        want = _alone(vm, p, v, n)
        assert (done[(p, v, n)].text, len(done[(p, v, n)].ids)) == (want.text, want.tokens), (p, v)


def test_repetition_penalty_counts_each_rows_own_tokens(vm):
    done: dict = {}
    specs = [("Hi", "base", 10), (LONG + "tea", vm.variants[1], 10)]
    batch = decoding.RunningBatch(vm, "base", A.GenSettings(max_new_tokens=10, repetition_penalty=1.8))
    batch.admit(_rows(vm, specs, done))
    while batch.live:
        batch.step()
    for spec in specs:
        assert done[spec].text == _alone(vm, spec[0], spec[1], 10, penalty=1.8).text


def test_sampling_and_prompt_learning_go_through_generate(vm, tiny_llama_dir, tmp_path):
    assert decoding.supported(vm, "base", A.GenSettings())
    assert not decoding.supported(vm, "base", A.GenSettings(do_sample=True))
    pt = G.get_variants(tiny_llama_dir, [make_adapter(tiny_llama_dir, tmp_path / "pt", "prompt_tuning")])
    assert not decoding.supported(pt, pt.variants[1], A.GenSettings())
    assert decoding.supported(pt, "base", A.GenSettings())


def test_a_request_joins_a_batch_that_is_decoding(vm, monkeypatch):
    monkeypatch.delenv("WORKBENCH_BATCHING", raising=False)
    sched = S.Scheduler(vm, batching=True, window_s=0.0)
    started = threading.Event()
    real_step = decoding.RunningBatch.step

    def step(self):  # slow steps, so the second request surely arrives while the first decodes
        started.set()
        threading.Event().wait(0.05)
        return real_step(self)
    monkeypatch.setattr(decoding.RunningBatch, "step", step)
    s = A.GenSettings(max_new_tokens=20)
    first = sched.submit([Request("base", s, prompt="Tell me about ships")])[0]
    assert started.wait(60)
    second = sched.submit([Request(vm.variants[1], s, prompt="Hi")])[0]
    got = (first.result(120).text, second.result(120).text)
    assert sched.batch_sizes == [1] and sched.joined == 1
    assert got == (_alone(vm, "Tell me about ships", "base", 20).text, _alone(vm, "Hi", vm.variants[1], 20).text)


def test_fast_linear_matches_f_linear_and_leaves_one_row_alone(monkeypatch):
    torch.manual_seed(0)
    layer = torch.nn.Linear(48, 80)
    assert fast_linear.install(layer) == 1 and fast_linear.install(layer) == 0  # once
    calls = []
    real_mm = torch.mm
    monkeypatch.setattr(torch, "mm", lambda *a: calls.append(1) or real_mm(*a))
    with torch.no_grad():
        for rows in (1, 2, 7, 64):
            x = torch.randn(rows, 1, 48)
            want = torch.nn.functional.linear(x, layer.weight, layer.bias)
            calls.clear()
            got = layer(x)
            assert got.shape == want.shape and got.is_contiguous()
            assert torch.allclose(got, want, atol=1e-5), rows
            assert bool(calls) == (rows > 1), rows  # one row: F.linear, untouched
        prompt = torch.randn(2, 5, 48)  # a prompt (several positions) and training take F.linear
        calls.clear()
        layer(prompt)
    layer(torch.randn(3, 1, 48))  # grad enabled
    assert not calls
    monkeypatch.setenv("WORKBENCH_FAST_LINEAR", "0")
    assert fast_linear.install(torch.nn.Linear(4, 4)) == 0

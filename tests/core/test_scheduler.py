"""The generation scheduler: batched columns give the same tokens as one-by-one greedy, every column streams,
concurrent users are batched together and get what they would get alone, a bad request fails alone."""
from __future__ import annotations

import threading

import pytest

from adapter_factory import make_adapter
from workbench.core.generation import batching
from workbench.core.kernels import mixed_lora as fast_mixed
from workbench.core.generation import answers as A
from workbench.core.generation import variants as G
from workbench.core.generation import columns as C
from workbench.core.generation import scheduler as S
from workbench.core.generation.requests import Request
from workbench.errors import WorkbenchError

PROMPT = "Write one word about the sea."
SETTINGS = A.GenSettings(max_new_tokens=10)


@pytest.fixture(scope="module")
def adapters(tiny_llama_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("sched-adapters")
    out = {f"lora{i}": make_adapter(tiny_llama_dir, root / f"lora{i}", "lora", seed=i) for i in (1, 2, 3)}
    out["dora"] = make_adapter(tiny_llama_dir, root / "dora", "dora")
    out["prompt_tuning"] = make_adapter(tiny_llama_dir, root / "pt", "prompt_tuning")
    out["ia3"] = make_adapter(tiny_llama_dir, root / "ia3", "ia3")
    return out


@pytest.fixture()
def fresh_env(monkeypatch):
    monkeypatch.delenv("WORKBENCH_BATCHING", raising=False)
    return monkeypatch


def _alone(vm, prompt, variant, settings=SETTINGS) -> A.GenResult:
    return A.generate(vm, prompt, variant, settings)


def test_columns_are_one_batch_with_one_by_one_tokens(tiny_llama_dir, adapters, fresh_env):
    loras = [adapters[f"lora{i}"] for i in (1, 2, 3)]
    vm = G.get_variants(tiny_llama_dir, loras)
    sched = S.scheduler_for(vm)
    sched.batch_sizes.clear()
    got = C.generate_columns(vm, PROMPT, settings=SETTINGS)
    assert sched.batch_sizes == [4]  # base + 3 LoRA adapters in ONE generate call
    want = [_alone(vm, PROMPT, v) for v in vm.variants]
    assert [(r.variant, r.text, r.tokens) for r in got] == [(r.variant, r.text, r.tokens) for r in want]
    assert len({r.text for r in got}) == 4  # the adapters really differ
    # the mixed batch really has an adapter per row (PEFT's adapter_names, handed to the layers by mixed_lora), in
    # every decoding step
    calls = []
    real_rows = fast_mixed.forward_rows
    fresh_env.setattr(fast_mixed, "forward_rows", lambda m, names, **k: calls.append(list(names)) or real_rows(m, names, **k))
    C.generate_columns(vm, PROMPT, settings=SETTINGS)
    assert calls[0] == ["__base__"] + vm.groups[0].names and len(calls) == SETTINGS.max_new_tokens
    # ... and so does generate when continuous batching is off
    fresh_env.setenv("WORKBENCH_CONTINUOUS", "0")
    calls.clear()
    real = vm.groups[0].model.generate
    fresh_env.setattr(vm.groups[0].model, "generate", lambda *a, **k: calls.append(k.get("adapter_names")) or real(*a, **k))
    got_off = C.generate_columns(vm, PROMPT, settings=SETTINGS)
    assert calls == [["__base__"] + vm.groups[0].names]
    assert [r.text for r in got_off] == [r.text for r in got]


def test_other_peft_types_get_their_own_batches(tiny_llama_dir, adapters, fresh_env):
    dirs = [adapters["lora1"], adapters["dora"], adapters["prompt_tuning"], adapters["ia3"]]
    vm = G.get_variants(tiny_llama_dir, dirs)
    kinds = [batching.batch_kind(vm, v) for v in vm.variants]
    assert kinds[0] == kinds[1] and len(set(kinds)) == 4  # base mixes with LoRA; DoRA, prompt tuning, IA3 alone
    sched = S.scheduler_for(vm)
    sched.batch_sizes.clear()
    got = C.generate_columns(vm, PROMPT, settings=SETTINGS)
    assert sorted(sched.batch_sizes) == [1, 1, 1, 2]
    assert [r.text for r in got] == [_alone(vm, PROMPT, v).text for v in vm.variants]


def test_stream_columns_streams_every_column(tiny_llama_dir, adapters, fresh_env):
    vm = G.get_variants(tiny_llama_dir, [adapters["lora1"], adapters["lora2"]])
    frames = list(C.stream_columns(vm, PROMPT, settings=A.GenSettings(max_new_tokens=12)))
    want = [r.text for r in C.generate_columns(vm, PROMPT, settings=A.GenSettings(max_new_tokens=12))]
    assert frames[-1] == want
    for col in range(3):
        seen = [f[col] for f in frames]
        assert all(b.startswith(a) for a, b in zip(seen, seen[1:]))
        assert len(set(seen)) > 2, col  # grew token by token, not in one piece
    it = C.stream_columns(vm, PROMPT, settings=A.GenSettings(max_new_tokens=400))
    next(it)
    it.close()  # cancels: the worker lets go of the model
    assert vm.lock.acquire(timeout=60)
    vm.lock.release()


def test_rows_of_different_lengths_and_prompts_match_alone(tiny_llama_dir, adapters, fresh_env):
    vm = G.get_variants(tiny_llama_dir, [adapters["lora1"], adapters["lora2"]])
    prompts = ["Hi", "Tell me a very long story about three ships on a cold grey morning, please.", "2 + 2 ="]
    reqs = [Request(v, A.GenSettings(max_new_tokens=3 + 4 * i), prompt=p)
            for i, p in enumerate(prompts) for v in vm.variants]
    sched = S.scheduler_for(vm)
    sched.batch_sizes.clear()
    got = S.generate_many(vm, reqs)
    assert sched.batch_sizes == [len(reqs)]
    assert [r.text for r in got] == [_alone(vm, r.prompt, r.variant, r.settings).text for r in reqs]
    assert [r.tokens for r in got] == [r.settings.max_new_tokens for r in reqs]  # random weights: no early stop


def test_concurrent_users_are_batched_and_get_their_own_text(tiny_llama_dir, adapters, fresh_env):
    vm = G.get_variants(tiny_llama_dir, [adapters["lora1"], adapters["lora2"]])
    want = {v: _alone(vm, PROMPT, v).text for v in vm.variants}
    sched = S.scheduler_for(vm)
    sched.window_s = 0.5  # long enough for both threads on a busy machine
    sched.batch_sizes.clear()
    got: dict[str, str] = {}
    start = threading.Barrier(2)

    def user(variant):
        start.wait()
        got[variant] = S.generate_many(vm, [Request(variant, SETTINGS, prompt=PROMPT, owner=variant)])[0].text
    threads = [threading.Thread(target=user, args=(v,)) for v in (adapters["lora1"], "base")]
    [t.start() for t in threads]
    [t.join(120) for t in threads]
    assert got == {v: want[v] for v in (adapters["lora1"], "base")}
    assert sched.batch_sizes == [2]


def test_bad_requests_fail_alone(tiny_llama_dir, adapters, fresh_env):
    vm = G.get_variants(tiny_llama_dir, [adapters["lora1"]])
    good = Request("base", SETTINGS, prompt=PROMPT)
    limit = vm.base_models()[0].config.max_position_embeddings
    handles = S.scheduler_for(vm).submit([
        good,
        Request("no-such-adapter", SETTINGS, prompt=PROMPT),
        Request("base", SETTINGS, prompt=None),
        Request("base", SETTINGS, prompt="word " * limit),
        Request("base", {"max_new_tokens": 5}, prompt=PROMPT),
        Request(adapters["lora1"], SETTINGS, prompt=PROMPT),
    ])
    assert handles[0].result(120).text == _alone(vm, PROMPT, "base").text
    assert handles[5].result(120).text == _alone(vm, PROMPT, adapters["lora1"]).text
    for h, match in zip(handles[1:5], ["Unknown variant", "must be text", "positions", "GenSettings"]):
        with pytest.raises((WorkbenchError, TypeError), match=match):
            h.result(1)


def test_an_exception_in_a_batch_reaches_only_its_request(tiny_llama_dir, adapters, fresh_env):
    vm = G.get_variants(tiny_llama_dir, [adapters["lora1"]])
    real = S.run_batch

    def fragile(vm_, rows, settings):  # a request that breaks whatever batch it is in
        if any("BOOM" in vm_.tokenizer.decode(r.ids) for r in rows):
            raise RuntimeError("broken row")
        return real(vm_, rows, settings)
    fresh_env.setattr(S, "run_batch", fragile)
    real_admit = S.decoding.RunningBatch.admit

    def fragile_admit(self, rows):
        if any("BOOM" in self.vm.tokenizer.decode(r.ids) for r in rows):
            raise RuntimeError("broken row")
        return real_admit(self, rows)
    fresh_env.setattr(S.decoding.RunningBatch, "admit", fragile_admit)
    sched = S.scheduler_for(vm)
    sched.batch_sizes.clear()
    handles = sched.submit([Request("base", SETTINGS, prompt=PROMPT),
                            Request(adapters["lora1"], SETTINGS, prompt="BOOM"),
                            Request(adapters["lora1"], SETTINGS, prompt=PROMPT)])
    assert handles[0].result(120).text == _alone(vm, PROMPT, "base").text
    assert handles[2].result(120).text == _alone(vm, PROMPT, adapters["lora1"]).text
    with pytest.raises(RuntimeError, match="broken row"):
        handles[1].result(1)
    assert sched.batch_sizes == [3, 1, 1, 1]  # the batch, then each request alone


def test_batching_switch_off_runs_requests_one_by_one(tiny_llama_dir, adapters, fresh_env):
    vm = G.get_variants(tiny_llama_dir, [adapters["lora1"], adapters["lora2"]])
    fresh_env.setenv("WORKBENCH_BATCHING", "0")
    sched = S.scheduler_for(vm)
    assert sched.batching is False
    got = C.generate_columns(vm, PROMPT, settings=SETTINGS)
    assert sched.batch_sizes == [1, 1, 1]
    fresh_env.setenv("WORKBENCH_BATCHING", "1")
    assert S.scheduler_for(vm).batching is True
    assert [r.text for r in got] == [r.text for r in C.generate_columns(vm, PROMPT, settings=SETTINGS)]


def test_sampled_columns_repeat_and_stay_in_their_submission(tiny_llama_dir, adapters, fresh_env):
    vm = G.get_variants(tiny_llama_dir, [adapters["lora1"]])
    s = A.GenSettings(max_new_tokens=8, do_sample=True, temperature=1.5, seed=3)
    sched = S.scheduler_for(vm)
    sched.window_s = 0.3
    sched.batch_sizes.clear()
    a = sched.submit(C._columns(vm, PROMPT, vm.variants, s, "u1"))
    b = sched.submit(C._columns(vm, PROMPT, vm.variants, s, "u2"))
    ta, tb = [h.result(120).text for h in a], [h.result(120).text for h in b]
    assert ta == tb and sched.batch_sizes == [2, 2]


def test_a_process_exits_only_after_its_batches_end(tiny_llama_dir, adapters, fresh_env):
    """A short row's result arrives while its batch still generates the long row; the exit hook waits for the batch
    (otherwise a CLI that printed its answers could abort at exit with 'terminate called without an active
    exception')."""
    import time

    vm = G.get_variants(tiny_llama_dir, [])
    sched = S.Scheduler(vm, batching=True, window_s=0.2)
    release = threading.Event()
    real = sched._generate

    def slow_tail(items):
        real(items)  # every row's on_done has fired: the handles have their results
        release.wait(5)  # ... while the worker thread is still inside the batch
    sched._generate = slow_tail
    h = sched.submit([Request("base", A.GenSettings(max_new_tokens=2), prompt="Hi")])[0]
    assert h.result().tokens >= 1
    assert not sched.wait_idle(timeout=0.2)  # the batch is still running
    threading.Timer(0.5, release.set).start()
    t0 = time.monotonic()
    S._finish_batches_before_exit()
    assert sched.wait_idle(timeout=0) and time.monotonic() - t0 >= 0.3


def test_generation_slots_are_a_batch_with_batching_and_the_app_limit_without(monkeypatch):
    monkeypatch.delenv("WORKBENCH_MAX_BATCH", raising=False)
    monkeypatch.delenv("WORKBENCH_BATCHING", raising=False)
    assert S.generation_slots(4) == S.max_batch_default() == 32
    monkeypatch.setenv("WORKBENCH_MAX_BATCH", "8")
    assert S.generation_slots(4) == 8
    monkeypatch.setenv("WORKBENCH_BATCHING", "0")  # one call at a time: more waiting calls only add threads
    assert S.generation_slots(4) == 4

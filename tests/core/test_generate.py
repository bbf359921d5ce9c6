"""Generation on one base model with several adapters: exactness against plain transformers / PEFT,
no adapter leakage into the base answer, streaming, teacher-forced log-prob differences, validation."""
from __future__ import annotations

import threading

import pytest
import torch

from adapter_factory import make_adapter
from workbench.core.generation import answers as A
from workbench.core.generation import variants as G
from workbench.core.model.adapter_files import AdapterError
from workbench.errors import SpecError

PROMPT = "Write one word about the sea."
SETTINGS = A.GenSettings(max_new_tokens=8)


@pytest.fixture(scope="module")
def adapters(tiny_llama_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("gen-adapters")
    out = {k: make_adapter(tiny_llama_dir, root / k, k) for k in
           ("lora", "dora", "prompt_tuning", "p_tuning", "prefix_tuning", "ia3")}
    out["lora2"] = make_adapter(tiny_llama_dir, root / "lora2", "lora", seed=7)
    out["zero"] = make_adapter(tiny_llama_dir, root / "zero", "lora", perturb=False)
    return out


def _plain_greedy(model, tok, prompt, max_new_tokens, chat=True):
    """Reference: what a learner would write with transformers/PEFT directly."""
    text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                   add_generation_prompt=True) if chat else prompt
    enc = tok([text], return_tensors="pt", add_special_tokens=not chat)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    return tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def _forward_greedy(model, tok, prompt, max_new_tokens):
    """Reference for prompt-learning adapters: greedy decoding with the adapter's own forward, one token at a time
    (PEFT 0.21's generate with transformers 5.24 re-inserts virtual tokens at every cached step or drops a prefix)."""
    text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    ids = tok([text], return_tensors="pt", add_special_tokens=False)["input_ids"]
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos]) | {tok.eos_token_id}
    new = []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            nxt = int(model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, -1].argmax())
            new.append(nxt)
            ids = torch.cat([ids, torch.tensor([[nxt]])], 1)
            if nxt in eos:
                break
    return tok.decode(new, skip_special_tokens=True)


def _fresh(model_dir, adapter_dir=None):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    if adapter_dir:
        model = PeftModel.from_pretrained(model, adapter_dir).eval()
    return model, AutoTokenizer.from_pretrained(model_dir)


def test_settings_validation_names_the_field():
    with pytest.raises(SpecError, match="generate.max_new_tokens"):
        A.GenSettings(max_new_tokens=0)
    with pytest.raises(SpecError, match="generate.top_p"):
        A.GenSettings(top_p=1.5)
    with pytest.raises(SpecError, match="generate.temperature"):
        A.GenSettings(temperature=0)
    assert A.GenSettings().do_sample is False


def test_all_methods_match_plain_transformers_and_peft(tiny_llama_dir, adapters):
    kinds = ["lora", "dora", "prompt_tuning", "p_tuning", "prefix_tuning", "ia3"]
    vm = G.get_variants(tiny_llama_dir, [adapters[k] for k in kinds])
    assert vm.variants == ["base"] + [adapters[k] for k in kinds]
    base = A.generate(vm, PROMPT, "base", SETTINGS)
    model, tok = _fresh(tiny_llama_dir)
    assert base.text == _plain_greedy(model, tok, PROMPT, 8)
    assert base.tokens == 8
    for k in kinds:
        ours = A.generate(vm, PROMPT, adapters[k], SETTINGS)
        pm, _ = _fresh(tiny_llama_dir, adapters[k])
        reference = _forward_greedy if "tuning" in k else _plain_greedy
        assert ours.text == reference(pm, tok, PROMPT, 8), k
        if "tuning" in k:  # a padded batch of two prompts gives each its own answer
            other = "Name a colour."
            pair = A.generate_texts(vm, [vm.render(PROMPT), vm.render(other)], adapters[k], SETTINGS, batch_size=2)
            assert [r.text for r in pair] == [ours.text, _forward_greedy(pm, tok, other, 8)], k
        assert ours.variant == adapters[k]
        # base answer unchanged after every adapter (no leakage, incl. prompt tuning's generate)
        assert A.generate(vm, PROMPT, "base", SETTINGS).text == base.text, k
    assert A.generate(vm, PROMPT, adapters["lora"], SETTINGS).text != base.text
    # raw prompt (no chat template) goes through the same path
    raw = A.generate(vm, "The sea is", "base", A.GenSettings(max_new_tokens=5, use_chat_template=False))
    assert raw.text == _plain_greedy(model, tok, "The sea is", 5, chat=False)


def test_two_lora_adapters_share_one_base(tiny_llama_dir, adapters, monkeypatch):
    from workbench.core.model import loading as models
    calls = []
    real = models.load_model
    monkeypatch.setattr(models, "load_model", lambda *a, **k: calls.append(a) or real(*a, **k))
    vm = G.VariantModel(tiny_llama_dir, [adapters["lora"], adapters["lora2"]])
    assert len(calls) == 1 and vm.n_base_copies == 1
    assert len({id(m) for m in vm.base_models()}) == 1
    pm = vm.groups[0].model
    assert sorted(pm.peft_config) == sorted(vm.groups[0].names)
    a = A.generate(vm, PROMPT, adapters["lora"], SETTINGS).text
    b = A.generate(vm, PROMPT, adapters["lora2"], SETTINGS).text
    base = A.generate(vm, PROMPT, "base", SETTINGS).text
    assert len({a, b, base}) == 3
    # short adapter names work too
    assert A.generate(vm, PROMPT, vm.groups[0].names[1], SETTINGS).text == b
    with pytest.raises(G.WorkbenchError, match="Unknown variant"):
        A.generate(vm, PROMPT, "nope", SETTINGS)


def test_cache_returns_same_object_and_reloads_retrained(tiny_llama_dir, adapters, tmp_path):
    vm1 = G.get_variants(tiny_llama_dir, [adapters["lora"]])
    assert G.get_variants(tiny_llama_dir, [adapters["lora"]]) is vm1
    d = make_adapter(tiny_llama_dir, tmp_path / "re", "lora", seed=3)
    vm2 = G.get_variants(tiny_llama_dir, [d])
    make_adapter(tiny_llama_dir, tmp_path / "re", "lora", seed=4)  # retrained into the same folder
    assert G.get_variants(tiny_llama_dir, [d]) is not vm2


def test_concurrent_users_do_not_interleave(tiny_llama_dir, adapters):
    vm = G.get_variants(tiny_llama_dir, [adapters["lora"], adapters["lora2"]])
    want = {v: A.generate(vm, PROMPT, v, SETTINGS).text for v in vm.variants}
    got: dict[str, list[str]] = {v: [] for v in vm.variants}

    def worker(v):
        for _ in range(3):
            got[v].append(A.generate(vm, PROMPT, v, SETTINGS).text)
    threads = [threading.Thread(target=worker, args=(v,)) for v in vm.variants]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert all(texts == [want[v]] * 3 for v, texts in got.items())


def test_stream_matches_generate_and_can_stop(tiny_llama_dir, adapters):
    vm = G.get_variants(tiny_llama_dir, [adapters["lora"], adapters["lora2"]])
    for v in vm.variants:
        chunks = list(A.stream(vm, PROMPT, v, SETTINGS))
        assert chunks and chunks[-1] == A.generate(vm, PROMPT, v, SETTINGS).text
        assert all(b.startswith(a) for a, b in zip(chunks, chunks[1:]))
    it = A.stream(vm, PROMPT, adapters["lora"], A.GenSettings(max_new_tokens=200))
    next(it)
    it.close()  # stops the worker; the lock is free again
    assert vm.lock.acquire(timeout=30)
    vm.lock.release()


def test_sampling_is_seeded(tiny_llama_dir, adapters):
    vm = G.get_variants(tiny_llama_dir, [adapters["lora"], adapters["lora2"]])
    s = A.GenSettings(max_new_tokens=10, do_sample=True, temperature=1.5, seed=5)
    a = A.generate(vm, PROMPT, adapters["lora"], s).text
    assert A.generate(vm, PROMPT, adapters["lora"], s).text == a


def test_token_logprob_diff(tiny_llama_dir, adapters):
    vm = G.get_variants(tiny_llama_dir, [adapters["zero"], adapters["lora"]])
    resp = "The waves are calm tonight."
    zero = A.token_logprob_diff(vm, PROMPT, resp, adapters["zero"])
    n = len(vm.tokenizer(resp, add_special_tokens=False)["input_ids"])
    assert len(zero) == n and "".join(t for t, _ in zero) == resp
    assert max(abs(d) for _, d in zero) < 1e-5
    pert = A.token_logprob_diff(vm, PROMPT, resp, adapters["lora"])
    assert max(abs(d) for _, d in pert) > 1e-2
    # independent check of one value with a fresh PeftModel
    pm, tok = _fresh(tiny_llama_dir, adapters["lora"])
    text = tok.apply_chat_template([{"role": "user", "content": PROMPT}], tokenize=False, add_generation_prompt=True)
    p = tok(text, add_special_tokens=False)["input_ids"]
    r = tok(resp, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p + r])
    with torch.no_grad():
        la = torch.log_softmax(pm(input_ids=ids).logits[0, len(p) - 1], -1)[r[0]]
        with pm.disable_adapter():
            lb = torch.log_softmax(pm(input_ids=ids).logits[0, len(p) - 1], -1)[r[0]]
    assert pert[0][1] == pytest.approx(float(la - lb), abs=1e-4)


def test_prompt_learning_logprob_diff(tiny_llama_dir, adapters):
    vm = G.get_variants(tiny_llama_dir, [adapters["prompt_tuning"], adapters["prefix_tuning"]])
    for k in ("prompt_tuning", "prefix_tuning"):
        diffs = A.token_logprob_diff(vm, PROMPT, "Blue water.", adapters[k])
        assert diffs and max(abs(d) for _, d in diffs) > 1e-4


def test_adapter_for_other_architecture_is_refused(tiny_llama_dir, tmp_path, tiny_config_factory, tokenizer):
    from transformers import AutoModelForCausalLM
    cfg = tiny_config_factory("llama", vocab_size=len(tokenizer))
    cfg.hidden_size, cfg.intermediate_size = 32, 64
    other = tmp_path / "other-model"
    AutoModelForCausalLM.from_config(cfg).save_pretrained(other)
    tokenizer.save_pretrained(other)
    for kind in ("lora", "prompt_tuning", "ia3"):
        d = make_adapter(str(other), tmp_path / f"other-{kind}", kind)
        with pytest.raises(AdapterError, match="different architecture"):
            G.VariantModel(tiny_llama_dir, [d])


def test_not_an_adapter(tiny_llama_dir, tmp_path):
    with pytest.raises(AdapterError, match="not found"):
        G.get_variants(tiny_llama_dir, [str(tmp_path / "missing")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(AdapterError, match="not a PEFT adapter"):
        G.get_variants(tiny_llama_dir, [str(tmp_path / "empty")])


@pytest.mark.slow
def test_embedded_model_matches_transformers_and_peft(embedded_dir, tmp_path):
    name = "smollm2-135m-instruct"
    d = make_adapter(str(embedded_dir), tmp_path / "smol-lora", "lora", scale=0.05)
    vm = G.get_variants(name, [d])
    s = A.GenSettings(max_new_tokens=16)
    prompt = "What is the capital of France?"
    base = A.generate(vm, prompt, "base", s)
    adapted = A.generate(vm, prompt, d, s)
    model, tok = _fresh(str(embedded_dir))
    assert base.text == _plain_greedy(model, tok, prompt, 16)
    del model
    pm, _ = _fresh(str(embedded_dir), d)
    assert adapted.text == _plain_greedy(pm, tok, prompt, 16)
    assert adapted.text != base.text
    assert A.generate(vm, prompt, "base", s).text == base.text


def test_cli_generate_json(tiny_llama_dir, adapters):
    import json
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "workbench", "generate", "--model", tiny_llama_dir,
                        "--adapter", adapters["lora"], "--adapter", adapters["lora2"], "--prompt", PROMPT,
                        "--max-new-tokens", "6", "--json"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert [r["variant"] for r in out] == ["base", adapters["lora"], adapters["lora2"]]
    assert all(set(r) == {"variant", "text", "tokens"} and isinstance(r["tokens"], int) for r in out)
    vm = G.get_variants(tiny_llama_dir, [adapters["lora"], adapters["lora2"]])
    s = A.GenSettings(max_new_tokens=6)
    assert [r["text"] for r in out] == [A.generate(vm, PROMPT, v, s).text for v in vm.variants]


@pytest.mark.parametrize("args,match", [
    (["--max-new-tokens", "0"], "generate.max_new_tokens"),
    (["--top-p", "2", "--do-sample"], "generate.top_p"),
    (["--adapter", "/nonexistent/adapter"], "Adapter folder not found"),
])
def test_cli_generate_bad_arguments(tiny_llama_dir, args, match):
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "workbench", "generate", "--model", tiny_llama_dir, "--prompt", "hi",
                        "--json", *args], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and p.stdout == ""
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and match in lines[0], p.stderr

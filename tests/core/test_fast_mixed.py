"""Mixed-adapter LoRA batches in one pair of matmuls per layer (``kernels.mixed_lora``) compute what PEFT's own mixed forward
and each adapter alone compute, and leave what they do not cover (DoRA, gradients) to PEFT."""
from __future__ import annotations

import copy

import pytest
import torch

from workbench.core.kernels import mixed_lora as fast_mixed


@pytest.fixture(scope="module")
def peft_pair(tiny_llama_dir):
    """(PEFT's model, the same with mixed_lora installed): adapters of ranks 2 / 4 / 8, scalings 2 / 0.75 / 1.5, one DoRA."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    pm = get_peft_model(base, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]), adapter_name="one")
    pm.add_adapter("two", LoraConfig(r=4, lora_alpha=3, target_modules=["q_proj", "v_proj", "down_proj"]))
    pm.add_adapter("three", LoraConfig(r=8, lora_alpha=12, target_modules=["v_proj"]))
    pm.add_adapter("dora", LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"], use_dora=True))
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_B" in name or "lora_magnitude" in name:
                p.normal_(0, 0.5)
    pm.eval()
    from peft.tuners.lora.layer import Linear
    fast = copy.deepcopy(pm)
    layers = sum(type(m) is Linear for m in fast.modules())
    assert layers == 3 * pm.config.num_hidden_layers  # q_proj, v_proj, down_proj (the adapters share layers)
    assert fast_mixed.install(fast) == layers
    return pm, fast


def _logits(model, names, ids):
    with torch.no_grad():
        return model(input_ids=ids, adapter_names=names).logits


def _counting(monkeypatch) -> list:
    calls: list = []
    real = fast_mixed._stacked
    monkeypatch.setattr(fast_mixed, "_stacked", lambda *a: calls.append(1) or real(*a))
    return calls


def test_same_as_peft_and_as_each_adapter_alone(peft_pair, monkeypatch):
    pm, fast = peft_pair
    names = ["__base__", "one", "two", "three", "one", "__base__"]
    ids = torch.randint(5, 200, (len(names), 7))
    calls = _counting(monkeypatch)
    want, got = _logits(pm, names, ids), _logits(fast, names, ids)
    assert len(calls) == 3 * pm.config.num_hidden_layers  # every adapted layer took the fast path
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(want[1], want[2])  # the adapters do change the rows
    for i, n in enumerate(names):  # and each row is its adapter's (or the base's) own answer
        with torch.no_grad():
            if n == "__base__":
                with pm.disable_adapter():
                    alone = pm(input_ids=ids[i:i + 1]).logits
            else:
                pm.set_adapter(n)
                alone = pm(input_ids=ids[i:i + 1]).logits
        torch.testing.assert_close(got[i:i + 1], alone, rtol=1e-4, atol=1e-4)
    pm.set_adapter("one")


def test_one_position_decoding_rows_and_a_batch_without_base(peft_pair):
    pm, fast = peft_pair
    names = ["three", "two", "two", "one"]
    ids = torch.randint(5, 200, (4, 1))
    torch.testing.assert_close(_logits(fast, names, ids), _logits(pm, names, ids), rtol=1e-5, atol=1e-5)


def test_gradients_go_to_peft_and_dora_stays_refused(peft_pair, monkeypatch):
    pm, fast = peft_pair
    calls = _counting(monkeypatch)
    ids = torch.randint(5, 200, (3, 5))
    _logits(fast, ["one", "__base__", "one"], ids)
    assert calls  # a plain LoRA batch takes the fast path (beside a DoRA adapter the batch does not use)
    calls.clear()
    names = ["one", "two", "three"]
    with torch.enable_grad():
        got = fast(input_ids=ids, adapter_names=names).logits
        want = pm(input_ids=ids, adapter_names=names).logits
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert not calls  # with gradients on, PEFT's own forward
    for model in (pm, fast):  # PEFT refuses DoRA in mixed batches (on copies: PEFT leaves its hooks on after that)
        with pytest.raises(ValueError, match="DoRA"):
            _logits(copy.deepcopy(model), ["__base__", "dora", "one"], ids)


def test_forward_rows_hands_the_names_to_the_layers_directly(peft_pair, monkeypatch):
    pm, fast = peft_pair
    names = ["three", "__base__", "two", "one"]
    ids = torch.randint(5, 200, (4, 6))
    hooks = []
    real = type(fast.base_model)._enable_peft_forward_hooks
    monkeypatch.setattr(type(fast.base_model), "_enable_peft_forward_hooks",
                        lambda self, *a, **k: hooks.append(k.get("adapter_names")) or real(self, *a, **k))
    with torch.no_grad():
        got = fast_mixed.forward_rows(fast, names, input_ids=ids).logits
    assert not any(hooks)  # no per-call hooks: the layers read the names themselves
    torch.testing.assert_close(got, _logits(pm, names, ids), rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # outside forward_rows the layers run the active adapter on every row, as before
        torch.testing.assert_close(fast(input_ids=ids).logits, pm(input_ids=ids).logits, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="non-existing"):
        fast_mixed.forward_rows(fast, ["one", "nope", "one", "one"], input_ids=ids)


def test_a_lora_embedding_keeps_peft_hooks(tiny_llama_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    pm = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama_dir),
                        LoraConfig(r=2, target_modules=["q_proj", "embed_tokens"]), adapter_name="one").eval()
    assert fast_mixed.install(pm) > 0 and not pm.__dict__["_wb_direct_rows"]
    ids = torch.randint(5, 200, (2, 4))
    with torch.no_grad():
        got = fast_mixed.forward_rows(pm, ["one", "__base__"], input_ids=ids).logits
        want = pm(input_ids=ids, adapter_names=["one", "__base__"]).logits
    torch.testing.assert_close(got, want)


def test_switched_off(peft_pair, monkeypatch):
    monkeypatch.setenv("WORKBENCH_FAST_MIXED", "0")
    assert fast_mixed.install(copy.deepcopy(peft_pair[0])) == 0

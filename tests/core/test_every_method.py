"""Every registered method, end to end, driven by the registry: train 2 steps on a tiny random Llama through the real
training path, count it as PEFT does, reload the saved adapter with plain PEFT (a fresh transformers base) and
generate with it, then answer with the workbench's own generation (VariantModel: one answer, and base + adapter
rows through the scheduler) and get the same tokens. A method added to the registry is tested here with no edit.

Sizes are the smallest that still train (rank 2, 4 virtual tokens, 16-wide encoders, 2 examples of <= 64 tokens).
"""
from __future__ import annotations

import json

import pytest
import torch

from workbench.core.generation import answers as A
from workbench.core.generation import variants as G
from workbench.core.generation.requests import Request
from workbench.core.generation.scheduler import generate_many
from workbench.core.runstore import run_dirs as runs
from workbench.core.training import trainer as train
from workbench.spec import methods
from workbench.spec.settings import RunSpec

PROMPT = "Write one word about the sea."
NEW_TOKENS = 3
SMALL = {"r": 2, "alpha": 4, "num_virtual_tokens": 4, "encoder_hidden_size": 16, "prefix_hidden_size": 16}
"""The smallest value of each size knob (a method's ``size_knobs``; the others keep their defaults)."""
TINY_OPTIONS = {"vector_length": 16, "num_vectors": 8, "group_size": 16, "n_frequency": 64, "oft_block_size": 16,
                "block_size": 16, "boft_block_size": 4, "theta_d_length": 32, "adapter_len": 4, "adapter_layers": 1,
                "num_layers": 1, "u": 8}
"""Options sized for the tiny model's widths (64, 32 and 128), by knob name: a method's defaults fit real models."""


def _four_bit_unavailable() -> str | None:
    """Why bitsandbytes cannot run 4-bit here (None when it can)."""
    try:
        import bitsandbytes.functional as F
        F.quantize_4bit(torch.ones(64, 64), quant_type="nf4")
    except Exception as e:  # noqa: BLE001 - any failure means: no 4-bit on this CPU
        return f"bitsandbytes cannot quantize to 4-bit on this CPU ({type(e).__name__}: {e})"
    return None


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_run(model_dir: str, method: str) -> RunSpec:
    record = methods.get(method)
    adapter = {"method": method, **{k: SMALL[k] for k in record.size_knobs if k in SMALL}}
    options = {o.name: TINY_OPTIONS[o.name] for o in record.options if o.name in TINY_OPTIONS}
    if options:
        adapter["options"] = options
    if "dropout" in record.knobs:
        adapter["dropout"] = 0.0
    train_kw = {"max_steps": 2, "learning_rate": 5e-2, "batch_size": 2, "warmup_steps": 0, "lr_scheduler": "constant",
                "save_steps": 100, "eval_at_end": False, "score_prompts": 0, "forgetting": False, "device": "cpu",
                "group_by_length": False}
    return RunSpec.from_dict({"model": {"name": model_dir}, "adapter": adapter,
                              "data": {"name": "json-format", "limit": 2, "max_length": 64, "use_chat_template": False},
                              "train": train_kw})


@torch.no_grad()
def forward_greedy(model, tok, prompt: str, n: int) -> str:
    """Greedy answer through the model's own forward, one token at a time (what every PEFT method defines, prompt
    learning included: PEFT 0.21's ``generate`` mishandles virtual tokens with transformers 5.24)."""
    text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    ids = tok([text], return_tensors="pt", add_special_tokens=False)["input_ids"]
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos]) | {tok.eos_token_id}
    new = []
    for _ in range(n):
        nxt = int(model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, -1].argmax())
        new.append(nxt)
        ids = torch.cat([ids, torch.tensor([[nxt]])], 1)
        if nxt in eos:
            break
    return tok.decode(new, skip_special_tokens=True)


@pytest.mark.parametrize("method", methods.names())
def test_method_trains_saves_reloads_and_generates(method, tiny_llama_dir, runs_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.core.model.counting import count
    from workbench.core.model.loading import MODEL_CACHE
    record = methods.get(method)
    if record.quantized and (why := _four_bit_unavailable()):
        pytest.skip(why)
    spec = tiny_run(tiny_llama_dir, method)

    # 1. the real training path: a run folder, two optimizer steps, the adapter saved
    run_dir = runs.safe_run_dir(runs.create_run(spec))
    st = train.execute(run_dir).status
    assert st.status == "done" and st.step == 2, st
    assert st.trainable_params == count(MODEL_CACHE.meta(tiny_llama_dir), spec.adapter).trainable  # PEFT's count
    adapter = run_dir / "adapter"
    if record.full_model:
        return _check_whole_model(adapter, tiny_llama_dir)
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["peft_type"] == record.peft_type
    assert methods.adapter_method(config["peft_type"], config, run_method=method) == method

    # 2. plain PEFT on a fresh transformers base: it loads, the trained adapter changes the output, it generates
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    ids = tok([PROMPT], return_tensors="pt")
    base_reference = forward_greedy(base, tok, PROMPT, NEW_TOKENS)  # before PEFT injects layers into it
    with torch.no_grad():
        base_logits = base(**ids).logits[0, -1]
        plain = PeftModel.from_pretrained(base, str(adapter)).eval()
        adapted_logits = plain(**ids).logits[0, -1]
        assert not torch.allclose(adapted_logits, base_logits), f"{method}: the adapter changes nothing"
        out = plain.generate(**ids, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]  # new tokens (their values: see the reference below)
    reference = forward_greedy(plain, tok, PROMPT, NEW_TOKENS)
    del plain, base

    # 3. the workbench's generation: the same model switched on and off, one answer, then base and adapter rows
    # submitted together to the scheduler
    vm = G.VariantModel(tiny_llama_dir, [str(adapter)])
    with torch.no_grad():
        for variant, want in ((str(adapter), adapted_logits), ("base", base_logits), (str(adapter), adapted_logits)):
            with vm.activate(variant) as model:
                assert torch.allclose(model(**ids).logits[0, -1], want, atol=1e-5), (method, variant)
    settings = A.GenSettings(max_new_tokens=NEW_TOKENS)
    assert A.generate(vm, PROMPT, str(adapter), settings).text == reference, method
    assert A.generate(vm, PROMPT, "base", settings).text == base_reference, method  # nothing leaks into the base
    both = generate_many(vm, [Request(variant="base", prompt=PROMPT, settings=settings),
                              Request(variant=str(adapter), prompt=PROMPT, settings=settings)])
    assert [r.text for r in both] == [base_reference, reference], method


def _check_whole_model(saved, base_dir: str) -> None:
    """Full fine-tuning saved a whole transformers checkpoint: plain transformers loads it (with its tokenizer), its
    output differs from the base's, it generates, and the workbench's generation hosts it as a model of its own."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    card = (saved / "README.md").read_text(encoding="utf-8")  # its model card says how to load a whole model
    assert "library_name: transformers" in card and 'AutoModelForCausalLM.from_pretrained("path/to/this/model")' in card
    tok = AutoTokenizer.from_pretrained(str(saved))
    ids = tok([PROMPT], return_tensors="pt")
    with torch.no_grad():
        trained = AutoModelForCausalLM.from_pretrained(str(saved)).eval()
        base = AutoModelForCausalLM.from_pretrained(base_dir).eval()
        logits = trained(**ids).logits[0, -1]
        assert not torch.allclose(logits, base(**ids).logits[0, -1]), "full fine-tuning changed nothing"
        out = trained.generate(**ids, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]
    reference = forward_greedy(trained, tok, PROMPT, NEW_TOKENS)
    vm = G.VariantModel(str(saved), [])
    with torch.no_grad(), vm.activate(G.BASE) as model:
        assert torch.allclose(model(**ids).logits[0, -1], logits, atol=1e-5)
    assert A.generate(vm, PROMPT, G.BASE, A.GenSettings(max_new_tokens=NEW_TOKENS)).text == reference


def test_full_fine_tuning_has_no_peft_config():
    from workbench.core.model.peft_config import peft_config_kwargs
    from workbench.errors import SpecError
    from workbench.spec.settings import AdapterSpec
    with pytest.raises(SpecError, match="full fine-tuning trains the model itself: it has no PEFT config"):
        peft_config_kwargs(AdapterSpec(method="full"), None)


def test_two_ln_tuning_adapters_and_a_lora_share_the_variant_model(tiny_llama_dir, tmp_path):
    """LN tuning adapters are hosted side by side on one base copy (PEFT switches their copies with set_adapter),
    beside a LoRA group; the scheduler batches them per variant (PEFT has no mixed batches for LN tuning)."""
    from peft import LNTuningConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from adapter_factory import make_adapter
    dirs = []
    for seed in (1, 2):  # trained-looking LN copies: every scale moved
        torch.manual_seed(seed)
        pm = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), LNTuningConfig(task_type="CAUSAL_LM"))
        with torch.no_grad():
            for p in (p for p in pm.parameters() if p.requires_grad):
                p.mul_(torch.rand_like(p) * 6)
        pm.save_pretrained(str(tmp_path / f"ln{seed}"))
        dirs.append(str(tmp_path / f"ln{seed}"))
    dirs.append(make_adapter(tiny_llama_dir, tmp_path / "lora", "lora"))
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    want = {"base": forward_greedy(AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval(), tok, PROMPT, 4)}
    for d in dirs:
        plain = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), d).eval()
        want[d] = forward_greedy(plain, tok, PROMPT, 4)
    assert len(set(want.values())) == 4  # four different answers: a leak or a wrong switch would show

    vm = G.VariantModel(tiny_llama_dir, dirs)
    assert [(g.peft_type, len(g.names)) for g in vm.groups] == [("LN_TUNING", 2), ("LORA", 1)]
    settings = A.GenSettings(max_new_tokens=4)
    for v in [dirs[0], dirs[1], "base", dirs[2], dirs[0]]:
        assert A.generate(vm, PROMPT, v, settings).text == want[v], v
    order = ["base", dirs[0], dirs[1], dirs[2], dirs[1], "base"]
    got = generate_many(vm, [Request(variant=v, prompt=PROMPT, settings=settings) for v in order])
    assert [r.text for r in got] == [want[v] for v in order]

"""Analytic parameter counts must EQUAL PEFT's get_nb_trainable_parameters() on the same model."""
from __future__ import annotations

import time
import warnings

import pytest

from workbench.core.model.loading import build_meta_model, load_config
from workbench.core.model.modules import TargetError
from workbench.core.model.counting import ParamCount, count, count_with_peft, sweep
from workbench.errors import SpecError
from workbench.spec.settings import AdapterSpec

ARCHS = ["llama", "qwen2", "gpt2", "t5", "bart"]

METHOD_SPECS = {
    "lora": dict(method="lora"),
    "dora": dict(method="dora"),
    "qlora": dict(method="qlora", r=4),
    "prompt_tuning": dict(method="prompt_tuning", num_virtual_tokens=7),
    "p_tuning_mlp": dict(method="p_tuning"),
    "p_tuning_lstm": dict(method="p_tuning", encoder_reparameterization_type="LSTM", encoder_hidden_size=24),
    "prefix": dict(method="prefix_tuning"),
    "prefix_projection": dict(method="prefix_tuning", prefix_projection=True, prefix_hidden_size=48),
    "ia3": dict(method="ia3"),
    "ln_tuning": dict(method="ln_tuning"),
}


def assert_same(model_or_config, spec: AdapterSpec, model=None) -> ParamCount:
    model = model if model is not None else build_meta_model(model_or_config)
    ours = count(model, spec)
    assert (ours.trainable, ours.total) == count_with_peft(model_or_config, spec), spec
    return ours


@pytest.fixture(scope="module")
def smollm2():
    return build_meta_model(load_config("SmolLM2-135M"))


# --------------------------------------------------------------------------- every method x every architecture

@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("case", list(METHOD_SPECS))
def test_every_method_equals_peft(arch, case, tiny_config_factory):
    c = assert_same(tiny_config_factory(arch), AdapterSpec(**METHOD_SPECS[case]))
    assert c.trainable > 0 and c.total > c.trainable


@pytest.mark.parametrize("arch,spec", [
    ("qwen2", dict(bias="all")),  # q/k/v biases train too
    ("qwen2", dict(bias="lora_only", target_modules="all-linear")),
    ("gpt2", dict(bias="all", target_modules=["c_attn", "mlp.c_proj"])),  # Conv1D biases
    ("gpt2", dict(method="dora", bias="lora_only", target_modules="all-linear")),
    ("bart", dict(bias="all", modules_to_save=["lm_head"])),
    ("llama", dict(modules_to_save=["lm_head"])),  # tied: the copy is a new, trainable weight
    ("llama", dict(modules_to_save=["norm"])),  # PEFT's plain endswith: input_layernorm too
    ("llama", dict(modules_to_save=["self_attn"], target_modules=["q_proj", "up_proj"])),
    ("qwen2", dict(bias="all", modules_to_save=["q_proj"], target_modules=["v_proj"])),
    ("llama", dict(method="dora", target_modules=["embed_tokens", "lm_head"])),  # LoRA / DoRA on embeddings
    ("t5", dict(target_modules=r".*decoder.*\.(q|k|v|o)", use_rslora=True, r=5)),
    ("t5", dict(method="ia3", target_modules=["q", "wi"], feedforward_modules=["wi"])),
    ("gpt2", dict(method="ia3", target_modules="all-linear")),
    ("llama", dict(method="ln_tuning", target_modules=["norm", "input_layernorm"])),  # endswith: not post_attention_
    ("llama", dict(method="ln_tuning", target_modules="all-linear")),  # PEFT copies every Linear but the head
    ("llama", dict(method="ln_tuning", target_modules=["embed_tokens"])),  # tied to lm_head: the copy is new
    ("llama", dict(method="ln_tuning", target_modules=["mlp"])),  # whole blocks
    ("gpt2", dict(method="ln_tuning", target_modules=r".*\.h\.1\.ln_\d")),
    ("bart", dict(method="ln_tuning", target_modules=["final_layer_norm"])),
])
def test_lora_options_equal_peft(arch, spec, tiny_config_factory):
    assert_same(tiny_config_factory(arch), AdapterSpec(**spec))


def test_bias_and_dora_add_what_they_should(tiny_config_factory):
    cfg = tiny_config_factory("qwen2")
    model = build_meta_model(cfg)
    base = count(model, AdapterSpec(target_modules=["q_proj"]))
    assert base.trainable == 2 * 8 * (64 + 64)
    assert count(model, AdapterSpec(target_modules=["q_proj"], bias="lora_only")).trainable == base.trainable + 2 * 64
    all_biases = 2 * (64 + 32 + 32)  # q, k, v biases in both layers
    assert count(model, AdapterSpec(target_modules=["q_proj"], bias="all")).trainable == base.trainable + all_biases
    assert count(model, AdapterSpec(method="dora", target_modules=["q_proj"])).trainable == base.trainable + 2 * 64
    assert count(model, AdapterSpec(target_modules=["q_proj"], use_rslora=True)).trainable == base.trainable


def test_seq2seq_prompt_counts_double(tiny_config_factory):
    t5 = build_meta_model(tiny_config_factory("t5"))
    gpt2 = build_meta_model(tiny_config_factory("gpt2"))
    spec = AdapterSpec(method="prompt_tuning", num_virtual_tokens=5)
    assert count(t5, spec).trainable == 2 * 5 * 64  # encoder + decoder
    assert count(gpt2, spec).trainable == 5 * 64


def test_conv1d_counts_in_plus_out(tiny_config_factory):
    gpt2 = build_meta_model(tiny_config_factory("gpt2"))
    c = count(gpt2, AdapterSpec(r=4))
    assert (c.trainable, c.layers) == (2 * 4 * (64 + 192), 2)


# --------------------------------------------------------------------------- real presets

def test_smollm2_ranks(smollm2):
    rows = sweep(smollm2, AdapterSpec(target_modules=["q_proj", "v_proj"]), [1, 4, 8, 64])
    assert [r.trainable for r in rows] == [57_600, 230_400, 460_800, 3_686_400]
    assert [r.total - r.trainable for r in rows] == [134_515_008] * 4
    assert [r.rank for r in rows] == [1, 4, 8, 64] and rows[0].layers == 60
    for r in (rows[0], rows[-1]):  # the literal figures above are PEFT's for every rank
        spec = AdapterSpec(target_modules=["q_proj", "v_proj"], r=r.rank)
        assert (r.trainable, r.total) == count_with_peft(smollm2, spec)


def test_smollm2_byte_sizes(smollm2):
    c = count(smollm2, AdapterSpec(target_modules=["q_proj", "v_proj"], r=8))
    assert (c.adapter_bytes_fp32, c.adapter_bytes_bf16) == (460_800 * 4, 460_800 * 2)
    assert c.percent == pytest.approx(100 * 460_800 / (134_515_008 + 460_800))


def test_embedded_model_counts_from_config(embedded_dir):
    """The embedded model is counted from its cached checkpoint config, on meta: no weights read."""
    model = build_meta_model(load_config("smollm2-135m-instruct"))
    assert count(model, AdapterSpec(target_modules=["q_proj", "v_proj"], r=8)).trainable == 460_800
    assert count(model, AdapterSpec()).total == 134_515_008 + 460_800


def test_llama3_70b_equals_peft_and_is_fast():
    cfg = load_config("Llama-3-70B")
    model = build_meta_model(cfg)
    spec = AdapterSpec(target_modules=["q_proj", "v_proj"], r=16)
    t0 = time.perf_counter()
    ours = count(model, spec)
    analytic = time.perf_counter() - t0
    assert (ours.trainable, ours.total) == count_with_peft(cfg, spec)
    assert ours.trainable == 80 * 16 * ((8192 + 8192) + (8192 + 1024))
    assert analytic < 1.0  # typically ~10 ms; a loose bound for a busy 2-core machine
    t0 = time.perf_counter()
    rows = sweep(model, spec, [1, 2, 4, 8, 16, 32, 64, 128, 256])
    assert time.perf_counter() - t0 < 1.0 and rows[4].trainable == ours.trainable


def test_qlora_on_real_4bit_model_equals_peft(tmp_path, tiny_config_factory):
    """PEFT undoes bitsandbytes' 4-bit packing, so QLoRA counts equal LoRA counts on the unquantized model."""
    pytest.importorskip("bitsandbytes")
    import peft
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig
    from workbench.core.model.peft_config import build_peft_config
    cfg = tiny_config_factory("qwen2", vocab_size=256)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q4 = AutoModelForCausalLM.from_pretrained(
            tmp_path, device_map={"": "cpu"},
            quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                   bnb_4bit_use_double_quant=True,
                                                   bnb_4bit_compute_dtype=torch.bfloat16))
    spec = AdapterSpec(method="qlora", target_modules="all-linear", bias="lora_only")
    ours = count(q4, spec)  # analytic, on the quantized model itself
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        truth = peft.get_peft_model(q4, build_peft_config(spec, cfg)).get_nb_trainable_parameters()
    assert (ours.trainable, ours.total) == truth
    lora = count(build_meta_model(cfg), AdapterSpec(method="lora", target_modules="all-linear", bias="lora_only"))
    assert (lora.trainable, lora.total) == truth


# --------------------------------------------------------------------------- errors and sweeps

def test_bad_targets_raise_target_error(tiny_config_factory):
    model = build_meta_model(tiny_config_factory("llama"))
    with pytest.raises(TargetError, match="closest: q_proj"):
        count(model, AdapterSpec(target_modules=["q_porj"]))
    with pytest.raises(TargetError, match="modules_to_save entry 'lm_haed'.*closest: lm_head"):
        count(model, AdapterSpec(modules_to_save=["lm_haed"]))


def test_ln_tuning_counts_the_norms_and_refuses_nested_targets(tiny_config_factory):
    config = tiny_config_factory("llama")
    model = build_meta_model(config)
    c = count(model, AdapterSpec(method="ln_tuning"))  # PEFT's default: both norms of each layer and the final one
    assert (c.trainable, c.layers, c.rank) == ((2 * 2 + 1) * 64, 5, None)
    assert c.total == sum(p.numel() for p in model.parameters()) + c.trainable  # the originals stay, frozen
    assert sweep(model, AdapterSpec(method="ln_tuning"), [1, 8]) == [c]  # no rank
    with pytest.raises(TargetError, match=r"cannot wrap model\.layers\.0\.mlp\.down_proj: it lies inside "
                                          r"model\.layers\.0\.mlp"):
        count(model, AdapterSpec(method="ln_tuning", target_modules=["mlp", "down_proj"]))  # PEFT fails on it
    with pytest.raises(TargetError, match="closest: norm"):
        count(model, AdapterSpec(method="ln_tuning", target_modules=["nrom"]))


def test_sweep_rank_free_methods_and_bad_ranks(tiny_config_factory):
    model = build_meta_model(tiny_config_factory("llama"))
    rows = sweep(model, AdapterSpec(method="ia3"), [1, 2, 4])  # no size knob: one row
    assert len(rows) == 1 and rows[0].rank is None and rows[0].knob is None and rows[0].layers == 6
    rows = sweep(model, AdapterSpec(method="prefix_tuning"), [1, 2, 4])  # its own size knob: virtual tokens
    assert [(r.knob, r.size, r.rank) for r in rows] == [("num_virtual_tokens", v, None) for v in (1, 2, 4)]
    assert rows[2].trainable == 4 * rows[0].trainable and rows[0].layers == 2
    with pytest.raises(SpecError, match="ranks"):
        sweep(model, AdapterSpec(), [0, 4])
    with pytest.raises(SpecError, match="ranks"):
        sweep(model, AdapterSpec(), [])


def test_sweep_is_linear_in_rank(tiny_config_factory):
    model = build_meta_model(tiny_config_factory("gpt2"))
    spec = AdapterSpec(method="dora", target_modules="all-linear", bias="all")
    rows = sweep(model, spec, list(range(1, 10)))
    for r in rows:
        assert r.trainable == count(model, AdapterSpec(method="dora", target_modules="all-linear", bias="all",
                                                       r=r.rank)).trainable
    assert rows[2].trainable - rows[1].trainable == rows[1].trainable - rows[0].trainable


# memory estimates: tests/core/test_memory.py

"""Module inspection and target matching: the names we show must be the names PEFT wraps."""
from __future__ import annotations

import warnings

import pytest

from workbench.core.model.loading import build_meta_model, load_config
from workbench.core.model.modules import (TargetError, default_targets, group_by_leaf, linear_leaf_names, list_modules,
                                    match_targets, named_modules, total_params)

ARCHS = ["llama", "qwen2", "gpt2", "t5", "bart"]


@pytest.fixture(scope="module")
def meta(tiny_config_factory):
    """meta("llama") -> a fresh tiny model of that architecture on the meta device."""
    return lambda model_type: build_meta_model(tiny_config_factory(model_type))


def peft_wrapped(model, targets, modules_to_save=None) -> list[str]:
    """Names of the modules PEFT actually turned into LoRA layers (the ground truth)."""
    import peft
    from peft.tuners.tuners_utils import BaseTunerLayer
    cfg = peft.LoraConfig(r=2, target_modules=targets, modules_to_save=modules_to_save,
                          task_type="SEQ_2_SEQ_LM" if model.config.is_encoder_decoder else "CAUSAL_LM")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = peft.get_peft_model(model, cfg)
    prefix = "base_model.model."
    return [n[len(prefix):] for n, m in pm.named_modules() if isinstance(m, BaseTunerLayer)]


@pytest.fixture(scope="module")
def smollm2():
    return build_meta_model(load_config("SmolLM2-135M"))


# --------------------------------------------------------------------------- listing

def test_list_modules_rows_llama(meta):
    model = meta("llama")
    rows = {r.name: r for r in list_modules(model)}
    assert "" not in rows  # root excluded
    q = rows["model.layers.0.self_attn.q_proj"]
    assert (q.type, q.in_features, q.out_features, q.params) == ("Linear", 64, 64, 64 * 64)
    assert rows["model.layers.0.self_attn.k_proj"].out_features == 32  # GQA: 2 kv heads x 16
    assert rows["model.layers.0"].params == 0  # containers own nothing
    assert rows["lm_head"].tied_to == "model.embed_tokens"
    assert q.shape == "weight 64x64" and q.dtype == "float32"


def test_list_modules_conv1d_and_bias(meta):
    rows = {r.name: r for r in list_modules(meta("gpt2"))}
    c = rows["transformer.h.0.attn.c_attn"]
    assert (c.type, c.in_features, c.out_features) == ("Conv1D", 64, 192)  # weight is (in, out)
    assert c.params == 64 * 192 + 192
    q = {r.name: r for r in list_modules(meta("qwen2"))}["model.layers.1.self_attn.q_proj"]
    assert q.params == 64 * 64 + 64 and "bias 64" in q.shape


def test_named_modules_matches_torch_order(meta):
    model = meta("t5")
    assert named_modules(model) == [(n, m) for n, m in model.named_modules() if n]


def test_real_model_rows_are_trainable(tiny_config_factory):
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_config(tiny_config_factory("llama", vocab_size=256))
    rows = {r.name: r for r in list_modules(model)}
    assert rows["model.layers.0.mlp.up_proj"].trainable
    assert total_params(model) == sum(p.numel() for p in model.parameters())


def test_group_by_leaf_smollm2(smollm2):
    groups = {g.leaf: g for g in group_by_leaf(smollm2)}
    q = groups["q_proj"]
    assert (q.count, q.params_each, q.in_features, q.out_features) == (30, 331_776, 576, 576)
    assert groups["k_proj"].params_each == 576 * 192
    assert "layers" not in groups  # only modules that own parameters


def test_group_by_leaf_splits_shapes_gpt2(meta):
    c_proj = [g for g in group_by_leaf(meta("gpt2")) if g.leaf == "c_proj"]
    assert sorted((g.in_features, g.out_features) for g in c_proj) == [(64, 64), (256, 64)]


def test_total_params_tied_once(smollm2):
    assert total_params(smollm2) == 134_515_008
    assert total_params(smollm2, named_modules(smollm2)) == 134_515_008


def test_linear_leaf_names_exclude_lm_head(meta):
    assert linear_leaf_names(meta("llama")) == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj",
                                                "v_proj"]
    assert linear_leaf_names(meta("gpt2")) == ["c_attn", "c_fc", "c_proj"]
    assert linear_leaf_names(meta("t5")) == ["k", "o", "q", "v", "wi", "wo"]


# --------------------------------------------------------------------------- defaults

def test_default_targets(meta):
    assert default_targets(meta("t5")) == ["q", "v"]
    assert default_targets(meta("gpt2")) == ["c_attn"]
    assert default_targets(meta("llama")) == ["q_proj", "v_proj"]
    assert default_targets(meta("bart"), "dora") == ["q_proj", "v_proj"]
    assert default_targets(meta("llama"), "ia3") == ["k_proj", "v_proj", "down_proj"]
    assert default_targets(meta("llama"), "prompt_tuning") == []


def test_default_targets_unknown_arch_is_clear():
    from transformers import AutoConfig
    cfg = AutoConfig.for_model("bert", hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64, vocab_size=100)
    import torch
    from transformers import AutoModel
    with torch.device("meta"):
        model = AutoModel.from_config(cfg)
    model.config.model_type = "made-up"
    with pytest.raises(TargetError, match="no default lora target modules for model type 'made-up'"):
        default_targets(model)


# --------------------------------------------------------------------------- matching = PEFT

@pytest.mark.parametrize("arch", ARCHS)
def test_all_linear_equals_peft(arch, meta):
    ours = match_targets(meta(arch), "all-linear")
    assert ours == peft_wrapped(meta(arch), "all-linear")
    assert "lm_head" not in ours


@pytest.mark.parametrize("arch,targets", [
    ("llama", None), ("gpt2", None), ("t5", None), ("bart", None),
    ("llama", ["q_proj", "down_proj"]), ("gpt2", ["mlp.c_proj"]), ("t5", ["q", "wo"]),
    ("llama", r".*layers\.1\.self_attn\.(q|v)_proj"), ("qwen2", ["model.layers.0.self_attn.q_proj", "up_proj"]),
    ("llama", ["embed_tokens", "lm_head"]),
])
def test_match_targets_equals_peft(arch, targets, meta):
    assert match_targets(meta(arch), targets) == peft_wrapped(meta(arch), targets)


def test_modules_to_save_excluded_like_peft(meta):
    got = match_targets(meta("llama"), ["q_proj", "up_proj"], modules_to_save=["self_attn"])
    assert got == peft_wrapped(meta("llama"), ["q_proj", "up_proj"], modules_to_save=["self_attn"])
    assert got == ["model.layers.0.mlp.up_proj", "model.layers.1.mlp.up_proj"]


def test_regex_is_full_match(meta):
    model = meta("llama")
    assert match_targets(model, r".*q_proj") == ["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj"]
    with pytest.raises(TargetError, match="full-matches the whole name"):
        match_targets(model, "q_proj")  # a bare leaf is not a full name


def test_typo_names_closest_real_module(meta):
    with pytest.raises(TargetError) as e:
        match_targets(meta("llama"), ["q_porj", "v_proj"])
    msg = str(e.value)
    assert msg.startswith("target 'q_porj' matches no module; closest: q_proj")
    assert "o_proj" in msg


def test_dotted_typo_and_bad_regex(meta):
    with pytest.raises(TargetError, match="closest: mlp.c_proj"):
        match_targets(meta("gpt2"), ["mlp.c_porj"])
    with pytest.raises(TargetError, match="not a valid regular expression"):
        match_targets(meta("gpt2"), "(unclosed")


def test_container_target_is_refused(meta):
    with pytest.raises(TargetError, match=r"'model.layers.0.mlp' \(LlamaMLP\).*down_proj, gate_proj, up_proj"):
        match_targets(meta("llama"), ["mlp"])
    with pytest.raises(TargetError, match="ia3 cannot wrap"):
        match_targets(meta("llama"), ["embed_tokens"], method="ia3")


def test_prompt_methods_wrap_nothing(meta):
    assert match_targets(meta("llama"), None, method="prefix_tuning") == []


def test_4bit_model_shapes_and_total(tmp_path, tiny_config_factory):
    """On a real bitsandbytes 4-bit model: in/out come from the layer, the packed weight is undone."""
    pytest.importorskip("bitsandbytes")
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig
    cfg = tiny_config_factory("qwen2", vocab_size=256)
    full = AutoModelForCausalLM.from_config(cfg)
    full.save_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q4 = AutoModelForCausalLM.from_pretrained(
            tmp_path, device_map={"": "cpu"},
            quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                   bnb_4bit_compute_dtype=torch.bfloat16))
    rows = {r.name: r for r in list_modules(q4)}
    assert (rows["model.layers.0.self_attn.q_proj"].in_features, rows["model.layers.0.self_attn.q_proj"].out_features) \
        == (64, 64)
    assert rows["model.layers.0.self_attn.q_proj"].params == 64 * 64 + 64
    assert total_params(q4) == total_params(full)
    assert match_targets(q4, "all-linear") == match_targets(full, "all-linear")

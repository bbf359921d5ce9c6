"""The LoRA family's options (core/methods/lora.py): the init choices (PiSSA / OLoRA saved as a plain LoRA that
reloads on the original base, LoftQ for QLoRA), rsLoRA in the saved config, LoRA+ as the run's optimizer, and
layers_to_transform counted exactly as PEFT wraps."""
from __future__ import annotations

import json

import pytest
import torch

from test_every_method import _four_bit_unavailable, tiny_run
from workbench.core.runstore import run_dirs as runs
from workbench.core.training import trainer as train
from workbench.errors import SpecError
from workbench.spec import methods
from workbench.spec.settings import AdapterSpec, RunSpec

pytestmark = pytest.mark.usefixtures("one_thread")


def _with(spec: RunSpec, **adapter) -> RunSpec:
    d = spec.to_dict()
    d["adapter"].update(adapter)
    return RunSpec.from_dict(d)


# --------------------------------------------------------------------------- settings

@pytest.mark.parametrize("init", [True, "gaussian", "pissa", "pissa_niter_4", "olora"])
def test_lora_inits_accepted(init):
    assert AdapterSpec(init_lora_weights=init).init_lora_weights == init
    assert AdapterSpec(method="qlora", init_lora_weights="loftq").init_lora_weights == "loftq"


@pytest.mark.parametrize("init", [False, "true", "eva", "pissa_niter_", "pissa_niter_x", "corda", 1])
def test_unknown_lora_init_names_the_choices(init):
    with pytest.raises(SpecError) as e:
        AdapterSpec(init_lora_weights=init)
    assert e.value.field == "adapter.init_lora_weights" and e.value.message.id == "methods.lora_init"
    assert "pissa_niter_N" in str(e.value) and "loftq" in e.value.render("zh-CN")


def test_loftq_needs_a_4bit_base():
    for method in ("lora", "dora"):
        with pytest.raises(SpecError) as e:
            AdapterSpec(method=method, init_lora_weights="loftq")
        assert e.value.message.id == "methods.loftq_needs_4bit"


@pytest.mark.parametrize("settings, why", [
    ({"method": "dora"}, "methods.lora_init_with.dora"),
    ({"use_dora": True}, "methods.lora_init_with.dora"),
    ({"method": "qlora"}, "methods.lora_init_with.quantized"),
    ({"modules_to_save": ["lm_head"]}, "methods.lora_init_with.modules_to_save"),
    ({"bias": "lora_only"}, "methods.lora_init_with.bias")])
def test_pissa_and_olora_refuse_what_a_plain_lora_cannot_keep(settings, why):
    for init in ("pissa", "olora"):
        with pytest.raises(SpecError) as e:
            AdapterSpec(init_lora_weights=init, **settings)
        assert e.value.message.id == "methods.lora_init_plain_only"
        assert e.value.message.params["what"].id == why


@pytest.mark.parametrize("options, msg_id", [
    ({"loraplus_lr_ratio": "16"}, "settings.option_type"), ({"loraplus_lr_ratio": True}, "settings.option_type"),
    ({"loraplus_lr_ratio": 0.5}, "settings.in_range"), ({"layers_to_transform": [1, -1]}, "methods.layers_to_transform"),
    ({"layers_to_transform": []}, "methods.layers_to_transform"),
    ({"layers_to_transform": "1"}, "methods.layers_to_transform"),
    ({"layers_to_transform": [True]}, "methods.layers_to_transform")])
def test_bad_lora_options(options, msg_id):
    with pytest.raises(SpecError) as e:
        AdapterSpec(options=options)
    assert e.value.field == f"adapter.options.{next(iter(options))}" and e.value.message.id == msg_id


def test_layers_to_transform_needs_named_targets():
    for targets in ("all-linear", r".*\.q_proj"):
        with pytest.raises(SpecError) as e:
            AdapterSpec(target_modules=targets, options={"layers_to_transform": [0]})
        assert e.value.message.id == "methods.layers_need_names"


def test_options_are_knobs_and_reach_peft_and_the_card():
    from transformers import LlamaConfig

    from workbench.core.model.peft_config import peft_config_kwargs
    for name in methods.in_family("lora"):
        assert {"loraplus_lr_ratio", "layers_to_transform"} <= set(methods.get(name).knobs)
    a = AdapterSpec(use_rslora=True, init_lora_weights="olora",
                    options={"loraplus_lr_ratio": 16, "layers_to_transform": [0, 1]})
    _, kw = peft_config_kwargs(a, LlamaConfig())
    assert kw["layers_to_transform"] == [0, 1] and kw["init_lora_weights"] == "olora" and kw["use_rslora"] is True
    assert "loraplus_lr_ratio" not in kw  # the workbench's optimizer reads it, PEFT's config does not have it
    assert "layers_to_transform" not in peft_config_kwargs(AdapterSpec(), LlamaConfig())[1]
    _, kw = peft_config_kwargs(AdapterSpec(method="qlora", init_lora_weights="loftq"), LlamaConfig())
    assert kw["init_lora_weights"] is True  # LoftQ replaces LoRA's own init on the wrapped 4-bit model
    rows = dict(methods.get("lora").card_rows(a))
    assert rows["use_rslora"] is True and rows["init_lora_weights"] == "olora"
    assert rows["LoRA+ lr ratio (lora_B / lora_A)"] == 16 and rows["layers_to_transform"] == [0, 1]
    assert "rank 16" in rows["saved as"]
    plain = dict(methods.get("lora").card_rows(AdapterSpec()))
    assert plain["LoRA+ lr ratio (lora_B / lora_A)"] == "off" and plain["layers_to_transform"] == "all"
    assert "saved as" not in plain


# --------------------------------------------------------------------------- layers_to_transform: exact counts

@pytest.mark.parametrize("settings", [
    {"options": {"layers_to_transform": [28, 29]}},
    {"options": {"layers_to_transform": 5}, "target_modules": ["q_proj", "up_proj"], "use_dora": True},
    {"options": {"layers_to_transform": [28, 29]}, "target_modules": ["q_proj", "model.layers.3.self_attn.v_proj"]}])
def test_layers_to_transform_counts_as_peft(settings):
    from workbench.core.model.counting import count, count_with_peft
    from workbench.core.model.loading import MODEL_CACHE
    meta = MODEL_CACHE.meta("smollm2-135m-instruct")
    spec = AdapterSpec(**settings)
    ours = count(meta, spec)
    assert (ours.trainable, ours.total) == count_with_peft(meta, spec)
    assert ours.trainable < count(meta, AdapterSpec(**{**settings, "options": {}})).trainable


def test_layers_to_transform_that_keeps_nothing_names_the_layers():
    from workbench.core.model.counting import count
    from workbench.core.model.loading import MODEL_CACHE
    from workbench.core.model.modules import TargetError
    with pytest.raises(TargetError) as e:
        count(MODEL_CACHE.meta("smollm2-135m-instruct"), AdapterSpec(options={"layers_to_transform": [40]}))
    assert e.value.message.id == "methods.layers_match_nothing" and "0..29" in str(e.value)


# --------------------------------------------------------------------------- runs

@pytest.mark.parametrize("init", ["pissa", "olora"])
def test_pissa_and_olora_save_a_plain_lora_that_reloads_on_the_original_base(init, tiny_llama_dir, runs_dir):
    """The run trains on the modified base (W minus the adapter's start); its saved adapter is PEFT's conversion to
    a plain LoRA of twice the rank, so plain PEFT on a fresh base gives the trained model's logits and, with the
    adapter off, the untouched base's."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    spec = _with(tiny_run(tiny_llama_dir, "lora"), init_lora_weights=init)
    out = train.execute(runs.safe_run_dir(runs.create_run(spec)))
    assert out.status.status == "done" and out.status.step == 2
    config = json.loads((out.adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["init_lora_weights"] is True and config["r"] == 2 * spec.adapter.r
    ids = torch.tensor([[1, 5, 9, 2, 7, 3, 11, 4]])
    with torch.no_grad():
        trained = out.model.eval()(input_ids=ids).logits
        base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
        base_logits = base(input_ids=ids).logits
        reloaded = PeftModel.from_pretrained(base, str(out.adapter_dir)).eval()
        assert torch.allclose(reloaded(input_ids=ids).logits, trained, atol=1e-4)
        assert not torch.allclose(trained, base_logits, atol=1e-3)  # training changed the model
        with reloaded.disable_adapter():
            assert torch.allclose(reloaded(input_ids=ids).logits, base_logits, atol=1e-6)  # the base is untouched


def test_loraplus_run_with_rslora(tiny_llama_dir, runs_dir, monkeypatch):
    """LoRA+ is the run's optimizer (lora_B at ratio x lr, both stepped twice); rsLoRA is in the saved config."""
    made, original = [], train.method_optimizers

    def spy(model, spec):
        made.append(original(model, spec))
        return made[-1]
    monkeypatch.setattr(train, "method_optimizers", spy)
    spec = _with(tiny_run(tiny_llama_dir, "lora"), use_rslora=True, options={"loraplus_lr_ratio": 16})
    out = train.execute(runs.safe_run_dir(runs.create_run(spec)))
    assert out.status.status == "done" and out.status.step == 2
    config = json.loads((out.adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["use_rslora"] is True
    optimizer, scheduler = made[0]
    assert isinstance(optimizer, torch.optim.AdamW) and scheduler is None
    lr = spec.train.learning_rate
    names = {id(p): n for n, p in out.model.named_parameters()}
    for group in optimizer.param_groups:
        for p in group["params"]:
            want = 16 * lr if "lora_B" in names[id(p)] else lr
            assert group["lr"] == pytest.approx(want), names[id(p)]
            assert int(optimizer.state[p]["step"]) == 2, names[id(p)]
    assert {("lora_B" in names[id(p)]) for g in optimizer.param_groups for p in g["params"]} == {True, False}
    no_ratio = original(out.model, tiny_run(tiny_llama_dir, "lora"))
    assert no_ratio == (None, None)  # without a ratio the Trainer makes its own AdamW


def test_loftq_on_a_cpu_fails_before_training_with_the_reason(tiny_llama_dir, runs_dir):
    if why := _four_bit_unavailable():
        pytest.skip(why)
    spec = _with(tiny_run(tiny_llama_dir, "qlora"), init_lora_weights="loftq")
    run_dir = runs.safe_run_dir(runs.create_run(spec))
    with pytest.raises(train.TrainingFailed) as e:
        train.execute(run_dir)
    assert e.value.__cause__.message.id == "methods.loftq_needs_cuda"
    st = runs.read_status(run_dir)
    assert st.status == "failed" and st.step == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="LoftQ init needs a CUDA GPU (PEFT computes it there)")
def test_loftq_run_on_a_gpu(tiny_llama_dir, runs_dir):
    """On a GPU the QLoRA run starts from LoftQ's A and B (B is not zero as LoRA's own init leaves it)."""
    if why := _four_bit_unavailable():
        pytest.skip(why)
    spec = _with(tiny_run(tiny_llama_dir, "qlora"), init_lora_weights="loftq")
    d = spec.to_dict()
    d["train"].update(device="cuda", max_steps=1, learning_rate=1e-6)
    spec = RunSpec.from_dict(d)
    out = train.execute(runs.safe_run_dir(runs.create_run(spec)))
    assert out.status.status == "done"
    b = [p for n, p in out.model.named_parameters() if "lora_B" in n]
    assert b and all(p.abs().max() > 1e-4 for p in b)

"""The method registry: every list of methods reads it, and a new record is offered everywhere."""
from __future__ import annotations

import dataclasses

import pytest

from workbench.core import methods
from workbench.core.models import build_meta_model
from workbench.core.params import count, count_with_peft
from workbench.core.peft_config import peft_config_kwargs
from workbench.settings import AdapterSpec, SpecError

SHIPPED = ("lora", "dora", "qlora", "prompt_tuning", "p_tuning", "prefix_tuning", "ia3")


def test_shipped_records():
    assert methods.names() == SHIPPED
    assert methods.in_family("lora") == ("lora", "dora", "qlora")
    assert methods.in_family("prompt") == ("prompt_tuning", "p_tuning", "prefix_tuning")
    assert [methods.get(n).budget_knob for n in SHIPPED] == ["r", "r", "r", "num_virtual_tokens", "num_virtual_tokens",
                                                             "num_virtual_tokens", None]
    assert [n for n in SHIPPED if methods.get(n).quantized] == ["qlora"]
    assert [n for n in SHIPPED if methods.get(n).is_prompt_learning] == ["prompt_tuning", "p_tuning", "prefix_tuning"]
    assert methods.family("ia3") == "ia3" and methods.get("qlora").form_groups == ("lora", "qlora")
    assert methods.prompt_learning_peft_types() == ("PROMPT_TUNING", "P_TUNING", "PREFIX_TUNING")
    for m in methods.all_methods():
        assert m.help_id == f"help.method.{m.name}"
        known = {f.name for f in dataclasses.fields(AdapterSpec)}
        assert set(m.knobs) <= known, m.name  # knobs are real AdapterSpec fields


def test_unknown_method_names_the_valid_ones():
    with pytest.raises(SpecError, match="adapter.method: must be one of lora, dora, qlora, .*ia3 \\(got 'lorra'\\)"):
        methods.get("lorra")
    with pytest.raises(SpecError, match="adapter.method"):
        AdapterSpec(method="lorra")


def test_records_are_checked():
    with pytest.raises(ValueError, match="family"):
        methods.Method("x", "adapterish", "LoraConfig", "LORA", "a:b", "a:b", ("r",))
    with pytest.raises(ValueError, match="budget_knob"):
        methods.Method("x", "lora", "LoraConfig", "LORA", "a:b", "a:b", ("alpha",), budget_knob="r")
    with pytest.raises(ValueError, match="registered already"):
        methods.register(methods.get("lora"))


def test_is_lora_and_dora_follow_the_registry():
    assert AdapterSpec(method="qlora").is_lora and not AdapterSpec(method="ia3").is_lora
    assert AdapterSpec(method="dora").use_dora


@pytest.fixture
def rslora_method():
    """A temporary method: LoRA with rank-stabilised scaling always on (one record, nothing else)."""
    lora = methods.get("lora")
    record = dataclasses.replace(lora, name="rslora_test", help_id="help.method.lora",
                                 fixed_knobs=(("use_rslora", True),))
    methods.register(record)
    yield record
    methods.unregister("rslora_test")


def test_a_registered_method_is_offered_everywhere(rslora_method, tiny_config_factory):
    assert "rslora_test" in methods.names()
    spec = AdapterSpec(method="rslora_test", r=4)  # settings validation reads the registry
    assert spec.use_rslora and spec.is_lora
    config = tiny_config_factory("llama")
    name, kw = peft_config_kwargs(spec, config)
    assert name == "LoraConfig" and kw["use_rslora"] is True and kw["r"] == 4
    model = build_meta_model(config)
    ours = count(model, spec)
    assert (ours.trainable, ours.total) == count_with_peft(config, spec)
    assert ours.method == "rslora_test" and ours.rank == 4
    from workbench.commands.params import add_parser  # noqa: F401 - the CLI checks --method against names()
    from workbench.core.modules import default_targets
    assert default_targets(model, "rslora_test") == default_targets(model, "lora")


def test_a_registered_method_is_in_the_form(rslora_method):
    pytest.importorskip("gradio")
    from workbench.ui.tabs import train_tab
    updates = train_tab._visibility("rslora_test")
    assert [u["visible"] for u in updates[:3]] == [True, False, False]  # lora group, not prompt / qlora
    assert [u["visible"] for u in train_tab._visibility("qlora")[:3]] == [True, False, True]
    assert [u["visible"] for u in train_tab._visibility("prefix_tuning")[:3]] == [False, True, False]
    assert [u["visible"] for u in train_tab._visibility("ia3")[:3]] == [False, False, False]
    assert "rslora_test" in train_tab.method_choices()

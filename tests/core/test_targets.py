"""One target-module grammar: the CLI, the Train form, the Inspect tab and run YAML read the same text the same way."""
from __future__ import annotations

import pytest

from workbench.spec import targets
from workbench.spec.targets import TargetError
from workbench.errors import SpecError
from workbench.spec.settings import AdapterSpec, RunSpec

CASES = [
    ("", None),
    ("default", None),
    ("all-linear", "all-linear"),
    ("q_proj,v_proj", ["q_proj", "v_proj"]),
    ("q_proj, v_proj  k_proj", ["q_proj", "v_proj", "k_proj"]),
    ("mlp.c_proj", ["mlp.c_proj"]),
    ("re:.*proj", ".*proj"),
    (r"re:.*\.(q_proj|v_proj)", r".*\.(q_proj|v_proj)"),
]


@pytest.mark.parametrize("text,value", CASES)
def test_parse_and_format_round_trip(text, value):
    assert targets.parse(text) == value
    assert targets.parse(targets.format(value)) == value
    assert targets.format(targets.parse(targets.format(value))) == targets.format(value)


def test_format_writes_the_grammar():
    assert targets.format(None) == ""
    assert targets.format(["q_proj", "v_proj"]) == "q_proj, v_proj"
    assert targets.format(".*proj") == "re:.*proj"
    assert targets.format("all-linear") == "all-linear"
    assert targets.TargetSpec.of(".*proj").kind == "regex" and targets.TargetSpec.of(None).kind == "default"


def test_regex_without_prefix_is_refused_with_a_hint():
    with pytest.raises(TargetError, match=r"write re:\.\*proj"):
        targets.parse(".*proj")
    with pytest.raises(TargetError, match="not a valid regular expression"):
        targets.parse("re:(unclosed")
    with pytest.raises(TargetError, match="empty"):
        targets.parse("re:")


def test_yaml_value_keeps_peft_meaning():
    assert targets.from_config(["q_proj"]) == ["q_proj"]
    assert targets.from_config(None) is None
    assert targets.from_config(".*proj") == ".*proj"  # a plain string is a regex, as PEFT reads it
    assert targets.from_config("re:.*proj") == ".*proj"  # text copied from the form / CLI means the same
    assert targets.from_config("All-Linear") == "all-linear"
    with pytest.raises(TargetError):
        targets.from_config("(")


def test_cli_form_and_yaml_agree(tmp_path):
    """The same text from the CLI's --targets, the Train form's box and a run YAML gives the same spec."""
    pytest.importorskip("gradio")
    from argparse import Namespace

    from workbench.commands.params import spec_from_args
    from workbench.ui.handlers import form

    for text, value in [("re:.*proj", ".*proj"), ("q_proj, v_proj", ["q_proj", "v_proj"]), ("all-linear", "all-linear")]:
        args = Namespace(method="lora", alpha="16", targets=text, bias="none", rslora=False, modules_to_save=None,
                         virtual_tokens="20", prefix_projection=False, encoder="MLP", encoder_hidden=None)
        cli = spec_from_args(args).target_modules
        in_form = form.form_to_spec({"adapter.target_modules": text}).adapter.target_modules
        yaml_text = f"adapter: {{method: lora, target_modules: {targets.format(value)!r}}}" if isinstance(value, str) \
            else "adapter: {method: lora, target_modules: [q_proj, v_proj]}"
        from_yaml = RunSpec.from_yaml(yaml_text).adapter.target_modules
        assert cli == in_form == from_yaml == value, text


def test_re_prefix_in_the_form_is_a_regex():
    pytest.importorskip("gradio")
    from workbench.ui.handlers import form
    spec = form.form_to_spec({"adapter.target_modules": "re:.*proj"})
    assert spec.adapter.target_modules == ".*proj"
    assert form.spec_to_form(spec)["adapter.target_modules"] == "re:.*proj"
    with pytest.raises(SpecError, match=r"adapter.target_modules: .*write re:"):
        form.form_to_spec({"adapter.target_modules": ".*proj"})  # no guessing from special characters


def test_spec_reads_yaml_values_through_the_grammar():
    assert AdapterSpec(target_modules="re:.*q_proj").target_modules == ".*q_proj"
    with pytest.raises(SpecError, match="adapter.target_modules"):
        AdapterSpec(target_modules="re:(")


def test_picker_inputs():
    assert targets.from_picker(["q_proj"], "", False) == ["q_proj"]
    assert targets.from_picker(["q_proj"], r".*\.q_proj", False) == r".*\.q_proj"
    assert targets.from_picker(["q_proj"], r"re:.*\.q_proj", False) == r".*\.q_proj"
    assert targets.from_picker([], "", True) == "all-linear"
    with pytest.raises(TargetError, match="at least one"):
        targets.from_picker([], "  ", False)


def test_target_sets_and_matching(tiny_config_factory):
    from workbench.core.model.loading import build_meta_model
    from workbench.core.model.modules import match_targets, target_sets
    gpt2 = build_meta_model(tiny_config_factory("gpt2"))
    sets = target_sets(gpt2)
    assert list(sets) == ["PEFT default", "attention (q,k,v,o)", "MLP only", "all-linear"]
    assert sets["PEFT default"] == ["c_attn"]
    assert sets["attention (q,k,v,o)"] == ["c_attn", "attn.c_proj"] and sets["MLP only"] == ["c_fc", "mlp.c_proj"]
    assert match_targets(gpt2, targets.parse("re:.*attn.c_proj")) == match_targets(gpt2, ["attn.c_proj"])

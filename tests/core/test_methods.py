"""The method registry: every list of methods reads it, and a new record is offered everywhere."""
from __future__ import annotations

import dataclasses

import pytest

from workbench.spec import methods
from workbench.core.model.loading import build_meta_model
from workbench.core.model.counting import count, count_with_peft
from workbench.core.model.peft_config import peft_config_kwargs
from workbench.errors import SpecError
from workbench.spec.settings import AdapterSpec

SHIPPED = ("lora", "dora", "qlora", "prompt_tuning", "p_tuning", "prefix_tuning", "ia3", "ln_tuning")
"""The methods with an analytic count (their family files hold the formula); PEFT counts the rest itself."""
PEFT_COUNTED = ("loha", "lokr", "vera", "adalora", "oft", "boft", "hra", "fourierft", "miss", "randlora", "c3a",
                "trainable_tokens", "delora", "gralora", "hira", "lily", "road", "waveft", "psoft", "tinylora",
                "unilora", "beft", "deft", "glora", "shira", "vblora", "osf", "peanut", "supertuning", "pvera",
                "cartridge", "adaption_prompt")


def test_shipped_records():
    assert set(SHIPPED) <= set(methods.names()) and methods.names()[:4] == ("full",) + SHIPPED[:3]
    assert set(PEFT_COUNTED) | {"last_layers"} <= set(methods.names())
    assert len(methods.names()) >= 25  # issue 19: 25 or more methods
    assert methods.in_family("lora") == ("lora", "dora", "qlora")
    assert methods.in_family("prompt") == ("prompt_tuning", "p_tuning", "prefix_tuning", "cartridge",
                                           "adaption_prompt")
    assert [methods.get(n).budget_knob for n in SHIPPED] == ["r", "r", "r", "num_virtual_tokens", "num_virtual_tokens",
                                                             "num_virtual_tokens", None, None]
    assert [n for n in SHIPPED if methods.get(n).quantized] == ["qlora"]
    assert [n for n in SHIPPED if methods.get(n).is_prompt_learning] == ["prompt_tuning", "p_tuning", "prefix_tuning"]
    assert methods.family("ia3") == "ia3" and methods.get("qlora").form_groups == ("lora", "quantization")
    assert methods.family("ln_tuning") == "ln" and methods.in_family("ln") == ("ln_tuning", "last_layers")
    assert methods.prompt_learning_peft_types() == ("PROMPT_TUNING", "P_TUNING", "PREFIX_TUNING", "CARTRIDGE")
    for m in methods.all_methods():
        assert m.help_id in (m.about_id, f"help.method.{m.name}")  # its help, else its one-line description
        known = {f.name for f in dataclasses.fields(AdapterSpec)} | {o.name for o in m.options}
        assert set(m.knobs) <= known, m.name  # knobs are real AdapterSpec fields or the method's own options


def test_unknown_method_names_the_closest_ones():
    with pytest.raises(SpecError, match="adapter.method: unknown method 'lorra'; closest: lora, qlora, glora "
                                        "\\(4[0-9] methods: 'workbench methods' lists them\\)"):
        methods.get("lorra")
    with pytest.raises(SpecError, match="closest: fourierft"):
        AdapterSpec(method="FourierFT")


def test_a_knob_the_method_lacks_names_the_knobs_it_has():
    with pytest.raises(SpecError, match="adapter.options.n_frequency: is not a setting of oft; its knobs are "
                                        "target_modules, dropout, oft_block_size"):
        AdapterSpec(method="oft", options={"n_frequency": 100})
    with pytest.raises(SpecError, match="closest: n_frequency"):
        AdapterSpec(method="fourierft", options={"n_frequencies": 100})
    with pytest.raises(SpecError, match="adapter.options.n_frequency: must be a int"):
        AdapterSpec(method="fourierft", options={"n_frequency": "many"})
    with pytest.raises(SpecError, match="adapter.options.num_layers: must be in"):
        AdapterSpec(method="last_layers", options={"num_layers": 0})
    spec = AdapterSpec(method="fourierft", options={"n_frequency": 50})
    assert spec.knob("n_frequency") == 50 and spec.knob("scaling") == 150.0
    assert spec.with_knob("n_frequency", 70).options == {"n_frequency": 70} and spec.with_knob("r", 4).r == 4


@pytest.mark.parametrize("method", PEFT_COUNTED + ("last_layers",))
def test_the_count_is_peft_own_and_sweeps_its_size_knob(method):
    """The count PEFT gives on the meta device (or on real weights, for the three that read them), for two sizes of
    the method's own knob, equals get_nb_trainable_parameters() of an independent build (here: peft directly)."""
    import peft
    import torch
    from workbench.core.model.counting import sweep
    from workbench.core.model.loading import MODEL_CACHE
    from workbench.core.model.peft_config import build_peft_config
    model = MODEL_CACHE.meta("smollm2-135m-instruct")
    record = methods.get(method)
    spec = AdapterSpec(method=method, r=4)
    knob = record.budget_knob
    sizes = [2, 4] if knob else [0]
    rows = sweep(model, spec, sizes)
    assert len(rows) == (2 if knob else 1)
    if knob:
        assert rows[0].trainable < rows[1].trainable, method  # the size knob sizes it
    last = spec.with_knob(knob, sizes[-1]) if knob else spec
    fresh = build_meta_model(model.config)
    if method in ("boft", "unilora", "shira"):  # PEFT reads weight values while building these: real weights
        fresh = fresh.to_empty(device="cpu")
        fresh.tie_weights()
        for p in fresh.parameters():
            torch.nn.init.normal_(p, 0, 0.02)
        pm = peft.get_peft_model(fresh, build_peft_config(last, fresh.config))
    else:
        with torch.device("meta"):
            pm = peft.get_peft_model(fresh, build_peft_config(last, fresh.config))
    assert (rows[-1].trainable, rows[-1].total) == pm.get_nb_trainable_parameters(), method


def _hook(*args):
    return {}


def test_records_are_checked():
    with pytest.raises(ValueError, match="family"):
        methods.Method("x", "adapterish", "LoraConfig", "LORA", _hook, _hook, ("r",))
    with pytest.raises(ValueError, match="budget_knob"):
        methods.Method("x", "lora", "LoraConfig", "LORA", _hook, _hook, ("alpha",), budget_knob="r",
                       wraps_id="targets.wraps_lora")
    with pytest.raises(ValueError, match="registered already"):
        methods.register(methods.get("lora"))
    with pytest.raises(ValueError, match="plan must be a function"):  # hooks are callables, never "module:function"
        methods.Method("x", "prompt", "PromptTuningConfig", "PROMPT_TUNING", _hook, "a:b", ("num_virtual_tokens",))
    with pytest.raises(ValueError, match="wraps_id"):
        methods.Method("x", "ia3", "IA3Config", "IA3", _hook, _hook, ("target_modules",))
    with pytest.raises(ValueError, match="group must be one of full, selective, reparameterized, additive"):
        methods.Method("x", "prompt", "PromptTuningConfig", "PROMPT_TUNING", _hook, _hook, ("num_virtual_tokens",),
                       group="subtractive")
    with pytest.raises(ValueError, match="about_id"):
        methods.Method("x", "prompt", "PromptTuningConfig", "PROMPT_TUNING", _hook, _hook, ("num_virtual_tokens",),
                       about_id="methods.about.nothing")
    # a record that names no group gets its family's
    assert methods.Method("x", "ia3", "IA3Config", "IA3", _hook, _hook, ("target_modules",),
                          wraps_id="targets.wraps_ia3").group == "additive"


def test_every_method_has_a_group_and_a_description_in_both_languages():
    from workbench.messages import text
    groups = {n: methods.get(n).group for n in SHIPPED + ("last_layers", "trainable_tokens", "shira", "loha", "oft",
                                                          "fourierft", "cartridge")}
    assert groups == {"lora": "reparameterized", "dora": "reparameterized", "qlora": "reparameterized",
                      "prompt_tuning": "additive", "p_tuning": "additive", "prefix_tuning": "additive",
                      "ia3": "additive", "ln_tuning": "selective", "last_layers": "selective",
                      "trainable_tokens": "selective", "shira": "selective", "loha": "reparameterized",
                      "oft": "reparameterized", "fourierft": "reparameterized", "cartridge": "additive"}
    assert methods.GROUPS == ("full", "selective", "reparameterized", "additive")
    found = methods.by_group()
    assert list(found)[-3:] == ["selective", "reparameterized", "additive"]
    assert found["selective"][:2] == ("ln_tuning", "last_layers") and found["reparameterized"][:3] == SHIPPED[:3]
    assert methods.grouped_names()[-6:] == ("prompt_tuning", "p_tuning", "prefix_tuning", "cartridge",
                                            "adaption_prompt", "ia3")
    for m in methods.all_methods():
        assert m.about_id == f"methods.about.{m.name}"
        en, zh = m.description("en"), m.description("zh-CN")
        assert en and zh and en != zh and "\n" not in en and "\n" not in zh, m.name
    for g in methods.GROUPS:  # every group has a label, also full fine-tuning (no method yet)
        assert text(methods.group_id(g), "en") and text(methods.group_id(g), "zh-CN") != text(methods.group_id(g))
    assert methods.label("ia3") == "additive · ia3" and methods.label("lora", "zh-CN") == "重参数化 · lora"
    assert methods.label("ln_tuning", "zh") == "选择式 · ln_tuning"


def test_methods_command_lists_every_method_by_group(capsys):
    import json
    from workbench.cli import main
    assert main(["methods", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(methods.grouped_names())
    assert set(r["name"] for r in rows) == set(methods.names())
    by_name = {r["name"]: r for r in rows}
    for r in rows:
        assert set(r) == {"name", "group", "peft_type", "knobs", "budget_knob", "options", "paper", "description"}
        m = methods.get(r["name"])
        assert r["group"] == m.group and r["peft_type"] == m.peft_type and r["knobs"] == list(m.knobs)
        assert r["budget_knob"] == m.budget_knob
        assert r["description"] == {"en": m.description("en"), "zh": m.description("zh-CN")}
    assert by_name["ln_tuning"] == {"name": "ln_tuning", "group": "selective", "peft_type": "LN_TUNING",
                                    "knobs": ["target_modules"], "budget_knob": None, "options": {}, "paper": "Zhao et al. 2023",
                                    "description": by_name["ln_tuning"]["description"]}
    assert by_name["fourierft"]["options"]["n_frequency"]["default"] == 1000
    assert by_name["prefix_tuning"]["budget_knob"] == "num_virtual_tokens" and by_name["lora"]["knobs"][0] == "r"
    assert main(["methods"]) == 0
    table = capsys.readouterr().out
    heads = [line for line in table.splitlines() if line and not line.startswith(" ")]
    from workbench.messages import text
    assert heads == [f"{text(methods.group_id(g))} ({len(n)})" for g, n in methods.by_group().items()]
    ia3 = next(line for line in table.splitlines() if line.split()[:1] == ["ia3"])
    assert "IA3" in ia3 and "fixed size" in ia3 and methods.get("ia3").description() in ia3
    assert table.index("additive (6)") < table.index("  ia3 ") and table.index("  lora ") < table.index("additive")


def test_a_registered_method_is_listed_by_the_methods_command(rslora_method, capsys):
    from workbench.cli import main
    import json
    assert main(["methods", "--json"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "rslora_test")
    assert row["group"] == "reparameterized" and row["budget_knob"] == "r"


def test_adapter_method_and_variant_read_the_records():
    assert methods.adapter_method("LORA", {"use_dora": True}) == "dora"
    assert methods.adapter_method("lora", {"use_dora": False}) == "lora"
    assert methods.adapter_method("LORA", {}, run_method="qlora") == "qlora"  # the 4-bit base is not in the config
    assert methods.adapter_method("LORA", {"use_dora": True}, run_method="lora") == "dora"
    assert methods.adapter_method("PREFIX_TUNING", {}) == "prefix_tuning"
    assert methods.adapter_method("LOHA", {}) == "loha"
    assert methods.adapter_method("XLORA", {}) == "xlora"  # not registered: PEFT's type in lower case
    assert methods.adapter_method("LN_TUNING", {}, run_method="last_layers") == "last_layers"
    assert methods.variant("lora", use_dora=True) == "dora" and methods.variant("lora", use_dora=False) == "lora"
    assert methods.get("p_tuning").size_knobs == ("num_virtual_tokens", "encoder_hidden_size")
    assert methods.get("ia3").size_knobs == ()


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
    from workbench.core.model.modules import default_targets
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


def test_the_method_choices_carry_the_group():
    pytest.importorskip("gradio")
    from workbench.ui.handlers import train as train_handlers
    from workbench.ui.language import CURRENT_LANG
    from workbench.ui.tabs import train_tab
    en = train_handlers.method_choices("en")
    assert [value for _label, value in en] == list(methods.grouped_names()) == train_tab.method_choices()
    assert ("reparameterized · lora", "lora") in en and ("additive · ia3", "ia3") in en
    assert ("selective · ln_tuning", "ln_tuning") in en
    zh = dict((v, label) for label, v in train_handlers.method_choices("zh-CN"))
    assert zh["lora"] == "重参数化 · lora" and zh["prompt_tuning"] == "添加式 · prompt_tuning"
    token = CURRENT_LANG.set("zh-CN")  # the page's language when no language is given
    try:
        assert train_handlers.method_choices() == train_handlers.method_choices("zh-CN")
    finally:
        CURRENT_LANG.reset(token)


LOHA_FAMILY = '''"""A family file for a method the workbench does not ship: LoHa (Hadamard product of two low-rank pairs)."""
from __future__ import annotations

from workbench.errors import SpecError
from workbench.spec import methods


def loha_kwargs(spec, config, task_type):
    return dict(task_type=task_type, r=spec.r, alpha=spec.alpha, target_modules=spec.target_modules)


def loha_plan(model, spec, named, base_total):
    from workbench.core.model.counting import CountPlan
    from workbench.core.model.modules import features, match_targets
    modules = dict(named)
    names = match_targets(model, spec.target_modules, spec.method, named=named)
    rank_sum = sum(2 * sum(features(modules[n])) for n in names)  # w1_a, w1_b, w2_a, w2_b: 2 r (in + out)
    return CountPlan(spec.method, True, base_total, rank_sum, 0, 0, len(names))


def check(spec):
    if spec.bias != "none":
        raise SpecError("adapter.bias", "settings.one_of", choices="none", value=spec.bias)


def card_rows(a):
    return [("rank r", a.r), ("alpha", a.alpha)]


methods.register(methods.Method(
    name="loha_test", family="lora", peft_config="LoHaConfig", peft_type="LOHA", config_kwargs=loha_kwargs,
    plan=loha_plan, knobs=("r", "alpha", "target_modules"), form_groups=("lora",), help_id="help.method.lora",
    budget_knob="r", target_table="TRANSFORMERS_MODELS_TO_LOHA_TARGET_MODULES_MAPPING",
    wraps_id="targets.wraps_ia3", check=check, card_rows=card_rows, card_tags=("lycoris",)))
'''


@pytest.fixture
def loha_file(tmp_path):
    """A new method registered by importing one family-style file, and nothing else."""
    import importlib.util
    path = tmp_path / "loha_family.py"
    path.write_text(LOHA_FAMILY, encoding="utf-8")
    module_spec = importlib.util.spec_from_file_location("loha_family_test", path)
    module_spec.loader.exec_module(importlib.util.module_from_spec(module_spec))
    yield methods.get("loha_test")
    methods.unregister("loha_test")


def test_a_method_from_one_file_is_validated_counted_and_shown(loha_file, tiny_config_factory):
    from workbench.core.experiments.plan import size_knobs
    from workbench.core.export.model_card import _hyperparameters
    from workbench.core.model.counting import sweep
    from workbench.core.model.modules import default_targets
    from workbench.spec.settings import RunSpec
    assert methods.names()[-1] == "loha_test" and methods.in_family("lora")[-1] == "loha_test"
    spec = AdapterSpec(method="loha_test", r=4, target_modules=["q_proj", "v_proj"])  # validated by the registry
    with pytest.raises(SpecError, match="adapter.bias"):  # and by the record's own check
        AdapterSpec(method="loha_test", bias="all")
    config = tiny_config_factory("llama")
    model = build_meta_model(config)
    ours = count(model, spec)
    assert (ours.trainable, ours.total) == count_with_peft(config, spec)  # counted: PEFT's own LoHa count
    assert ours.method == "loha_test" and ours.rank == 4 and ours.layers == 2 * config.num_hidden_layers
    wide = dataclasses.replace(spec, r=16)
    assert sweep(model, spec, [4, 16])[1].trainable == count_with_peft(config, wide)[0]
    assert default_targets(model, "loha_test") == ["q_proj", "v_proj"]  # PEFT's LoHa table, named by the record
    assert peft_config_kwargs(spec, config)[0] == "LoHaConfig"
    rows = dict(_hyperparameters(RunSpec(adapter=spec)))  # shown: the model card
    assert rows["method"] == "loha_test" and rows["rank r"] == 4 and "lora_alpha" not in rows
    assert size_knobs("loha_test") == ("r",)  # experiments size it by rank
    assert methods.adapter_method("LOHA", {}, run_method="loha_test") == "loha_test"  # its run's adapter folder
    from workbench.cli import build_parser
    assert "loha_test" in build_parser()._subparsers._group_actions[0].choices["params"].format_help()


def test_a_method_from_one_file_is_in_the_form(loha_file):
    pytest.importorskip("gradio")
    from workbench.ui.tabs import train_tab
    assert "loha_test" in train_tab.method_choices()
    assert [u["visible"] for u in train_tab._visibility("loha_test")[:3]] == [True, False, False]


def test_the_readme_table_is_the_registry():
    """README.md's methods table is exactly what ``workbench methods --markdown`` prints (regenerate it after adding a
    method)."""
    from pathlib import Path

    from workbench.commands.methods import markdown
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    inside = readme.split("<!-- methods:start -->\n", 1)[1].split("\n<!-- methods:end -->", 1)[0]
    assert inside == markdown()
    assert len(inside.splitlines()) - 2 == len(methods.names())

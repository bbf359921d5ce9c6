"""The Train form <-> the YAML config, without a browser: fields come from the settings dataclasses, the YAML box
is the source of truth (a YAML-only edit survives later form edits), Gradio's values coerce to the same spec."""
from __future__ import annotations

import dataclasses

import pytest
import yaml

from workbench.spec.settings import RunSpec
from workbench.ui.handlers import form
from workbench.ui.tabs import train_tab


def _edit_yaml(text: str, path: str, value) -> str:
    d = yaml.safe_load(text)
    section, key = path.split(".")
    d[section][key] = value
    return yaml.safe_dump(d, sort_keys=False)


def test_every_form_field_is_a_documented_settings_field():
    sections = {f.name: f.type for f in dataclasses.fields(RunSpec)}
    assert len(set(form.FORM_FIELDS)) == len(form.FORM_FIELDS)
    for path in form.FORM_FIELDS:
        ff = form.form_field(path)
        assert ff.doc, path  # the docstring under the field in settings.py
        assert path == "name" or path.split(".")[0] in sections
    assert form.form_field("adapter.r").kind == "int" and form.form_field("adapter.r").default == 8
    assert form.form_field("train.learning_rate").kind == "float"
    assert (form.form_field("train.eval_steps").kind, form.form_field("train.eval_steps").optional) == ("int", True)
    assert form.form_field("adapter.target_modules").kind == "targets"
    assert form.form_field("adapter.use_rslora").kind == "bool"
    with pytest.raises(KeyError):
        form.form_field("adapter.rank")


def test_yaml_only_edit_survives_a_later_form_edit():
    cfg = form.recipe_spec("lora-quick").to_yaml()
    cfg = _edit_yaml(cfg, "adapter.r", 32)  # typed into the YAML box only; the form still shows r = 8
    form_values = form.recipe_form("lora-quick")
    assert form_values["adapter.r"] == 8
    # the user then edits another form field: the tab sends only that field
    cfg, shown = train_tab.on_field("adapter.alpha")(64.0, cfg)
    assert shown == cfg  # the YAML box shows the session's config
    spec = RunSpec.from_yaml(cfg)
    assert spec.adapter.r == 32 and spec.adapter.alpha == 64.0
    cfg, _shown = train_tab.on_field("train.max_steps")(12.0, cfg)
    assert RunSpec.from_yaml(cfg).adapter.r == 32 and RunSpec.from_yaml(cfg).train.max_steps == 12


def test_yaml_edits_update_the_form():
    cfg = _edit_yaml(form.recipe_spec("lora-quick").to_yaml(), "adapter.r", 32)
    values = form.yaml_to_form(cfg)
    assert values["adapter.r"] == 32 and values["adapter.target_modules"] == "q_proj, v_proj"
    assert form.yaml_to_form("adapter: {r: [") == {}  # mid-typing: the form is left as it is
    assert form.yaml_to_form("adapter: {r: 0}") == {}  # not a valid config yet


def test_gradio_values_coerce_to_the_same_spec():
    spec = form.recipe_spec("lora-quick")
    plain = form.spec_to_form(spec)
    gradio = dict(plain)
    for path, v in plain.items():  # gr.Number / gr.Slider hand back floats
        if isinstance(v, int) and not isinstance(v, bool):
            gradio[path] = float(v)
    gradio["train.eval_steps"] = 0.0  # 0 in a number box = not set
    gradio["adapter.prompt_tuning_init_text"] = ""  # '' in a text box = not set
    gradio["name"] = "  lora-quick  "
    assert form.form_to_spec(gradio, spec.to_yaml()) == spec
    assert form.form_to_spec(plain, spec.to_yaml()) == spec
    assert form.form_to_spec({"train.eval_steps": 5.0}, spec.to_yaml()).train.eval_steps == 5
    assert form.form_to_spec({"train.max_steps": ""}, spec.to_yaml()).train.max_steps == spec.train.max_steps
    with pytest.raises(Exception, match="adapter.r"):
        form.form_to_spec({"adapter.r": 8.5}, spec.to_yaml())  # not silently truncated to 8


def test_every_recipe_round_trips_through_the_form():
    for name in form.recipe_names():
        spec = form.recipe_spec(name)
        assert form.form_to_spec(form.spec_to_form(spec), spec.to_yaml()) == spec, name
        assert form.yaml_to_form(spec.to_yaml()) == form.spec_to_form(spec), name


def test_the_tab_sends_one_field_per_form_event():
    """Built without a browser: each form component's input event sends only itself and the session's config
    (server-side state, read when the event runs), writes the config and the YAML box that shows it, and every
    event that edits the config runs one at a time (one concurrency group, limit 1)."""
    import gradio as gr
    with gr.Blocks() as demo:
        parts = train_tab.build(gr.BrowserState(""), gr.BrowserState(""))
    config, state = parts["config"], parts["config_state"]
    comps = parts["comps"]
    by_trigger = {}
    for dep in demo.config["dependencies"]:
        for target_id, event in dep["targets"]:
            by_trigger.setdefault((target_id, event), []).append(dep)
    for comp in comps:
        deps = by_trigger[(comp._id, "input")]
        assert [d["inputs"] for d in deps] == [[comp._id, state._id]]
        assert [d["outputs"] for d in deps] == [[state._id, config._id]]
    yaml_deps = by_trigger[(config._id, "input")]
    assert [d["outputs"] for d in yaml_deps] == [[c._id for c in comps] + [state._id]]
    editing = [d for d in demo.config["dependencies"] if state._id in d["outputs"]]
    assert len(editing) == len(comps) + 3  # form fields, the YAML box, the recipe picker, an upload
    fns = [demo.fns[d["id"]] for d in editing]  # the server-side event functions (they hold the concurrency group)
    assert len({fn.concurrency_id for fn in fns}) == 1 and {fn.concurrency_limit for fn in fns} == {1}


def test_trackers_in_the_form(monkeypatch):
    """train.report_to is a checkbox group: a list in, the same list in the config; its choices are what the server
    offers (public mode: only the local trackers)."""
    assert form.form_field("train.report_to").kind == "choices" and form.form_field("train.report_to").default == []
    cfg = form.recipe_spec("lora-quick").to_yaml()
    cfg, _shown = train_tab.on_field("train.report_to")(["tensorboard", "trackio"], cfg)
    assert RunSpec.from_yaml(cfg).train.report_to == ["tensorboard", "trackio"]
    assert form.yaml_to_form(cfg)["train.report_to"] == ["tensorboard", "trackio"]
    cfg, _shown = train_tab.on_field("train.report_to")([], cfg)
    assert RunSpec.from_yaml(cfg).train.report_to == []
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setenv("WORKBENCH_PUBLIC", "0")
    assert form.tracker_choices() == ["trackio", "tensorboard", "wandb", "mlflow"]
    monkeypatch.setenv("WORKBENCH_PUBLIC", "1")
    assert form.tracker_choices() == ["trackio", "tensorboard"]

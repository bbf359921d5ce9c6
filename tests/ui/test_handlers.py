"""Handlers called directly (no UI built): primitives in, primitives out, clear errors."""
import gradio as gr
import pandas as pd
import pytest

from workbench.core.serving.workspace import Workspace
from workbench.ui.handlers import inspect as IH
from workbench.ui.handlers import train as TH


def test_inspect_embedded(embedded_dir):
    summary, df, groups, leaves, defaults = IH.inspect_model("smollm2-135m-instruct")
    assert "134,515,008" in summary
    assert defaults == ["q_proj", "v_proj"]
    assert {"q_proj", "v_proj", "down_proj"} <= set(leaves)
    row = groups[groups["leaf"] == "q_proj x30"].iloc[0]
    assert row["params each"] == 331_776
    assert len(IH.filter_modules("smollm2-135m-instruct", r"layers\.0\.self_attn")) == 5  # attn + q,k,v,o


def test_match_view_counts_equal_peft_figures(embedded_dir):
    md, matched = IH.match_view("smollm2-135m-instruct", ["q_proj", "v_proj"], "", False, 8)
    assert "**60 layers match**" in md and "460,800" in md
    assert len(matched) == 60
    md, _ = IH.match_view("smollm2-135m-instruct", [], r".*\.0\.self_attn\.q_proj", False, 1)
    assert "**1 layers match**" in md


def test_bad_target_names_close_match():
    with pytest.raises(gr.Error, match="q_proj"):
        IH.match_view("Llama-3-8B", ["q_porj"], "", False, 8)
    with pytest.raises(gr.Error, match="at least one"):
        IH.match_view("Llama-3-8B", [], "", False, 8)


def test_rank_view_70b_and_references():
    fig_p, fig_pct, table = IH.rank_view("Llama-3-70B", ["PEFT default", "all-linear"], None, "", "1,8,64")
    assert isinstance(table, pd.DataFrame)
    pd_rows = table[(table["target set"] == "PEFT default")]
    # LoRA paper formula on q,v: 2 * L * (d_in + d_out) * r ; Llama-3-70B q: 8192->8192, v: 8192->1024
    assert list(pd_rows["trainable"]) == [80 * (8192 + 8192 + 8192 + 1024) * r for r in (1, 8, 64)]
    names = {tr.name for tr in fig_p.data}
    assert {"PEFT default", "all-linear"} <= names
    assert any(n.startswith("prompt tuning") for n in names)


def test_memory_view_orders_setups():
    fig, df, md = IH.memory_view("Llama-2-7B", 8)
    assert len(df) == 3 and "estimate" in md
    parts = [tr for tr in fig.data if tr.type == "bar"]  # baseline, weights, grads, Adam, activations, logits
    assert len(parts) == 6


def test_size_view_counts_a_method_against_its_own_knob_as_peft_does():
    from workbench.core.model.counting import count_with_peft
    from workbench.spec.settings import AdapterSpec
    name = IH.custom_model(64, 2, 4, 2, 128, 100, False)  # a tiny architecture: counted on the meta device
    fig, fig_pct, table, note = IH.size_view(name, "loha", "4, 2", "attention (q,k,v,o)")
    assert list(table["size"]) == ["r=2", "r=4"] and "`r`" in note
    model = IH._counting_model(name)
    want = [count_with_peft(model, AdapterSpec(method="loha", r=r, target_modules=["q_proj", "k_proj", "v_proj",
                                                                                  "o_proj"]))[0] for r in (2, 4)]
    assert list(table["trainable"]) == want and want[0] > 0
    assert list(fig.data[0].x) == [2, 4] and list(fig.data[0].y) == want
    assert fig_pct.data[0].y[1] == pytest.approx(table["% of model"][1], abs=1e-5)
    # a method without a size knob: its one count and a note saying so (the sizes box is not read)
    _f, _p, table, note = IH.size_view(name, "ia3", "2, 4")
    assert len(table) == 1 and table["size"][0] == "-" and "has no size knob" in note
    assert table["trainable"][0] == count_with_peft(model, AdapterSpec(method="ia3"))[0]


def test_size_view_refuses_bad_sizes_before_counting(monkeypatch):
    from workbench.core.model import counting
    name = IH.custom_model(64, 2, 4, 2, 128, 100, False)
    monkeypatch.setattr(counting, "sweep", lambda *a, **k: pytest.fail("counted a bad size"))
    with pytest.raises(gr.Error, match=r"r=5000 is not a valid size for loha: must be an integer in 1\.\.4096"):
        IH.size_view(name, "loha", "2, 5000")
    with pytest.raises(gr.Error, match="whole numbers"):
        IH.size_view(name, "fourierft", "500, lots")
    from workbench.core.model.knob_sizes import check_sizes
    from workbench.errors import SpecError
    from workbench.spec.settings import AdapterSpec
    with pytest.raises(SpecError, match=r"u=0 is not a valid size for tinylora: must be in \[1, 65536\]"):
        check_sizes(AdapterSpec(method="tinylora"), [64, 0])


def test_default_sizes_follow_the_knob():
    from workbench.core.model.knob_sizes import default_sizes
    assert default_sizes("loha") == (2, 4, 8, 16)
    assert default_sizes("prompt_tuning") == (10, 20, 40, 80)
    assert default_sizes("boft") == (2, 4, 8, 16)  # boft_block_size: default 4 times 1/2, 1, 2, 4
    assert default_sizes("ia3") == ()
    assert IH.default_sizes_text("fourierft") == "500, 1000, 2000, 4000"


def test_custom_model_becomes_a_model_name():
    name = IH.custom_model(256, 2, 4, 2, 512, 1000, False)
    summary, *_ = IH.inspect_model(name)
    assert "architecture only" in summary
    with pytest.raises(gr.Error, match="divisible"):
        IH.custom_model(250, 2, 4, 2, 512, 1000)


def test_recipe_form_roundtrip():
    values = TH.recipe_form("lora-quick")
    spec = TH.form_to_spec(values)
    assert spec == TH.recipe_spec("lora-quick")
    values["adapter.r"] = 0
    with pytest.raises(Exception, match="adapter.r"):
        TH.form_to_spec(values)


def test_every_recipe_loads_into_the_form():
    for name in TH.recipe_names():
        spec = TH.recipe_spec(name)
        assert TH.form_to_spec(TH.spec_to_form(spec), spec.to_yaml()) == spec, name


def test_show_code_is_plain_peft(embedded_dir):
    py, cli = TH.show_code(TH.recipe_spec("qlora-quick").to_yaml())
    compile(py, "snippet.py", "exec")
    assert "LoraConfig(" in py and "BitsAndBytesConfig" in py and "workbench" not in py.split("\n", 3)[-1]
    assert "python -m workbench train" in cli


def test_start_refuses_architecture_only(runs_dir):
    spec = TH.recipe_spec("lora-quick")
    spec.model.name = "Llama-3-70B"
    with pytest.raises(gr.Error, match="architecture-only"):
        TH.start_run(spec.to_yaml(), "me")


def test_runs_are_private_per_session(runs_dir):
    from workbench.core.runstore import run_dirs as R
    rid = R.create_run(TH.recipe_spec("lora-quick"), owner="alice")
    assert rid in TH.run_choices("alice")
    assert rid not in TH.run_choices("bob")
    with pytest.raises(gr.Error, match="another session"):
        TH.stop_run(rid, "bob")
    md, *_ = TH.poll_run(rid, "bob")
    assert "another session" in md


def test_upload_dataset_names_bad_lines(tmp_path, runs_dir):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "c"\n{"prompt": "", "response": "d"}\n')
    with pytest.raises(gr.Error, match="line 2"):
        TH.upload_dataset(str(bad), "me")
    good = tmp_path / "../good.jsonl"
    good.write_text("\n".join('{"prompt": "p%d", "response": "r%d"}' % (i, i) for i in range(20)))
    name, md = TH.upload_dataset(str(good), "me")
    assert name.startswith(str(Workspace("me").uploads_dir)) and "18 training rows" in md


def test_precision_help_says_what_auto_means_on_this_cpu(monkeypatch, native_bf16):
    """The precision control says whether auto means bf16 or fp32 here, and why fp32 where bf16 is emulated."""
    from workbench.core.model import precision
    monkeypatch.setattr(precision, "pick_device", lambda pref="auto": "cpu")
    text = TH.precision_summary()
    assert ("bf16 mixed precision here" in text) if native_bf16 else ("fp32 here" in text and "emulated" in text), text

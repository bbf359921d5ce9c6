"""Experiments tab handlers (no training): shipped experiments, building one from the Train config, the plan,
what the page may read as a base, the views of runs (table, diff, charts) in both languages."""
from __future__ import annotations

import gradio as gr
import pytest
import yaml

from workbench.core.runstore import run_dirs as runs
from workbench.core.runstore.status import update_status
from workbench.spec.settings import RunSpec
from workbench.ui.handlers import experiments as experiment_handlers
from workbench.ui.handlers.form import recipe_spec
from workbench.ui.language import CURRENT_LANG


@pytest.fixture()
def zh():
    token = CURRENT_LANG.set("zh-CN")
    yield
    CURRENT_LANG.reset(token)


def test_shipped_experiments_are_listed_with_their_explanation(zh):
    names = [name for _, name in experiment_handlers.shipped_choices()]
    assert "rank-sweep" in names
    md, text = experiment_handlers.shipped_experiment("rank-sweep")
    assert "秩重要吗" in md and "LoRA 论文" in md  # title and explanation in the page's language
    assert yaml.safe_load(text)["name"] == "rank-sweep"


def test_build_from_the_train_config_then_plan():
    cfg = recipe_spec("lora-quick").to_yaml()
    text = experiment_handlers.build_from_config(cfg, "2, 4", "q_proj,v_proj\nall-linear", [], 0)
    d = yaml.safe_load(text)
    assert d["vary"] == {"adapter.r": [2, 4], "adapter.target_modules": [["q_proj", "v_proj"], "all-linear"]}
    assert RunSpec.from_dict(d["base"]).adapter.method == "lora"
    plan = experiment_handlers.plan(text, 3)
    assert len(plan.table) == 4 and "4" in plan.summary
    counts = dict(zip(plan.table["run"], plan.table["trainable"]))
    assert counts["r=2 targets=q_proj,v_proj"] == 115_200 and counts["r=4 targets=q_proj,v_proj"] == 230_400
    as_json = experiment_handlers.plan_json(text, 3)
    assert as_json[0]["trainable"] == 115_200 and as_json[0]["r"] == 2


def test_bad_input_is_a_clear_error():
    cfg = recipe_spec("lora-quick").to_yaml()
    with pytest.raises(gr.Error, match="at least one axis"):
        experiment_handlers.build_from_config(cfg, "", "", [], 0)
    with pytest.raises(gr.Error, match="rank"):
        experiment_handlers.plan("name: x\nbase: presets/recipes/lora-quick.yaml\nvary: {adapter.rank: [1]}\n")
    with pytest.raises(gr.Error, match="not a shipped recipe"):  # nothing else on the server is read
        experiment_handlers.plan("name: x\nbase: /etc/passwd\nvary: {adapter.r: [1]}\n")
    with pytest.raises(gr.Error, match="Pick a shipped experiment"):
        experiment_handlers.plan("")


def _fake_run(owner: str, r: int, score: float, name: str) -> str:
    spec = RunSpec.from_dict({"name": name, "adapter": {"method": "lora", "r": r}})
    run_id = runs.create_run(spec, owner=owner)
    d = runs.safe_run_dir(run_id)
    update_status(d, status="done", started=1.0, ended=11.0, step=2, max_steps=2, trainable_params=1000 * r,
                  total_params=100_000, train_loss=1.5, eval_loss=1.6, metric="json_match", score=score,
                  peak_mem_mb=900.0, est_mem_mb=1000.0)
    (d / "log.jsonl").write_text('{"step": 1, "loss": 2.0, "elapsed_s": 1.0, "tokens_per_s": 100}\n'
                                 '{"step": 2, "loss": 1.5, "eval_loss": 1.6, "elapsed_s": 2.0, "tokens_per_s": 100}\n')
    return run_id


def test_compare_any_runs_of_the_session(runs_dir, zh):
    a = _fake_run("alice", 2, 0.4, "small")
    b = _fake_run("alice", 8, 0.5, "big")
    other = _fake_run("bob", 4, 0.9, "theirs")
    assert {rid for _, rid in experiment_handlers.run_choices("alice")} == {a, b}
    view = experiment_handlers.runs_view([a, b], "alice", "step", 0.5)
    assert len(view.rows) == 2 and list(view.rows.columns)[0] == "运行"
    assert list(view.diff.iloc[:, 0]) == ["adapter.r"]  # only what differs
    assert len(view.score.data) >= 2 and view.score.layout.xaxis.type == "log"
    assert len(view.curves.data) == 4  # train + held-out per run
    assert "big" in view.reading and "帕累托" in view.reading
    assert view.csv_path and open(view.csv_path, encoding="utf-8").read().count("\n") >= 2
    with pytest.raises(gr.Error):  # another session's run
        experiment_handlers.runs_view([other], "alice")
    with pytest.raises(gr.Error):
        experiment_handlers.adapter_of(a, "alice")  # no adapter folder: a clear error, not an empty Compare tab


def test_forgetting_and_adapter_size_in_the_rows_and_their_chart(runs_dir, zh):
    a = _fake_run("alice", 2, 0.4, "small")
    b = _fake_run("alice", 8, 0.5, "big")
    update_status(runs.safe_run_dir(a), forgetting=0.012, adapter_mb=0.25)
    update_status(runs.safe_run_dir(b), forgetting=0.3, adapter_mb=1.5)
    view = experiment_handlers.runs_view([a, b], "alice")
    assert list(view.rows["遗忘度"]) == [0.012, 0.3] and list(view.rows["适配器（MB）"]) == [0.25, 1.5]
    assert {t.name: (t.x[0], t.y[0]) for t in view.forgetting.data} == {"small": (0.012, 0.4), "big": (0.3, 0.5)}
    assert "遗忘度" in view.forgetting.layout.xaxis.title.text
    assert "遗忘度" in view.reading and "+0.300" in view.reading  # the reading names the range
    assert not experiment_handlers.empty_view().forgetting.data


def test_the_tab_opens_on_a_shipped_experiment_and_its_recorded_result(tmp_path, runs_dir, monkeypatch, zh):
    """A new visitor sees full-vs-peft picked, its YAML, and (once recorded) its answer: rows, curves, charts, the
    settings that differ and a label saying it is a recording - from the recording alone, no run folder."""
    import shutil
    from tests.support.recorded_fixture import fake_experiment
    from workbench.core.experiments import definition, recorded
    from workbench.ui.handlers import experiments_recorded
    monkeypatch.setenv(recorded.RECORDED_DIR_ENV, str(tmp_path / "recorded"))
    opened = experiments_recorded.opening("", "")
    assert opened.name == opened.shown == "full-vs-peft" and yaml.safe_load(opened.yaml)["name"] == "full-vs-peft"
    assert "全量微调" in opened.explain
    view = experiments_recorded.recorded_view("full-vs-peft")  # not recorded yet: it says so
    assert "还没有已记录的结果" in view.header and len(view.rows) == 0
    assert list(view.diff.columns) == ["设置"]  # a real header, never Gradio's "1 2 3"

    recorded.record(fake_experiment(tmp_path / "experiments", "full-vs-peft"), "full-vs-peft")
    shutil.rmtree(runs_dir)  # the run folders are not on a visitor's server: the recording is all the tab reads
    runs_dir.mkdir()
    opened = experiments_recorded.opening("", "")
    view = experiments_recorded.recorded_view(opened.shown, "step", 0.0)
    assert view.header.startswith("**已记录的结果**（2025-01-01，") and "原生 bf16" in view.header
    assert "**启动**" in view.header
    labels = recorded.labels_of(definition.load("full-vs-peft"))
    assert list(view.rows["运行"]) == labels and list(view.rows["得分"]) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert len(view.curves.data) == 2 * len(labels)  # train + held-out per run, from the recorded log rows
    assert {t.name for t in view.score.data} >= set(labels) and len(view.forgetting.data) == len(labels) + 1
    assert list(view.cost.data[0].x) == labels
    assert list(view.diff.iloc[:, 0]) == ["adapter.r", "train.learning_rate"] and list(view.diff.columns)[1:] == labels
    assert "帕累托" in view.reading and view.csv_path and not view.active and view.finished == []
    assert experiments_recorded.plan_unless_recorded("full-vs-peft", opened.yaml).summary == ""  # shows its runs
    rank_sweep = experiment_handlers.shipped_experiment("rank-sweep")[1]
    assert "6" in experiments_recorded.plan_unless_recorded("rank-sweep", rank_sweep).summary  # no recording: plan

    mine = experiments_recorded.opening("my-experiment-id", "name: mine")  # this browser watches its own experiment
    assert mine.shown == "" and mine.yaml is None and mine.name == "full-vs-peft"
    assert experiment_handlers.empty_view().diff.columns.tolist() == ["设置"]

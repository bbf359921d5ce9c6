"""Experiments: file validation (errors name the field), expansion and budget sizing (equal to PEFT's own counts),
the plan JSON, the subspace similarity, and end-to-end runs from the CLI (slow: tiny model, 2 steps)."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workbench.core.experiments import definition as experiments
from workbench.core.experiments.plan import expand, plan_rows, size_knobs
from workbench.core.experiments.definition import ExperimentSpec
from workbench.core.experiments import queue_jobs
from workbench.core.model.loading import MODEL_CACHE
from workbench.core.model.counting import count, count_with_peft
from workbench.errors import SpecError

ROOT = Path(__file__).resolve().parents[2]
METHODS = ["lora", "dora", "qlora", "prompt_tuning", "p_tuning", "prefix_tuning", "ia3"]


def spec_of(**d) -> ExperimentSpec:
    d.setdefault("name", "t")
    d.setdefault("base", {"model": {"name": "SmolLM2-135M"}, "adapter": {"method": "lora"}})
    return ExperimentSpec.from_dict(d)


def field_of(excinfo) -> str:
    return excinfo.value.field


# --------------------------------------------------------------------------- budget sizing = PEFT's counts

@pytest.mark.parametrize("arch,budget", [("SmolLM2-135M", 230_400), ("GPT-2", 200_000), ("t5-small", 150_000)])
def test_budget_sizing_equals_peft_for_every_method(arch, budget):
    spec = spec_of(base={"model": {"name": arch}, "adapter": {"method": "lora"}}, budget=budget,
                   variants=[{"label": m, "adapter.method": m} for m in METHODS])
    meta = MODEL_CACHE.meta(arch)
    for v in expand(spec):
        a = v.spec.adapter
        assert (v.trainable, v.total) == count_with_peft(meta, a), (arch, v.label)
        if a.method == "ia3":  # no knob: runs as configured, and says so
            assert not v.sized and v.knob is None and "no size knob" in str(v.note)
            continue
        assert v.sized and v.knob in size_knobs(a.method)
        # the closest achievable count: one step up or down on the chosen knob is not closer
        value = getattr(a, v.knob)
        for other in (value - 1, value + 1):
            if other >= 1:
                import dataclasses
                n = count(meta, dataclasses.replace(a, **{v.knob: other})).trainable
                assert abs(n - budget) >= abs(v.trainable - budget), (arch, v.label, other)


def test_rank_sweep_counts_match_the_facts():
    rows = plan_rows(expand(experiments.load("rank-sweep")))
    by_r = {r.r: r.trainable for r in rows}
    assert [r.label for r in rows] == ["r=1", "r=2", "r=4", "r=8", "r=16", "r=64"]
    assert (by_r[1], by_r[4], by_r[8], by_r[64]) == (57_600, 230_400, 460_800, 3_686_400)
    assert all(r.target_modules == ["q_proj", "v_proj"] and not r.sized for r in rows)


def test_which_matrices_spends_one_budget():
    rows = plan_rows(expand(experiments.load("which-matrices")))
    assert len(rows) == 7
    by_targets = {tuple(r.target_modules): r for r in rows}
    assert by_targets[("q_proj", "v_proj")].r == 4 and by_targets[("q_proj", "v_proj")].trainable == 230_400
    assert by_targets[("q_proj", "k_proj", "v_proj", "o_proj")].r == 2
    assert by_targets[("k_proj",)].r == 10  # k is narrower (3 KV heads): a higher rank for the same budget
    assert all(abs(r.trainable - 230_400) <= 0.06 * 230_400 for r in rows)


@pytest.mark.parametrize("name", ["rank-sweep", "which-matrices", "methods-at-budget", "qlora-vs-lora"])
def test_shipped_experiments_load_and_expand(name):
    spec = experiments.load(name)
    assert spec.text("title") and spec.text("title", "zh-CN") != spec.text("title")
    assert spec.text("description") and spec.text("description", "zh-CN")
    variants = expand(spec)
    assert 2 <= len(variants) <= experiments.max_runs()
    for v in variants:
        assert v.spec.train.eval_steps and v.spec.train.max_steps <= 20  # small enough for a 2-core CPU
        assert v.spec.name.startswith(f"{spec.name} / ")
    if name == "methods-at-budget":
        assert {v.spec.adapter.method for v in variants} == set(METHODS)
    assert {v.spec.data.heldout_limit for v in variants} == {spec.heldout_limit or experiments.DEFAULT_HELDOUT_LIMIT}


def test_heldout_limit_reaches_every_run_and_the_trainers_eval_set(tokenizer):
    spec = spec_of(vary={"adapter.r": [1, 2]}, heldout_limit=5)
    assert {v.spec.data.heldout_limit for v in expand(spec)} == {5}
    assert {v.spec.data.heldout_limit for v in expand(spec_of(vary={"adapter.r": [1]}))} == {16}
    from workbench.core.data.datasets import build_datasets
    from workbench.spec.settings import DataSpec
    assert build_datasets(DataSpec(heldout_limit=5), tokenizer).n_eval == 5
    assert build_datasets(DataSpec(), tokenizer).n_eval == 50


# --------------------------------------------------------------------------- validation names the field

@pytest.mark.parametrize("d,field", [
    ({"vary": {"adapter.rank": [1, 2]}}, "vary.adapter.rank"),
    ({"vary": {"optimizer.lr": [1]}}, "vary.optimizer.lr"),
    ({"vary": {"adapter.r": []}}, "vary.adapter.r"),
    ({"vary": {"adapter.r": 4}}, "vary.adapter.r"),
    ({}, "vary"),
    ({"vary": {}}, "vary"),
    ({"vary": {"adapter.r": [1]}, "budgett": 5}, "budgett"),
    ({"vary": {"adapter.r": [1]}, "budget": -3}, "budget"),
    ({"vary": {"adapter.r": [1]}, "base": "no/such/file.yaml"}, "base"),
    ({"variants": [{"label": "x", "adapter.bogus": 1}]}, "variants[0].adapter.bogus"),
    ({"variants": [{"label": "x"}, {"label": "x"}]}, "variants[1].label"),
    ({"variants": ["lora"]}, "variants[0]"),
    ({"vary": {"adapter.r": [0]}}, "vary"),  # adapter.r's own check, wrapped with the place it came from
    ({"name": "bad name!", "vary": {"adapter.r": [1]}}, "name"),
    ({"vary": {"adapter.r": [1]}, "heldout_limit": 0}, "heldout_limit"),
])
def test_validation_errors_name_the_field(d, field):
    with pytest.raises(SpecError) as e:
        expand(spec_of(**d))
    assert field_of(e) == field
    assert str(e.value).startswith(f"{field}: ")


def test_too_many_runs(monkeypatch):
    monkeypatch.setenv("WORKBENCH_MAX_EXPERIMENT_RUNS", "3")
    spec = spec_of(vary={"adapter.r": [1, 2], "adapter.alpha": [8, 16]})  # read: fine
    with pytest.raises(SpecError) as e:  # planned: refused before anything is counted or queued
        expand(spec)
    assert field_of(e) == "vary" and "4 runs" in str(e.value) and "3" in str(e.value)
    monkeypatch.delenv("WORKBENCH_MAX_EXPERIMENT_RUNS")
    assert experiments.max_runs() == 40  # the method zoo (38 runs) fits
    monkeypatch.setenv("WORKBENCH_PUBLIC", "1")
    assert experiments.max_runs() == 8  # a public server: the zoo shows its recorded answer
    assert len(expand(spec_of(vary={"adapter.r": [1, 2], "adapter.alpha": [8, 16]}))) == 4


def test_budget_smaller_than_a_variant_can_reach():
    # DoRA at r=1 on q,v of SmolLM2 trains 57,600 + 23,040 magnitudes = 80,640: a 60,000 budget cannot be met
    spec = spec_of(base={"model": {"name": "SmolLM2-135M"}, "adapter": {"target_modules": ["q_proj", "v_proj"]}},
                   budget=60_000, variants=[{"label": "LoRA"}, {"label": "DoRA", "adapter.method": "dora"}])
    with pytest.raises(SpecError) as e:
        expand(spec)
    assert field_of(e) == "budget" and "DoRA" in str(e.value) and "80,640" in str(e.value)


def test_grid_crossed_with_variants_and_target_grammar():
    spec = spec_of(vary={"adapter.target_modules": ["q_proj, v_proj", ["k_proj"], "all-linear"]},
                   variants=[{"label": "A"}, {"label": "B", "adapter.r": 2}])
    vs = expand(spec)
    assert [v.label for v in vs] == ["A targets=q_proj,v_proj", "A targets=k_proj", "A targets=all-linear",
                                     "B targets=q_proj,v_proj", "B targets=k_proj", "B targets=all-linear"]
    assert vs[0].spec.adapter.target_modules == ["q_proj", "v_proj"]
    assert vs[2].spec.adapter.target_modules == "all-linear"
    assert vs[3].spec.adapter.r == 2 and vs[0].spec.adapter.r == 8


# --------------------------------------------------------------------------- CLI: plan and one-line errors

def test_plan_json_shape(tmp_path, capsys):
    from workbench.cli import main
    f = tmp_path / "e.yaml"
    f.write_text(yaml.safe_dump({"name": "p", "base": {"model": {"name": "SmolLM2-135M"}}, "budget": 115_200,
                                 "variants": [{"label": "LoRA"}, {"label": "prompt", "adapter.method": "prompt_tuning"},
                                              {"label": "IA3", "adapter.method": "ia3"}]}))
    assert main(["experiment", "plan", str(f), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    keys = ["label", "method", "r", "num_virtual_tokens", "target_modules", "trainable", "total", "percent"]
    assert [list(r) for r in rows] == [keys] * 3
    lora, prompt, ia3 = rows
    assert lora["r"] == 2 and lora["num_virtual_tokens"] is None and lora["target_modules"] == ["q_proj", "v_proj"]
    assert lora["trainable"] == 115_200 and lora["total"] == 134_515_008 + 115_200
    assert prompt["r"] is None and prompt["num_virtual_tokens"] == 200 and prompt["target_modules"] is None
    assert ia3["r"] is None and ia3["num_virtual_tokens"] is None and ia3["target_modules"] == ["k_proj", "v_proj",
                                                                                                 "down_proj"]
    assert abs(lora["percent"] - 100 * 115_200 / lora["total"]) < 1e-3


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    from workbench.cli import main
    f = tmp_path / "e.yaml"
    f.write_text("name: x\nbase: {model: {name: SmolLM2-135M}}\nvary: {adapter.rnk: [1]}\n")
    assert main(["experiment", "plan", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: vary.adapter.rnk: ") and "adapter.r" in err
    assert main(["experiment", "run", "no-such-experiment"]) == 2
    assert "rank-sweep" in capsys.readouterr().err  # names the shipped ones
    assert main(["experiment", "show", "../etc"]) == 2
    assert main(["experiment", "run", str(f), "--max-steps", "0"]) == 2


# --------------------------------------------------------------------------- analysis helpers

def test_subspace_similarity_phi():
    import torch
    from workbench.core.experiments.report import phi_grid
    torch.manual_seed(0)
    big = torch.randn(64, 576)
    small = big[:8] * 3.0  # the r=8 directions lie inside the r=64 ones
    phi = phi_grid(small, big)
    assert phi.shape == (8, 64)
    assert torch.allclose(phi[:, -1], torch.ones(8, dtype=phi.dtype), atol=1e-6)  # subspace of the whole: phi = 1
    assert float(phi[0, 0]) <= 1 + 1e-9 and float(phi.min()) >= 0
    rand = phi_grid(torch.randn(8, 576), torch.randn(64, 576))
    assert float(rand[0, 0]) < 0.1 and abs(float(rand[7, 63]) - 64 / 576) < 0.06  # random: ~max(i, j) / d


def test_pareto_front():
    from workbench.plots_experiments import pareto_labels, score_chart
    rows = [{"label": "a", "trainable": 10, "score": 0.5, "method": "lora", "metric": "m"},
            {"label": "b", "trainable": 100, "score": 0.5, "method": "lora", "metric": "m"},  # bigger, no better
            {"label": "c", "trainable": 1000, "score": 0.9, "method": "lora", "metric": "m"},
            {"label": "d", "trainable": 5, "score": None, "method": "lora", "metric": "m"}]
    assert pareto_labels(rows) == ["a", "c"]
    fig = score_chart(rows, {"score": 0.1})
    assert fig.layout.xaxis.type == "log"


# --------------------------------------------------------------------------- end to end (tiny model, 2 steps)

def _tiny_data(tmp_path: Path, n_train: int = 8, n_test: int = 2) -> Path:
    src = ROOT / "presets" / "datasets" / "json-format"
    d = tmp_path / "tiny-data"
    d.mkdir()
    (d / "train.jsonl").write_text("".join((src / "train.jsonl").read_text().splitlines(True)[:n_train]))
    (d / "test.jsonl").write_text("".join((src / "test.jsonl").read_text().splitlines(True)[:n_test]))
    shutil.copy(src / "meta.yaml", d / "meta.yaml")
    return d


def _tiny_experiment(tmp_path: Path, model_dir: str, variants: list[dict]) -> Path:
    f = tmp_path / "tiny.yaml"
    f.write_text(yaml.safe_dump({
        "name": "tiny",
        "base": {"model": {"name": model_dir}, "adapter": {"method": "lora", "r": 2, "target_modules": ["q_proj"]},
                 "data": {"name": str(_tiny_data(tmp_path)), "max_length": 96},
                 "train": {"batch_size": 4, "logging_steps": 1, "precision": "fp32", "warmup_steps": 0}},
        "variants": variants, "eval_steps": 1, "eval_limit": 2, "heldout_limit": 1}))
    return f


def _cell(v) -> str:
    if v is None:
        return ""
    return ", ".join(v) if isinstance(v, list) else str(v)


@pytest.mark.slow
def test_cli_run_end_to_end(tmp_path, tiny_llama_dir, runs_dir):
    f = _tiny_experiment(tmp_path, tiny_llama_dir, [
        {"label": "lora"}, {"label": "prompt", "adapter.method": "prompt_tuning", "adapter.num_virtual_tokens": 3}])
    out_dir = tmp_path / "out"
    env = dict(os.environ, WORKBENCH_RUNS_DIR=str(runs_dir), HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "workbench", "experiment", "run", str(f), "--max-steps", "2",
                        "--limit", "2", "--output-dir", str(out_dir), "--json"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    printed = [json.loads(line) for line in p.stdout.splitlines()]  # stdout holds the results and nothing else
    assert [r["label"] for r in printed] == ["lora", "prompt", "base"]
    keys = ["run_id", "label", "method", "r", "num_virtual_tokens", "target_modules", "trainable", "percent",
            "wall_s", "tokens_per_s", "peak_mem_mb", "est_mem_mb", "train_loss", "eval_loss", "metric", "score",
            "forgetting", "adapter_mb"]
    for row in printed[:2]:
        assert list(row)[:len(keys)] == keys and row["status"] == "done" and row["error"] is None
        assert isinstance(row["forgetting"], float) and row["adapter_mb"] > 0  # what the run cost
        assert row["metric"] == "json_match" and 0 <= row["score"] <= 1 and row["eval_loss"] > 0
        assert row["trainable"] > 0 and row["wall_s"] > 0 and row["train_loss"] > 0
        assert row["peak_mem_mb"] > 0 and (row["est_mem_mb"] is None or row["est_mem_mb"] > 0)
    assert printed[0]["r"] == 2 and printed[0]["num_virtual_tokens"] is None
    assert printed[1]["r"] is None and printed[1]["num_virtual_tokens"] == 3
    assert set(printed[2]) == {"label", "metric", "score", "eval_loss", "forgetting"} and printed[2]["forgetting"] == 0
    (exp_dir,) = list(out_dir.iterdir())
    assert [json.loads(x) for x in (exp_dir / "results.jsonl").read_text().splitlines()] == printed
    with open(exp_dir / "results.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 3
    for line, obj in zip(table, printed):
        assert {k: line[k] for k in obj} == {k: _cell(v) for k, v in obj.items()}
    for name in ("experiment.yaml", "report.md", "score_vs_params.html", "score_vs_forgetting.html",
                 "loss_curves.html"):
        assert (exp_dir / name).is_file(), name
    assert "| lora | lora | 2 |" in (exp_dir / "report.md").read_text()
    # each run is an ordinary run directory: in the runs list, experiment set, metric stored
    from workbench.core.runstore.run_dirs import list_runs
    from workbench.core.runstore.status import read_status
    listed = {r.run_id for r in list_runs()}
    for row in printed[:2]:
        assert row["run_id"] in listed
        st = read_status(runs_dir / row["run_id"])
        assert st.experiment == exp_dir.name and st.metric == "json_match" and st.score == row["score"]
        measured = json.loads((runs_dir / row["run_id"] / "metrics.json").read_text())
        assert measured["n_scored"] == 2 and measured["n_loss"] == 1  # eval_limit prompts, heldout_limit losses
        log = [json.loads(x) for x in (runs_dir / row["run_id"] / "log.jsonl").read_text().splitlines()]
        evals = [r["step"] for r in log if "eval_loss" in r]
        assert evals == [1]  # held-out loss during training (eval_steps), not again at the last step: the score has it
    # show / list read it back
    p = subprocess.run([sys.executable, "-m", "workbench", "experiment", "show", exp_dir.name, "--output-dir",
                        str(out_dir), "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    shown = json.loads(p.stdout)
    assert shown["status"] == "done" and shown["runs"] == printed[:2] and shown["base"] == printed[2]


@pytest.mark.slow
def test_failed_variant_is_recorded_and_the_others_finish(tmp_path, tiny_llama_dir, runs_dir):
    from workbench.core.experiments.runner import read_experiment, run_experiment
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "a", "response": "b"}\nthis is not json\n')
    f = _tiny_experiment(tmp_path, tiny_llama_dir, [{"label": "good"}, {"label": "broken", "data.name": str(broken)}])
    lines: list[str] = []
    result = run_experiment(experiments.load(f), output_dir=tmp_path / "out", max_steps=1, eval_limit=1,
                            progress=lines.append)
    good, bad = result.rows
    assert good.status == "done" and good.score is not None and good.error is None
    assert bad.status == "failed" and "line 2" in bad.error and bad.score is None
    assert any("broken: failed" in line for line in lines)
    again = read_experiment(result.experiment_id, root=tmp_path / "out")
    assert [r.status for r in again.rows] == ["done", "failed"] and "line 2" in again.rows[1].error
    assert "Failed: broken" in (result.directory / "report.md").read_text()
    # an interrupted experiment continues where it stopped: finished runs are kept, a trained but unscored run is
    # only scored (no training), and nothing is trained twice
    from workbench.core.experiments.runner import continue_experiment
    path = result.directory / "results.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    rows[0].update(status="running", score=None)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines.clear()
    again = continue_experiment(result.experiment_id, root=tmp_path / "out", progress=lines.append)
    assert [r.status for r in again.rows] == ["done", "failed"] and again.rows[0].score == good.score
    assert not any("training" in line for line in lines) and any("good: scoring" in line for line in lines)


def test_subspace_between_saved_adapters(tmp_path, tiny_config_factory):
    """On real adapter folders (PEFT save_pretrained, untrained): every shared layer is compared; when the r=2
    adapter's A rows are planted inside the r=4 adapter's, phi(i, j=4) is 1."""
    import peft
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM
    from workbench.core.experiments.report import subspace_between
    cfg = tiny_config_factory("llama", vocab_size=128)
    dirs = []
    for r in (2, 4):
        torch.manual_seed(r)
        model = peft.get_peft_model(AutoModelForCausalLM.from_config(cfg),
                                    peft.LoraConfig(r=r, target_modules=["q_proj", "v_proj"]))
        model.save_pretrained(tmp_path / f"r{r}")
        dirs.append(tmp_path / f"r{r}")
    res = subspace_between(*dirs, labels=["r=2", "r=4"])
    assert (res.r_a, res.r_b, res.n_modules, res.in_features) == (2, 4, 4, 64)
    assert res.i_values == [1, 2] and res.j_values == [1, 2, 4] and set(res.by_module) == {"q_proj", "v_proj"}
    assert all(0 <= v <= 1 + 1e-9 for row in res.phi for v in row)
    small, big = (load_file(d / "adapter_model.safetensors") for d in dirs)
    for key, value in small.items():
        if "lora_A" in key:
            big[key][:2] = value
    save_file(big, dirs[1] / "adapter_model.safetensors")
    planted = subspace_between(*dirs, labels=["r=2", "r=4"])
    assert [round(row[-1], 6) for row in planted.phi] == [1.0, 1.0]


# --------------------------------------------------------------------------- the queue: one item per experiment

def test_experiment_is_one_queue_item_against_the_owner_cap(tmp_path, runs_dir, monkeypatch):
    """Queued (never started: no free slot): the experiment holds one place in the owner's queue, its runs exist."""
    from workbench.core.serving.run_queue import RunManager, _Job
    from workbench.core.runstore.run_dirs import RunError
    m = RunManager(max_concurrent=1, max_queued_per_owner=2, poll_interval=60)
    import types
    m._running["busy"] = _Job("busy", proc=types.SimpleNamespace(poll=lambda: None))  # the one slot is taken
    spec = spec_of(vary={"adapter.r": [1, 2, 4]})
    exp_id = queue_jobs.enqueue(spec, owner="alice", manager=m)
    assert len(m._queue) == 1 and m._queue[0].group.group_id == exp_id
    from workbench.core.experiments.results import read_experiment
    rows = read_experiment(exp_id).rows
    assert len(rows) == 3 and all(r.status == "queued" for r in rows)
    from workbench.core.runstore.status import read_status
    assert all(read_status(runs_dir / r.run_id).owner == "alice" for r in rows)
    queue_jobs.enqueue(spec, owner="alice", manager=m)
    with pytest.raises(RunError):
        queue_jobs.enqueue(spec, owner="alice", manager=m)  # a third item is past the cap of 2, however many runs each has
    m._running.clear()
    m.shutdown()


@pytest.mark.slow
def test_experiment_runs_in_a_queue_worker(tmp_path, tiny_llama_dir, runs_dir):
    from workbench.core.experiments.results import read_experiment
    from workbench.core.serving.run_queue import RunManager
    f = _tiny_experiment(tmp_path, tiny_llama_dir, [{"label": "one"}, {"label": "two", "adapter.r": 1}])
    spec = experiments.load(f)
    spec.max_steps, spec.eval_limit = 1, 1
    m = RunManager(max_concurrent=1, poll_interval=0.2)
    try:
        exp_id = queue_jobs.enqueue(spec, owner="bob", manager=m)
        first = read_experiment(exp_id).rows[0].run_id
        st = m.wait(first, timeout=900)
        assert st.status == "done", (runs_dir / first / "train.log").read_text()[-2000:]
        result = read_experiment(exp_id)
        assert [r.status for r in result.rows] == ["done", "done"] and all(r.score is not None for r in result.rows)
        assert result.base is not None and result.base.score is not None
    finally:
        m.shutdown()


def test_report_with_subspace_section(tmp_path, runs_dir, tiny_config_factory):
    """The rank sweep's report: two finished LoRA runs -> the phi table, the chart page, the reading."""
    import peft
    from transformers import AutoModelForCausalLM
    from workbench.core.experiments.report import write_all
    from workbench.core.experiments.results import BaseRow, ExperimentResult, RunRow
    from workbench.core.experiments.runner import _subspace
    cfg = tiny_config_factory("llama", vocab_size=128)
    rows = []
    for r, score in ((2, 0.25), (4, 0.5)):
        (runs_dir / f"run{r}").mkdir()
        peft.get_peft_model(AutoModelForCausalLM.from_config(cfg), peft.LoraConfig(r=r, target_modules=["q_proj"])) \
            .save_pretrained(runs_dir / f"run{r}" / "adapter")
        rows.append(RunRow(run_id=f"run{r}", label=f"r={r}", method="lora", r=r, num_virtual_tokens=None,
                           target_modules=["q_proj"], trainable=256 * r, percent=0.1, metric="json_match",
                           score=score, status="done"))
    d = tmp_path / "exp"
    d.mkdir()
    result = ExperimentResult(experiment_id="e", name="e", directory=d, status="done", rows=rows,
                              base=BaseRow(metric="json_match", score=0.0, eval_loss=1.0))
    result.subspace = _subspace(result, ["r=2", "r=4"])
    assert result.subspace is not None and result.subspace.n_modules == 2
    files = write_all(result)
    report = (d / "report.md").read_text()
    assert "## Subspace similarity: r=2 vs r=4" in report and "| i \\ j | 1 | 2 | 4 |" in report
    assert "Best held-out json_match: r=4 (0.500" in report and "2 of 2 runs beat it" in report
    assert {"subspace.html", "score_vs_params.html", "loss_curves.html", "results.csv"} <= set(files)


def test_an_experiment_runs_estimate_counts_the_base_it_copies_from(tiny_llama_dir, monkeypatch):
    """The experiment's process keeps the cached base besides each run's copy: its measured peak includes it, so the
    run's memory estimate adds ``SharedBase.resident_mb`` (the cached weights, shared storage counted once)."""
    from workbench.core.model import loading as models
    from workbench.core.experiments.runner import SharedBase
    cache = models.ModelCache(max_items=2)
    monkeypatch.setattr(models, "MODEL_CACHE", cache)
    assert SharedBase().resident_mb() == 0
    model, _ = cache.get(tiny_llama_dir)
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes()
                for t in list(model.parameters()) + list(model.buffers())}
    assert SharedBase().resident_mb() == pytest.approx(sum(storages.values()) / 2**20)
    assert sum(storages.values()) < sum(t.nbytes for t in model.state_dict().values()) or \
        not model.config.tie_word_embeddings  # tied embeddings are counted once


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux peak-RSS reset")
def test_a_runs_peak_does_not_include_heap_an_earlier_run_freed():
    """An experiment trains its runs in one process: after a big run frees its memory, the next run's peak must not
    start from the heap glibc kept (a QLoRA run after prompt tuning peaked at 4.1 GB in one experiment, 2.8 GB alone)."""
    import torch

    from workbench.core.training.callbacks import peak_mem_mb, reset_peak_memory
    reset_peak_memory()
    before = peak_mem_mb("cpu")
    xs = [torch.randn(1000, 20) for _ in range(5000)]  # ~400 MB in 80 KB pieces: heap, not mmap
    assert peak_mem_mb("cpu") > before + 300
    del xs
    reset_peak_memory()
    assert peak_mem_mb("cpu") < before + 100

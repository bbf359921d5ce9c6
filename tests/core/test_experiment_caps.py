"""An experiment's caps (issue 22): at most WORKBENCH_MAX_EXPERIMENT_RUNS runs (40; 8 in public mode) and at most
WORKBENCH_MAX_EXPERIMENT_STEPS training steps in all (no cap locally; 300 in public mode). Over a cap, the page / API
launch and the CLI refuse it with a SpecError naming the cap and the experiment's total, before anything is written;
the public limits line names both caps."""
from __future__ import annotations

import pytest
import yaml

from workbench.core.experiments import definition as experiments
from workbench.core.experiments import queue_jobs
from workbench.core.experiments.definition import ExperimentSpec
from workbench.core.experiments.plan import expand
from workbench.core.serving import workspace
from workbench.core.serving.workspace import Policy, Workspace
from workbench.core.training.run_limits import ExperimentLimits, experiment_limits
from workbench.errors import SpecError, WorkbenchError

CAP_VARS = ("WORKBENCH_PUBLIC", "SPACE_ID", "WORKBENCH_MAX_EXPERIMENT_RUNS", "WORKBENCH_MAX_EXPERIMENT_STEPS")


@pytest.fixture
def clean_env(monkeypatch):
    for var in CAP_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def spec_of(n_runs: int, max_steps: int) -> ExperimentSpec:
    return ExperimentSpec.from_dict({"name": "caps", "max_steps": max_steps,
                                     "base": {"model": {"name": "SmolLM2-135M"}, "adapter": {"method": "lora"}},
                                     "vary": {"adapter.r": list(range(1, n_runs + 1))}})


class NoQueue:
    """A run manager that must not be reached: a refused experiment is never queued."""

    def submit_group(self, *args, **kwargs):
        raise AssertionError("an experiment over a cap reached the queue")


def nothing_written(runs_dir) -> bool:
    return list(runs_dir.iterdir()) == []  # no experiments/ folder, no run directory


# --------------------------------------------------------------------------- the caps

def test_public_defaults_and_no_step_cap_locally(clean_env):
    assert experiment_limits(public=False) == ExperimentLimits(max_runs=40, max_steps=None)
    assert experiment_limits(public=True) == ExperimentLimits(max_runs=8, max_steps=300)
    assert (experiments.max_runs(), experiments.max_total_steps()) == (40, None)
    assert len(expand(spec_of(4, 500))) == 4  # 2,000 steps in all: no cap locally
    clean_env.setenv("WORKBENCH_PUBLIC", "1")
    assert (experiments.max_runs(), experiments.max_total_steps()) == (8, 300)
    assert len(expand(spec_of(3, 100))) == 3  # exactly 300: allowed


def test_env_overrides_the_defaults(clean_env):
    clean_env.setenv("WORKBENCH_MAX_EXPERIMENT_STEPS", "50")
    assert experiment_limits(public=False).max_steps == 50  # a cap locally when asked for
    clean_env.setenv("WORKBENCH_MAX_EXPERIMENT_RUNS", "20")
    clean_env.setenv("WORKBENCH_MAX_EXPERIMENT_STEPS", "0")  # 0 = no cap, public mode too
    assert experiment_limits(public=True) == ExperimentLimits(max_runs=20, max_steps=None)
    clean_env.setenv("WORKBENCH_MAX_EXPERIMENT_STEPS", "lots")
    with pytest.raises(WorkbenchError, match="WORKBENCH_MAX_EXPERIMENT_STEPS must be a number"):
        experiment_limits()


# --------------------------------------------------------------------------- refused before anything is written

def test_step_cap_refused_at_launch_before_anything_is_written(clean_env, runs_dir):
    clean_env.setenv("WORKBENCH_PUBLIC", "1")
    ws = Workspace("alice", Policy(public=True))
    with pytest.raises(SpecError) as e:  # 4 runs x 90 steps: each within the per-run cap, 360 in all
        queue_jobs.launch(spec_of(4, 90), ws, manager=NoQueue())
    msg = str(e.value)
    assert e.value.field == "max_steps" and "360 steps in all" in msg and "4 runs" in msg, msg
    assert "WORKBENCH_MAX_EXPERIMENT_STEPS=300" in msg
    assert "WORKBENCH_MAX_EXPERIMENT_STEPS=300" in e.value.render("zh-CN") and "360 步" in e.value.render("zh-CN")
    assert nothing_written(runs_dir)
    with pytest.raises(SpecError, match="400 steps in all"):  # counted after the launch's max_steps override
        queue_jobs.launch(spec_of(4, 10), ws, manager=NoQueue(), max_steps=100)
    assert nothing_written(runs_dir)


def test_run_cap_refused_at_launch_before_anything_is_written(clean_env, runs_dir):
    clean_env.setenv("WORKBENCH_PUBLIC", "1")
    with pytest.raises(SpecError) as e:
        queue_jobs.launch(spec_of(9, 5), Workspace("alice", Policy(public=True)), manager=NoQueue())
    assert e.value.field == "vary" and "9 runs" in str(e.value) and "limit of 8" in str(e.value)
    assert nothing_written(runs_dir)


def test_cli_run_refused_before_anything_is_written(clean_env, runs_dir, tmp_path, capsys):
    from workbench.cli import main
    f = tmp_path / "caps.yaml"
    f.write_text(yaml.safe_dump(spec_of(3, 20).to_dict()))
    out = tmp_path / "out"
    clean_env.setenv("WORKBENCH_MAX_EXPERIMENT_STEPS", "50")
    assert main(["experiment", "run", str(f), "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "60 steps in all" in err and "WORKBENCH_MAX_EXPERIMENT_STEPS=50" in err, err
    clean_env.setenv("WORKBENCH_MAX_EXPERIMENT_RUNS", "2")
    assert main(["experiment", "run", str(f), "--output-dir", str(out)]) == 2
    assert "3 runs" in capsys.readouterr().err
    assert not out.exists() and nothing_written(runs_dir)


# --------------------------------------------------------------------------- the page says so

def test_public_limits_line_names_the_experiment_caps(clean_env):
    m = workspace.public_limits_message(Policy(public=True))
    en, zh = m.render("en"), m.render("zh-CN")
    assert "at most 8 runs per experiment" in en and "at most 300 training steps per experiment" in en, en
    assert "每个实验最多 8 个运行" in zh and "每个实验最多训练 300 步" in zh, zh
    clean_env.setenv("WORKBENCH_MAX_EXPERIMENT_STEPS", "0")
    assert "per experiment (all" not in workspace.public_limits_message(Policy(public=True)).render("en")

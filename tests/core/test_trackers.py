"""Trackers (issue 20, item 3): ``train.report_to`` goes to transformers' own integrations, and what they wrote is
read back by the trackers' own readers (TensorBoard's event accumulator, Trackio's API); nothing logs anywhere
unless asked; a tracker that is unknown, not installed or not offered in public mode is refused before anything
queues. Runs: a tiny random Llama, 3 steps."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.core.experiments.definition import ExperimentSpec
from workbench.core.experiments.plan import expand
from workbench.core.runstore import run_dirs as runs
from workbench.core.serving import submission
from workbench.core.serving.workspace import Policy, Workspace
from workbench.core.training import trackers
from workbench.core.training import trainer as train
from workbench.errors import SpecError
from workbench.spec.settings import RunSpec

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_spec(model_dir: str, **train_kw) -> RunSpec:
    t = {"max_steps": 3, "learning_rate": 5e-2, "batch_size": 2, "warmup_steps": 0, "lr_scheduler": "constant",
         "save_steps": 100, "eval_at_end": False, "device": "cpu", "group_by_length": False, "score_prompts": 0,
         "forgetting": False, **train_kw}
    return RunSpec.from_dict({"model": {"name": model_dir}, "adapter": {"method": "lora", "r": 4, "dropout": 0.0},
                              "data": {"name": "json-format", "limit": 2, "max_length": 64,
                                       "use_chat_template": False}, "train": t})


def logged_losses(run_dir: Path) -> dict[int, float]:
    rows = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


@pytest.fixture()
def trackio_dir(tmp_path, monkeypatch):
    """Trackio's local store in tmp_path: TRACKIO_DIR, also in every trackio module that already read it."""
    import trackio  # noqa: F401  (loaded first, so the patched names are restored to the real store afterwards)
    d = tmp_path / "trackio"
    monkeypatch.setenv("TRACKIO_DIR", str(d))
    for name, module in list(sys.modules.items()):
        if name == "trackio" or name.startswith("trackio."):
            for attr, value in (("TRACKIO_DIR", d), ("MEDIA_DIR", d / "media"), ("ARTIFACTS_DIR", d / "artifacts")):
                if hasattr(module, attr):
                    monkeypatch.setattr(module, attr, value)
    return d


def test_tensorboard_event_reader_finds_the_loss(tiny_llama_dir, runs_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    d = runs.safe_run_dir(runs.create_run(tiny_spec(tiny_llama_dir, report_to=["tensorboard"])))
    st = train.run_training(d)
    assert st.status == "done" and st.step == 3
    events = EventAccumulator(str(d / "tensorboard"))
    events.Reload()
    assert "train/loss" in events.Tags()["scalars"]
    seen = {e.step: e.value for e in events.Scalars("train/loss")}
    assert sorted(seen) == [1, 2, 3]
    assert seen == pytest.approx(logged_losses(d), rel=1e-5)  # the same losses as the run's own log
    assert "TENSORBOARD_LOGGING_DIR" not in os.environ  # set only while the run trained


def test_trackio_api_finds_the_run(tiny_llama_dir, runs_dir, trackio_dir):
    import trackio
    from trackio.sqlite_storage import SQLiteStorage
    spec = tiny_spec(tiny_llama_dir, report_to=["trackio"])
    spec.name = "tracked"
    d = runs.safe_run_dir(runs.create_run(spec))
    assert train.run_training(d).status == "done"
    assert trackio_dir.is_dir() and any(trackio_dir.iterdir())  # the store we pointed it at, nowhere else
    (run,) = list(trackio.Api().runs("workbench"))  # a single run's project
    assert run.name == f"tracked ({d.name})"
    logs = SQLiteStorage.get_logs("workbench", run.name)
    seen = {r["train/global_step"]: r["train/loss"] for r in logs if "train/loss" in r}
    assert sorted(seen) == [1, 2, 3]
    assert seen == pytest.approx(logged_losses(d), rel=1e-5)


def test_nothing_logs_anywhere_by_default(tiny_llama_dir, runs_dir, trackio_dir):
    spec = tiny_spec(tiny_llama_dir, max_steps=1)
    assert spec.train.report_to == []
    d = runs.safe_run_dir(runs.create_run(spec))
    assert train.training_arguments(spec, d, "cpu", 1, has_eval=False).report_to == []
    assert train.run_training(d).status == "done"
    assert not (d / "tensorboard").exists() and not (d / "checkpoints" / "runs").exists()
    assert not any(p.name.startswith("events.out.tfevents") for p in runs_dir.rglob("*"))
    assert not trackio_dir.exists()


def test_unknown_tracker_is_refused_naming_the_allowed_ones():
    with pytest.raises(SpecError) as e:
        RunSpec.from_dict({"train": {"report_to": ["tensorboard", "neptune"]}})
    assert e.value.field == "train.report_to"
    assert "'neptune'" in str(e.value) and "trackio, tensorboard, wandb, mlflow" in str(e.value)
    assert "neptune" in e.value.render("zh") and "未知" in e.value.render("zh")
    with pytest.raises(SpecError, match="letters, digits"):
        RunSpec.from_dict({"train": {"tracker_project": "../x"}})
    assert RunSpec.from_dict({"train": {"report_to": "trackio"}}).train.report_to == ["trackio"]


class NoQueue:
    """A run manager that must never be reached: every refusal comes before anything queues."""
    def submit(self, *a, **kw):
        raise AssertionError("queued a run that should have been refused")


def test_missing_or_public_only_trackers_are_refused_before_anything_queues(runs_dir, tmp_path, monkeypatch, capsys):
    assert trackers.installed("trackio") and trackers.installed("tensorboard")  # pinned in requirements.txt
    monkeypatch.setattr(trackers, "installed", lambda name: name in ("trackio", "tensorboard"))  # wandb, mlflow absent
    spec = RunSpec.from_dict({"train": {"report_to": ["tensorboard", "wandb"]}})
    local, public = Workspace("me", Policy(public=False)), Workspace("me", Policy(public=True))
    with pytest.raises(SpecError) as e:
        submission.submit(spec, local, manager=NoQueue())
    assert e.value.field == "train.report_to" and "pip install wandb" in str(e.value)
    with pytest.raises(SpecError) as e:
        submission.submit(spec, public, manager=NoQueue())
    assert "public mode" in str(e.value) and "trackio, tensorboard" in str(e.value)
    assert public.trackers() == ("trackio", "tensorboard") and "mlflow" in local.trackers()

    cfg = tmp_path / "run.yaml"
    RunSpec.from_dict({"train": {"report_to": ["mlflow"]}}).save(cfg)
    assert main(["train", str(cfg)]) == 2  # the terminal: refused before a run folder exists
    assert "pip install mlflow" in capsys.readouterr().err
    assert list(runs_dir.iterdir()) == []


def test_an_experiments_runs_share_one_project_named_after_it():
    spec = ExperimentSpec.from_dict({"name": "rank-check", "vary": {"adapter.r": [1, 2]},
                                     "base": {"model": {"name": "SmolLM2-135M"}, "adapter": {"method": "lora"},
                                              "train": {"report_to": ["trackio"]}}})
    variants = expand(spec)
    assert [v.spec.train.tracker_project for v in variants] == ["rank-check", "rank-check"]
    assert {trackers.project(v.spec) for v in variants} == {"rank-check"}
    assert trackers.project(RunSpec()) == "workbench"  # a single run
    assert trackers.arguments(variants[0].spec, Path("runs/x"))["project"] == "rank-check"

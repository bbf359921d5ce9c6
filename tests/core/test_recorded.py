"""Recorded results (core/experiments/recorded.py): a finished experiment folder -> presets/experiments/recorded/<name>
.json -> back, `experiment show NAME` printing it at once, and every shipped recording matching its experiment.
No training: the experiment folders are written by hand (tests/support/recorded_fixture.py)."""
from __future__ import annotations

import json
import platform

import pytest

from workbench.core.experiments import definition, recorded
from workbench.errors import WorkbenchError
from tests.support.recorded_fixture import WALL_S, fake_experiment


@pytest.fixture()
def rec_dir(tmp_path, monkeypatch):
    d = tmp_path / "recorded"
    monkeypatch.setenv(recorded.RECORDED_DIR_ENV, str(d))
    return d


def test_record_round_trips_through_load(tmp_path, runs_dir, rec_dir):
    exp_dir = fake_experiment(tmp_path / "experiments")
    assert recorded.load("qlora-vs-lora") is None  # nothing recorded yet
    path = recorded.record(exp_dir, "qlora-vs-lora")
    assert path == rec_dir / "qlora-vs-lora.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["schema"] == recorded.SCHEMA and doc["name"] == "qlora-vs-lora"
    assert doc["experiment"]["name"] == "qlora-vs-lora" and doc["rows"][0]["run_id"]

    rec = recorded.load("qlora-vs-lora")
    labels = recorded.labels_of(definition.load("qlora-vs-lora"))
    assert [r.label for r in rec.rows] == labels == ["LoRA", "QLoRA 4-bit"]
    assert [r.score for r in rec.rows] == [0.1, 0.2] and [r.forgetting for r in rec.rows] == [0.0, 0.01]
    assert rec.base.score == 0.05 and rec.base.forgetting == 0.0
    lora = rec.curves["LoRA"]  # per step: loss; then the held-out point
    assert [(c["step"], c.get("loss")) for c in lora[:4]] == [(1, 1.9), (2, 1.8), (3, 1.7), (4, 1.6)]
    assert lora[-1] == {"step": 4, "eval_loss": 1.6, "elapsed_s": 4.5} and "learning_rate" not in lora[0]
    assert rec.configs["QLoRA 4-bit"]["train"]["learning_rate"] == pytest.approx(2e-4)
    p = rec.provenance
    assert p.experiment_id == exp_dir.name and p.run_date == "2025-01-01" and p.wall_s == WALL_S
    assert p.max_steps == 20 and p.eval_limit == 4  # the experiment's max_steps; the eval limit it ran with
    assert p.dtypes == {"LoRA": "float32", "QLoRA 4-bit": "float32"} and p.devices["LoRA"] == "cpu"
    assert p.versions["python"] == platform.python_version() and p.versions["torch"] and p.versions["peft"]
    assert p.machine.cores >= 1 and isinstance(p.machine.native_bf16, bool)

    result = rec.as_result()  # what the views draw: no run ids (the run folders are not here)
    assert [r.label for r in result.rows] == labels and all(r.run_id is None for r in result.rows)
    assert rec.rows[0].run_id  # the recording keeps them
    assert result.wall_s == WALL_S and result.spec.name == "qlora-vs-lora"

    assert recorded.record(exp_dir.name, "qlora-vs-lora", root=exp_dir.parent) == path  # an id works too


def test_record_refuses_what_it_cannot_stand_for(tmp_path, runs_dir, rec_dir):
    exp_dir = fake_experiment(tmp_path / "experiments")
    with pytest.raises(WorkbenchError, match="has r=1, r=2"):  # another experiment's runs
        recorded.record(exp_dir, "rank-sweep")
    with pytest.raises(WorkbenchError, match="No experiment named 'nope'"):
        recorded.record(exp_dir, "nope")
    with pytest.raises(WorkbenchError, match="No experiment named"):
        recorded.load("../etc/passwd")
    from workbench.core.runstore.status import update_status
    first = json.loads((exp_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()[0])
    update_status(runs_dir / first["run_id"], status="running")  # still training
    rows = (exp_dir / "results.jsonl").read_text(encoding="utf-8").replace('"status": "done"', '"status": "running"', 1)
    (exp_dir / "results.jsonl").write_text(rows, encoding="utf-8")
    with pytest.raises(WorkbenchError, match="only a finished experiment"):
        recorded.record(exp_dir, "qlora-vs-lora")
    assert not rec_dir.exists() or not list(rec_dir.iterdir())


def test_a_bad_or_old_recording_is_a_clear_error(tmp_path, runs_dir, rec_dir):
    rec_dir.mkdir()
    f = rec_dir / "rank-sweep.json"
    f.write_text("{not json", encoding="utf-8")
    with pytest.raises(WorkbenchError, match="not a recorded result .* record ID --as rank-sweep"):
        recorded.load("rank-sweep")
    f.write_text(json.dumps({"schema": 0, "name": "rank-sweep"}), encoding="utf-8")
    with pytest.raises(WorkbenchError, match="schema 0; this workbench reads schema 1"):
        recorded.load("rank-sweep")
    f.write_text(json.dumps({"schema": recorded.SCHEMA, "name": "rank-sweep", "rows": []}), encoding="utf-8")
    with pytest.raises(WorkbenchError, match="KeyError"):  # a field missing
        recorded.load("rank-sweep")


def test_the_tab_opens_on_a_recorded_experiment(tmp_path, runs_dir, rec_dir):
    assert recorded.opening() == "full-vs-peft"  # nothing recorded: the preferred one (its plan only)
    recorded.record(fake_experiment(tmp_path / "e", "qlora-vs-lora", "a-20250101-000000-0001"), "qlora-vs-lora")
    assert recorded.opening() == "qlora-vs-lora"  # the first shipped experiment that has a recording
    recorded.record(fake_experiment(tmp_path / "e", "full-vs-peft", "b-20250101-000000-0002"), "full-vs-peft")
    assert recorded.opening() == "full-vs-peft"  # preferred when recorded


def test_show_name_prints_the_recorded_answer(tmp_path, runs_dir, rec_dir, capsys):
    from workbench.cli import main
    assert main(["experiment", "show", "qlora-vs-lora"]) == 2  # no recording yet: one clear line
    err = capsys.readouterr().err
    assert "no recorded result yet" in err and "python -m workbench experiment run qlora-vs-lora" in err
    exp_dir = fake_experiment(tmp_path / "experiments")
    assert main(["experiment", "record", exp_dir.name, "--as", "qlora-vs-lora", "--output-dir",
                 str(exp_dir.parent)]) == 0
    assert str(rec_dir / "qlora-vs-lora.json") in capsys.readouterr().out

    assert main(["experiment", "show", "qlora-vs-lora"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("recorded result: 2025-01-01 on ") and "cores, native bf16: " in out[0]
    assert "live run took 12.6 min" in out[0] and out[0].endswith("python -m workbench experiment run qlora-vs-lora")
    table = "\n".join(out[1:])
    assert "LoRA" in table and "QLoRA 4-bit" in table and "0.200" in table and "base" in table

    assert main(["experiment", "show", "qlora-vs-lora", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in d["runs"]] == ["LoRA", "QLoRA 4-bit"] and d["base"]["score"] == 0.05
    assert d["recorded"]["wall_s"] == WALL_S and "cpu" in d["recorded"]["machine"]
    assert d["recorded"]["versions"]["python"] == platform.python_version()

    assert main(["experiment", "show", exp_dir.name, "--output-dir", str(exp_dir.parent)]) == 0  # an id still works
    assert "recorded result" not in capsys.readouterr().out


def test_every_shipped_recording_loads_and_matches_its_experiment(monkeypatch):
    """presets/experiments/recorded/*.json: each is a shipped experiment's, reads with this version, and has the
    runs that experiment expands to (the same labels, in order)."""
    monkeypatch.delenv(recorded.RECORDED_DIR_ENV, raising=False)
    for path in sorted(recorded.RECORDED_DIR.glob("*.json")):
        name = path.stem
        assert name in definition.shipped(), f"{path}: no shipped experiment {name}"
        rec = recorded.load(name)
        assert rec is not None and rec.name == name
        assert [r.label for r in rec.rows] == recorded.labels_of(definition.load(name)), path
        assert set(rec.curves) <= {r.label for r in rec.rows}
        assert rec.provenance.machine.cores and rec.provenance.run_date and rec.spec() is not None, path
        assert all(r.status in ("done", "failed", "stopped") for r in rec.rows), path

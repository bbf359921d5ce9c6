"""Workspace policy (what a browser session may see and read) and submit(spec, workspace), without Gradio."""
from __future__ import annotations

import json

import pytest

from workbench.core.runstore import run_dirs as runs
from workbench.core.serving import workspace
from workbench.core.paths import looks_like_path
from workbench.core.serving.submission import check_run, submit
from workbench.core.serving.workspace import Policy, Workspace
from workbench.errors import SpecError, WorkbenchError
from workbench.spec.settings import RunSpec

LOCAL = Policy(share_runs=False, public=False)
PUBLIC = Policy(share_runs=False, public=True)


# --------------------------------------------------------------------------- the one path check

@pytest.mark.parametrize("name", ["/etc", "./x", "../../etc", "~/data", "\\\\server\\x", ".", "..", "data.jsonl",
                                  "x/y.csv", "config.json", "rows.TSV"])
def test_looks_like_path(name):
    assert looks_like_path(name)


@pytest.mark.parametrize("name", ["", "  ", "gpt2", "HuggingFaceTB/SmolLM2-135M", "json-format", "org/name.v2"])
def test_does_not_look_like_path(name):
    assert not looks_like_path(name)


def test_an_existing_name_is_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gpt2").mkdir()
    assert looks_like_path("gpt2")


# --------------------------------------------------------------------------- policy from the environment

def test_policy_from_env(monkeypatch):
    for var in ("WORKBENCH_SHARE_RUNS", "WORKBENCH_PUBLIC", "SPACE_ID"):
        monkeypatch.delenv(var, raising=False)
    assert Policy.from_env() == Policy(share_runs=False, public=False)
    monkeypatch.setenv("WORKBENCH_PUBLIC", "1")
    assert Policy.from_env().public and workspace.is_public()
    monkeypatch.delenv("WORKBENCH_PUBLIC")
    monkeypatch.setenv("SPACE_ID", "someone/peft-workbench")
    assert Policy.from_env().public
    monkeypatch.setenv("WORKBENCH_SHARE_RUNS", "1")
    assert Policy.from_env().share_runs
    assert Workspace("x").policy == Policy.from_env()


# --------------------------------------------------------------------------- runs and adapters

def _run(owner, adapter=False):
    rid = runs.create_run(RunSpec(), owner=owner)
    if adapter:
        d = runs.safe_run_dir(rid) / "adapter"
        d.mkdir()
        (d / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    return rid


def test_runs_are_private_per_owner(runs_dir):
    mine, theirs, cli = _run("alice"), _run("bob"), _run(None)
    alice, bob, nobody = Workspace("alice", LOCAL), Workspace("bob", LOCAL), Workspace("", LOCAL)
    assert [i.run_id for i in alice.runs()] == [mine]
    assert [i.run_id for i in nobody.runs()] == [cli]  # runs made from the terminal have no owner
    assert alice.run(mine).owner == "alice"
    with pytest.raises(runs.RunError, match="another session"):
        alice.run(theirs)
    with pytest.raises(runs.RunError, match="No run selected"):
        alice.run("")
    with pytest.raises(runs.RunError, match="No run named"):
        alice.run("does-not-exist")
    shared = Workspace("alice", Policy(share_runs=True))
    assert {i.run_id for i in shared.runs()} == {mine, theirs, cli}
    assert bob.run(theirs).owner == "bob"


def test_adapters_of_own_runs_and_uploads_only(runs_dir):
    mine, theirs = _run("alice", adapter=True), _run("bob", adapter=True)
    _run("alice")  # no adapter yet: not listed
    alice = Workspace("alice", LOCAL)
    up = alice.adapter_uploads_dir / "my-upload"
    up.mkdir(parents=True)
    (up / "adapter_config.json").write_text("{}")
    listed = alice.adapters()
    assert [(a.run_id, a.uploaded) for a in listed] == [(mine, False), (None, True)]
    assert listed[1].name == "my-upload" and listed[0].method == "lora" and listed[0].status == "queued"
    own = str(runs.safe_run_dir(mine) / "adapter")
    assert alice.check_adapters([own, "", None, str(up)]) == [own, str(up)]
    for bad in (str(runs.safe_run_dir(theirs) / "adapter"), "/etc", own + "/../adapter"):
        with pytest.raises(runs.RunError, match="not one of this session"):
            alice.check_adapters([bad])
        with pytest.raises(runs.RunError):
            alice.check_adapter(bad)
    with pytest.raises(runs.RunError, match="at most 3"):
        alice.check_adapters([own] * 4)


def test_uploads_folders_and_may_read(runs_dir):
    alice, bob = Workspace("alice", LOCAL), Workspace("bob", LOCAL)
    assert alice.uploads_dir.parent == workspace.uploads_root() == runs_dir.parent / "uploads"
    assert Workspace("../../etc", LOCAL).uploads_dir.parent == workspace.uploads_root()  # owner ids are sanitised
    alice.uploads_dir.mkdir(parents=True)
    f = alice.uploads_dir / "d.jsonl"
    f.write_text("{}")
    assert alice.may_read(f) and not bob.may_read(f)
    assert Workspace(None, LOCAL).may_read(f)  # no session known: any session's uploads
    assert not alice.may_read(alice.uploads_dir / ".." / ".." / "runs")
    assert not alice.may_read("/etc/passwd")
    rid = _run("alice")
    assert alice.may_read(runs.safe_run_dir(rid) / "config.yaml") and not bob.may_read(runs.safe_run_dir(rid))


def test_check_data_source(runs_dir, tmp_path):
    alice = Workspace("alice", LOCAL)
    alice.check_data_source("json-format")             # shipped
    alice.check_data_source("someone/some-dataset")    # a hub id
    alice.uploads_dir.mkdir(parents=True)
    alice.check_data_source(str(alice.uploads_dir / "mine.jsonl"))
    outside = tmp_path / "secret.jsonl"
    for name in (str(outside), "../../etc/passwd.csv", "/etc/passwd", str(Workspace("bob", LOCAL).uploads_dir / "x.csv")):
        with pytest.raises(SpecError) as e:
            alice.check_data_source(name)
        assert e.value.field == "data.name" and "not a shipped dataset" in str(e.value)


# --------------------------------------------------------------------------- public mode: model names

def test_local_mode_allows_any_model_name(runs_dir):
    Workspace("alice", LOCAL).check_model_name("/any/checkpoint")


@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "SmolLM2-135M-Instruct", "Llama-3-70B", "gpt2",
                                  "HuggingFaceTB/SmolLM2-135M-Instruct"])
def test_public_mode_allows_presets_and_hub_ids(runs_dir, name):
    Workspace("alice", PUBLIC).check_model_name(name)


def test_public_mode_refuses_server_paths_alike_whether_they_exist_or_not(runs_dir, tmp_path):
    existing = tmp_path / "ckpt"
    existing.mkdir()
    (existing / "config.json").write_text("{}")
    ws = Workspace("alice", PUBLIC)
    answers = set()
    for name in (str(existing), str(tmp_path / "missing"), "../../etc", "/etc", "~/models", "a/b/c", "x.json",
                 "https://example.com/model", "org/../etc"):
        with pytest.raises(SpecError) as e:
            ws.check_model_name(name)
        assert e.value.field == "model.name"
        answers.add(str(e.value).replace(repr(name), "NAME"))
    assert len(answers) == 1, answers  # the same answer for a folder that exists and one that does not
    assert "public server" in answers.pop()


def test_public_mode_never_looks_on_disk_for_a_hub_id(runs_dir, tmp_path, monkeypatch):
    from workbench.core.model import loading as models
    monkeypatch.chdir(tmp_path)
    (tmp_path / "some-folder").mkdir()  # a folder on the server spelled like a hub id
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("WORKBENCH_PUBLIC", raising=False)
    with pytest.raises(models.ModelError):
        models.resolve("some-folder")  # local use: the folder is read (it has no config.json)
    monkeypatch.setenv("WORKBENCH_PUBLIC", "1")
    for name in ("some-folder", "no-such-folder", "org/some-folder"):
        assert models.resolve(name).kind == "hub"  # exists or not: the same answer


def test_public_mode_reads_no_data_folder_for_a_hub_id(runs_dir, tmp_path, monkeypatch):
    from workbench.core.data import datasets as data
    from workbench.spec.settings import DataSpec
    monkeypatch.chdir(tmp_path)
    (tmp_path / "some-data").mkdir()  # a folder on the server spelled like a hub dataset id
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(data.DataError, match="train"):
        data.load_examples(DataSpec(name="some-data"))  # local use: the folder is read
    monkeypatch.setenv("WORKBENCH_PUBLIC", "1")
    ws = Workspace("alice")
    answers = set()
    for name in ("some-data", "no-such-data"):
        ws.check_data_source(name)  # a hub id either way
        with pytest.raises(data.DataError) as e:
            data.load_examples(DataSpec(name=name))
        answers.add(str(e.value).replace(name, "NAME"))
    assert len(answers) == 1, answers


def test_public_mode_allows_own_uploaded_models(runs_dir):
    alice = Workspace("alice", PUBLIC)
    mine = alice.uploads_dir / "models" / "tiny"
    alice.check_model_name(str(mine))
    with pytest.raises(SpecError):
        Workspace("bob", PUBLIC).check_model_name(str(mine))
    with pytest.raises(SpecError):
        Workspace("", PUBLIC).check_model_name(str(mine))


# --------------------------------------------------------------------------- submit: every check before the queue

class _Recorder:
    """Stands in for the RunManager: records what would be queued."""

    def __init__(self):
        self.queued = []

    def submit(self, spec, owner=None, experiment=None):
        self.queued.append((spec, owner, experiment))
        return runs.create_run(spec, owner=owner, experiment=experiment)


def _spec(model_dir, **adapter) -> RunSpec:
    return RunSpec.from_dict({"model": {"name": model_dir}, "adapter": {"method": "lora", **adapter},
                              "train": {"max_steps": 2}})


def test_submit_refuses_a_target_that_matches_nothing(runs_dir, tiny_llama_dir):
    manager = _Recorder()
    with pytest.raises(WorkbenchError) as e:
        submit(_spec(tiny_llama_dir, target_modules=["nope"]), Workspace("alice", LOCAL), manager=manager)
    assert "nope" in str(e.value)
    assert manager.queued == []  # never waits in the queue


def test_submit_refuses_bad_knobs_and_sources(runs_dir, tiny_llama_dir, tmp_path):
    manager = _Recorder()
    alice = Workspace("alice", LOCAL)
    bad = [
        _spec(tiny_llama_dir, modules_to_save=["no_such_head"]),     # knob that does not fit the model
        RunSpec.from_dict({"model": {"name": "Llama-3-70B"}}),      # architecture only: nothing to train
        RunSpec.from_dict({"model": {"name": tiny_llama_dir}, "data": {"name": str(tmp_path / "x.jsonl")}}),
    ]
    for spec in bad:
        with pytest.raises((WorkbenchError, SpecError)):
            submit(spec, alice, manager=manager)
    assert manager.queued == []
    with pytest.raises(SpecError, match="architecture-only"):
        check_run(bad[1], alice)
    with pytest.raises(SpecError, match="public server"):
        check_run(RunSpec.from_dict({"model": {"name": tiny_llama_dir}}), Workspace("alice", PUBLIC))


def test_submit_queues_a_good_run_with_owner_and_experiment(runs_dir, tiny_llama_dir):
    manager = _Recorder()
    checked = check_run(_spec(tiny_llama_dir, target_modules=["q_proj", "v_proj"]), Workspace("alice", LOCAL))
    assert checked.count.trainable > 0 and checked.est_mem_mb > 0
    rid = submit(_spec(tiny_llama_dir), Workspace("alice", LOCAL), experiment="exp-1", manager=manager)
    (_spec_, owner, experiment), = manager.queued
    assert owner == "alice" and experiment == "exp-1"
    st = runs.run_status(rid)
    assert st.owner == "alice" and st.experiment == "exp-1" and st.est_mem_mb > 0


def test_experiment_is_recorded_in_the_status(runs_dir):
    rid = runs.create_run(RunSpec(), owner="alice", experiment="exp-7")
    assert runs.run_status(rid).experiment == "exp-7"

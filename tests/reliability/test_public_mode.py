"""Public mode (issue 13, item 1): WORKBENCH_PUBLIC=1 or SPACE_ID set.

The policy (core/serving/workspace.py) is tested directly first; then through the public API of a real server started
with WORKBENCH_PUBLIC=1: a run asking for 10^9 steps is refused at submission with the cap in the message, a
server path gets one answer whether the folder exists or not, target modules that match nothing are refused
before anything is queued, the custom-architecture form is tighter, and the page names the limits (English and
Chinese). Results are recorded in RELIABILITY.md ("Public mode").
"""
from __future__ import annotations

import re

import pytest
import yaml

from workbench.core.serving import workspace
from workbench.core.serving.workspace import Policy, Workspace, custom_arch_limits
from workbench.core.training import run_limits as limits
from workbench.core.training.run_limits import RunLimits, run_limits
from workbench.errors import SpecError
from workbench.spec.settings import RunSpec

LOCAL = Policy(public=False)
PUBLIC = Policy(public=True)


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("WORKBENCH_PUBLIC", "SPACE_ID", "WORKBENCH_MAX_STEPS", "WORKBENCH_MAX_WALL_SECONDS"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


# --------------------------------------------------------------------------- the policy itself

def test_caps_are_on_by_default_only_in_public_mode(clean_env):
    assert run_limits(LOCAL.public) == RunLimits(None, None)  # local use keeps today's freedom
    assert run_limits(PUBLIC.public) == RunLimits(limits.PUBLIC_MAX_STEPS, limits.PUBLIC_MAX_WALL_SECONDS)
    clean_env.setenv("WORKBENCH_MAX_STEPS", "500")  # the environment still decides
    clean_env.setenv("WORKBENCH_MAX_WALL_SECONDS", "0")  # 0: no cap
    assert run_limits(PUBLIC.public) == RunLimits(500, None)
    assert run_limits(LOCAL.public) == RunLimits(500, None)
    clean_env.setenv("SPACE_ID", "someone/workbench")  # on a Space: public without the flag
    clean_env.delenv("WORKBENCH_MAX_STEPS")
    assert run_limits().max_steps == limits.PUBLIC_MAX_STEPS


def test_quick_recipes_fit_the_public_caps():
    from relhelpers import ROOT
    recipes = sorted((ROOT / "presets" / "recipes").glob("*.yaml"))
    assert recipes
    for path in recipes:
        steps = yaml.safe_load(path.read_text())["train"]["max_steps"]
        assert steps <= limits.PUBLIC_MAX_STEPS, path.name
    assert RunSpec().train.max_steps <= limits.PUBLIC_MAX_STEPS  # the form's default too


def test_train_applies_the_public_caps(clean_env):
    from workbench.core.training import trainer as train
    spec = RunSpec()
    spec.train.max_steps = 10**9
    assert train.effective_limits(spec) == (10**9, None)
    clean_env.setenv("WORKBENCH_PUBLIC", "1")
    assert train.effective_limits(spec) == (limits.PUBLIC_MAX_STEPS, limits.PUBLIC_MAX_WALL_SECONDS)
    spec.train.max_wall_seconds = 60
    assert train.effective_limits(spec)[1] == 60


def test_step_cap_refused_at_submission_only_in_public_mode(clean_env):
    spec = RunSpec()
    spec.train.max_steps = 10**9
    Workspace("a", LOCAL).check_limits(spec)
    with pytest.raises(SpecError, match=r"train.max_steps: 1000000000 steps is more than .* \(at most 100\)") as ei:
        Workspace("a", PUBLIC).check_limits(spec)
    assert "最多 100 步" in ei.value.render("zh-CN")
    spec.train.max_steps = limits.PUBLIC_MAX_STEPS
    Workspace("a", PUBLIC).check_limits(spec)


def test_custom_architecture_bounds_are_tighter_in_public_mode():
    from workbench.ui.handlers.inspect import CUSTOM_LIMITS
    assert custom_arch_limits(CUSTOM_LIMITS, LOCAL) == CUSTOM_LIMITS
    public = custom_arch_limits(CUSTOM_LIMITS, PUBLIC)
    assert public["layers"] == 128 and all(public[k] <= CUSTOM_LIMITS[k] for k in CUSTOM_LIMITS)
    assert public["hidden size"] >= 16_384 and public["layers"] >= 126  # Llama-3-405B still fits


def test_limits_line_only_in_public_mode(clean_env):
    assert workspace.public_limits_message(LOCAL) is None
    m = workspace.public_limits_message(PUBLIC)
    assert "at most 100 training steps per run" in m.render("en") and "15 minutes" in m.render("en")
    assert "每次运行最多训练 100 步" in m.render("zh-CN")


# --------------------------------------------------------------------------- through a real public server

@pytest.fixture(scope="module")
def public_server(rel_tmp, embedded_dir):
    from relhelpers import launch_server
    srv = launch_server(rel_tmp / "public-mode" / "runs", {"WORKBENCH_PUBLIC": "1"}, log_name="public-mode.log")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(public_server):
    from gradio_client import Client
    return Client(public_server.url, verbose=False)


def _config(**changes) -> str:
    """The lora-quick recipe on the embedded model (allowed in public mode), with ``changes`` ({'train': {...}})."""
    from relhelpers import ROOT
    cfg = yaml.safe_load((ROOT / "presets/recipes/lora-quick.yaml").read_text())
    cfg["model"]["name"] = "smollm2-135m-instruct"
    for section, values in changes.items():
        cfg.setdefault(section, {}).update(values)
    return yaml.safe_dump(cfg)


def _refusal(client, *args, api_name: str) -> str:
    from gradio_client.exceptions import AppError
    with pytest.raises(AppError) as ei:
        client.predict(*args, api_name=api_name)
    text = str(ei.value)
    assert "Traceback" not in text
    return text


def test_billion_steps_refused_at_submission(client):
    msg = _refusal(client, _config(train={"max_steps": 1_000_000_000}), "visitor", api_name="/start_run")
    assert "at most 100" in msg and "max_steps" in msg, msg
    assert client.predict("visitor", api_name="/list_runs")["data"] == []  # nothing queued


def test_existing_and_missing_server_folders_get_one_answer(client, public_server):
    from relhelpers import ROOT
    names = ["../../etc", "/nonexistent", str(ROOT / "workbench"), str(ROOT / "no-such-folder"), "/etc"]
    for endpoint in ("/start_run", "/inspect_model"):
        answers = set()
        for name in names:
            args = (_config(model={"name": name}), "visitor") if endpoint == "/start_run" else (name, "")
            msg = _refusal(client, *args, api_name=endpoint)
            answers.add(re.sub(re.escape(repr(name)) + "|" + re.escape(name), "NAME", msg))
        assert len(answers) == 1, (endpoint, answers)
        assert "not available on this public server" in answers.pop()
    assert client.predict("visitor", api_name="/list_runs")["data"] == []


def test_targets_matching_nothing_refused_at_submission(client):
    msg = _refusal(client, _config(adapter={"target_modules": ["nope"]}), "visitor", api_name="/start_run")
    assert "nope" in msg, msg
    assert client.predict("visitor", api_name="/list_runs")["data"] == []


def test_custom_architecture_form_is_tighter(client):
    msg = _refusal(client, 4096, 200, 32, 8, 14336, 128256, api_name="/custom_model")
    assert "layers: must be a whole number from 1 to 128" in msg, msg
    path = client.predict(64, 2, 4, 2, 128, 100, api_name="/custom_model")
    summary, *_ = client.predict(path, "", api_name="/inspect_model")  # the form's own config stays usable
    assert "llama" in summary


def test_page_names_the_limits_in_its_language(public_server):
    from gradio_client import Client
    en = Client(public_server.url, verbose=False).predict(api_name="/public_limits")
    assert "at most 100 training steps per run" in en and "15 minutes" in en and "2 queued runs" in en, en
    zh = Client(public_server.url, verbose=False, headers={"Accept-Language": "zh-CN"}).predict(
        api_name="/public_limits")
    assert "公开服务器" in zh and "100 步" in zh, zh

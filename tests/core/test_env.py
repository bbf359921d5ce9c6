"""One parser for numeric environment knobs: defaults when unset, a clear error naming the variable otherwise."""
import pytest

from workbench.core.env import env_int, env_number
from workbench.errors import WorkbenchError


def test_unset_and_empty_give_the_default(monkeypatch):
    monkeypatch.delenv("WORKBENCH_TEST_KNOB", raising=False)
    assert env_int("WORKBENCH_TEST_KNOB", 7) == 7
    monkeypatch.setenv("WORKBENCH_TEST_KNOB", "  ")
    assert env_number("WORKBENCH_TEST_KNOB", None) is None


def test_values_are_cast_and_floored(monkeypatch):
    monkeypatch.setenv("WORKBENCH_TEST_KNOB", " 3 ")
    assert env_int("WORKBENCH_TEST_KNOB", 7) == 3
    monkeypatch.setenv("WORKBENCH_TEST_KNOB", "0")
    assert env_int("WORKBENCH_TEST_KNOB", 7, lo=1) == 1
    monkeypatch.setenv("WORKBENCH_TEST_KNOB", "2.5")
    assert env_number("WORKBENCH_TEST_KNOB", 1.0) == 2.5


@pytest.mark.parametrize("raw", ["abc", "2.5"])
def test_a_bad_value_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv("WORKBENCH_MAX_EXPERIMENT_RUNS", raw)
    from workbench.core.experiments import definition as experiments
    with pytest.raises(WorkbenchError) as e:
        experiments.max_runs()
    assert str(e.value) == f"environment variable WORKBENCH_MAX_EXPERIMENT_RUNS must be a number (got {raw!r})"
    assert e.value.render("zh-CN").startswith("环境变量 WORKBENCH_MAX_EXPERIMENT_RUNS")


def test_env_flag_switches(monkeypatch):
    from workbench.core.env import env_flag
    monkeypatch.delenv("WORKBENCH_SOME_SWITCH", raising=False)
    assert env_flag("WORKBENCH_SOME_SWITCH") is True and env_flag("WORKBENCH_SOME_SWITCH", False) is False
    for off in ("0", "false", "No", " OFF "):
        monkeypatch.setenv("WORKBENCH_SOME_SWITCH", off)
        assert env_flag("WORKBENCH_SOME_SWITCH") is False, off
    for on in ("1", "yes", "true"):
        monkeypatch.setenv("WORKBENCH_SOME_SWITCH", on)
        assert env_flag("WORKBENCH_SOME_SWITCH", False) is True, on
    monkeypatch.setenv("WORKBENCH_SOME_SWITCH", "")
    assert env_flag("WORKBENCH_SOME_SWITCH") is True  # empty = unset, as for the number knobs

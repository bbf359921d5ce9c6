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
    from workbench.core import experiments
    with pytest.raises(WorkbenchError) as e:
        experiments.max_runs()
    assert str(e.value) == f"environment variable WORKBENCH_MAX_EXPERIMENT_RUNS must be a number (got {raw!r})"
    assert e.value.render("zh-CN").startswith("环境变量 WORKBENCH_MAX_EXPERIMENT_RUNS")

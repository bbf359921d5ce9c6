"""Metrics: strict, format-sensitive scores in [0, 1]."""
from __future__ import annotations

import pytest

from workbench.core.data.task_metrics import METRICS, exact_match, get_metric, json_match, label_match, metric_for


def test_exact_match_strips_whitespace():
    assert exact_match(" 2021-03-03\n", "2021-03-03") == 1.0
    assert exact_match("2021-3-3", "2021-03-03") == 0.0
    assert exact_match("", "x") == 0.0


def test_json_match_compares_parsed_objects():
    ref = '{"name": "Maria", "age": 34, "city": "Lisbon"}'
    assert json_match('{"city":"Lisbon","age":34,"name":"Maria"}', ref) == 1.0
    assert json_match('{"name": "Maria", "age": "34", "city": "Lisbon"}', ref) == 0.0  # wrong type
    assert json_match('```json\n' + ref + '\n```', ref) == 0.0  # format matters
    assert json_match('Here it is: ' + ref, ref) == 0.0
    assert json_match('{"name": "Maria"', ref) == 0.0
    assert json_match(ref, "not json") == 0.0
    assert json_match('{"a": null}', '{"a": null}') == 1.0
    assert json_match('{"a": true}', '{"a": 1}') == 0.0


def test_label_match_first_word():
    assert label_match("Positive.", "positive") == 1.0
    assert label_match("  negative\nbecause ...", "negative") == 1.0
    assert label_match('"neutral"', "neutral") == 1.0
    assert label_match("The review is positive", "positive") == 0.0
    assert label_match("", "positive") == 0.0


def test_registry_and_default():
    assert set(METRICS) == {"exact_match", "json_match", "label_match"}
    for m in METRICS.values():
        assert m.description and 0.0 <= m.score("a", "a") <= 1.0
    with pytest.raises(KeyError, match="known"):
        get_metric("bleu")
    assert metric_for("some/upload.jsonl").name == "exact_match"
    assert metric_for("json-format").name == "json_match"
    assert metric_for("json-format").mean(['{"a": 1}', "x"], ['{"a": 1}', '{"a": 1}']) == 0.5

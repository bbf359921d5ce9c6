"""Task metrics: each turns (model answer, reference answer) into a score in [0, 1].

The shipped datasets name their metric in ``meta.yaml``; uploaded or hub datasets use exact match.
Metrics are deliberately strict: the shipped tasks are about *format following*, so an answer
wrapped in chatter or code fences is wrong even when the facts inside it are right.
"""
from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Callable

DEFAULT_METRIC = "exact_match"


@dataclass(frozen=True)
class Metric:
    """A named scoring rule. ``score(pred, ref)`` returns a float in [0, 1]."""
    name: str
    description: str
    score: Callable[[str, str], float]

    def mean(self, preds: list[str], refs: list[str]) -> float:
        """Average score over paired predictions and references (0.0 for no pairs)."""
        if len(preds) != len(refs):
            raise ValueError(f"{len(preds)} predictions but {len(refs)} references")
        return sum(self.score(p, r) for p, r in zip(preds, refs)) / len(preds) if preds else 0.0


def exact_match(pred: str, ref: str) -> float:
    """1.0 when the answer equals the reference after stripping surrounding whitespace."""
    return float((pred or "").strip() == (ref or "").strip())


def _parse_json(text: str):
    try:
        return True, json.loads((text or "").strip())
    except (json.JSONDecodeError, TypeError, ValueError):
        return False, None


def json_match(pred: str, ref: str) -> float:
    """1.0 when both parse as JSON and the parsed values are equal (key order and spacing don't matter).

    An answer that does not parse (extra words, code fences, a missing brace) scores 0.
    """
    ok_p, p = _parse_json(pred)
    ok_r, r = _parse_json(ref)
    if not (ok_p and ok_r):
        return 0.0
    return float(_same_json(p, r))


def _same_json(a, b) -> bool:
    """Equality that keeps booleans apart from numbers (json: true != 1) but lets 34 == 34.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


_PUNCT = str.maketrans("", "", string.punctuation + "“”‘’«»")


def _first_word(text: str) -> str:
    for word in (text or "").split():
        w = word.translate(_PUNCT).lower()
        if w:
            return w
    return ""


def label_match(pred: str, ref: str) -> float:
    """1.0 when the first word of the answer is the label (case and punctuation ignored).

    "Positive." matches "positive"; "The review is positive" does not (its first word is "The").
    """
    want = _first_word(ref)
    return float(bool(want) and _first_word(pred) == want)


METRICS: dict[str, Metric] = {
    "exact_match": Metric("exact_match", "Exact match: the answer must equal the reference "
                          "(surrounding whitespace ignored).", exact_match),
    "json_match": Metric("json_match", "JSON match: the answer must parse as JSON and equal the reference "
                         "object (key order and spacing ignored; anything around the JSON makes it fail).",
                         json_match),
    "label_match": Metric("label_match", "Label match: the first word of the answer must be the reference "
                          "label (case and punctuation ignored).", label_match),
}


def get_metric(name: str) -> Metric:
    """The metric called ``name``; raises KeyError listing the known names."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None


def metric_for(dataset_name: str) -> Metric:
    """The metric a dataset is scored with: the one its meta.yaml names, else exact match."""
    from workbench.core.data.datasets import read_meta
    meta = read_meta(dataset_name) or {}
    return METRICS.get(str(meta.get("metric") or DEFAULT_METRIC), METRICS[DEFAULT_METRIC])

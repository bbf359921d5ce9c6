"""Experiments tab, recorded results: the answer of a real run of a shipped experiment, shown without training.

Which experiment the tab opens on, reading a recording and turning it into rows and curves are core's
(``core/experiments/recorded.py``); these handlers put them on the page in its language, through the same views
(table, loss curves, score vs trainable, time / memory, score vs forgetting, settings, reading) a live experiment uses.
"""
from __future__ import annotations

import dataclasses

from workbench.core.experiments import recorded
from workbench.errors import WorkbenchError
from workbench.ui.handlers.common import in_page_language, user_errors
from workbench.ui.handlers.experiments import Plan, View, _view, empty_plan, empty_view, plan, shipped_experiment
from workbench.ui.language import page_text, tr


@in_page_language
def recorded_view(name: str, x_axis: str = "step", smoothing: float = 0.0) -> View:
    """The recorded answer of the shipped experiment ``name`` under a line saying when and on what it ran (and that
    Launch runs it live); without a recording, an empty view that says so."""
    try:
        rec = recorded.load(name)
    except WorkbenchError as e:  # a recording this version cannot read: say so where the results would be
        view = empty_view()
        view.header = tr("ui.warning", error=page_text(e))
        return view
    if rec is None:
        view = empty_view()
        view.header = tr("exptab.no_recording", name=name)
        return view
    return _view(rec.as_result(), page_text(rec.tab_message()), x_axis, smoothing, files=True, curves=rec.curves,
                 configs=rec.configs)


@dataclasses.dataclass
class Opening:
    """What the Experiments tab shows when the page opens."""
    name: str | None
    """The shipped experiment picked (``recorded.opening``)."""
    explain: str
    yaml: str | None
    """Its experiment file for the YAML box; None: the box already holds text, keep it."""
    shown: str
    """The shipped experiment whose recording the results show; "" when this browser watches an experiment of its
    own (its live view, as before)."""


@in_page_language
def opening(experiment_id: str, experiment_yaml: str = "") -> Opening:
    """The shipped experiment the tab opens on, its explanation and YAML, and whether its recorded answer is shown
    (always, unless this browser watches an experiment of its own)."""
    name = recorded.opening()
    if not name:
        return Opening(name=None, explain="", yaml=None, shown="")
    explain, text = shipped_experiment(name)
    return Opening(name=name, explain=explain, yaml=None if (experiment_yaml or "").strip() else text,
                   shown="" if experiment_id else name)


@user_errors
def plan_unless_recorded(name: str, experiment_yaml: str, max_steps: float | None = None) -> Plan:
    """After picking a shipped experiment: its plan when it has no recording (else the recording shows its runs, and
    the plan table is emptied)."""
    if not name or recorded.has_recording(name):
        return Plan(table=empty_plan(), summary="")
    return plan(experiment_yaml, max_steps)

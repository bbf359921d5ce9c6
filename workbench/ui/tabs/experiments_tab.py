"""Experiments tab: opens on a shipped experiment and its recorded result (a real run's answer, shown without
training); pick another shipped experiment or build one from the Train tab's config, see the plan, launch it as
one queue item, watch every run live (rows, overlaid loss curves), read the results (table, score vs trainable
parameters with the Pareto front, time and memory, score vs forgetting, config diff, CSV / report, a reading of the
numbers); compare any of the session's runs the same way; "compare this run" opens the Compare tab with that adapter
selected.
Layout and wiring only: the work is in ui/handlers/experiments.py and experiments_recorded.py."""
from __future__ import annotations

import gradio as gr

from workbench.ui.handlers import experiments as experiment_handlers
from workbench.ui.handlers import experiments_recorded as recorded_handlers
from workbench.ui.handlers.compare import adapter_choices
from workbench.ui.handlers import train as train_handlers
from workbench.ui.language import t


def build(owner: gr.BrowserState, config: gr.Code):
    """The tab's components and events; ``config`` is the Train tab's YAML box (the base of a built experiment).
    Returns the parts app.py wires across tabs (``open_compare`` and its outputs, ``load``)."""
    current = gr.BrowserState("", storage_key="peft-workbench-experiment",
                              secret=_secret())  # the watched experiment survives a reload
    gr.Markdown(t("help.experiments"))
    with gr.Row():
        shipped = gr.Dropdown(experiment_handlers.shipped_choices(), value=None, label=t("ui.page.exp.shipped"),
                              elem_id="exp-shipped", scale=2)
        with gr.Column(scale=3):
            explain = gr.Markdown(elem_id="exp-explain")
    with gr.Accordion(t("ui.page.exp.build_box"), open=False, elem_id="exp-build-box"):
        with gr.Row():
            ranks = gr.Textbox(label=t("ui.page.exp.ranks"), placeholder="4, 8, 16", elem_id="exp-ranks")
            target_sets = gr.Textbox(label=t("ui.page.exp.target_sets"), lines=2,
                                     placeholder="q_proj,v_proj\nall-linear", elem_id="exp-targets")
            method_pick = gr.CheckboxGroup(train_handlers.method_choices(), label=t("ui.page.exp.methods"), elem_id="exp-methods")
            budget = gr.Number(0, precision=0, label=t("ui.page.exp.budget"), elem_id="exp-budget")
        build_btn = gr.Button(t("ui.page.exp.build"), size="sm", elem_id="exp-build")
    exp_yaml = gr.Code(language="yaml", label="experiment.yaml", interactive=True, elem_id="exp-yaml")
    with gr.Row():
        steps = gr.Number(0, precision=0, label=t("ui.page.exp.steps"), elem_id="exp-steps")
        limit = gr.Number(0, precision=0, label=t("ui.page.exp.limit"),
                          elem_id="exp-limit")
        plan_btn = gr.Button(t("ui.page.exp.plan"), elem_id="exp-plan-btn")
        launch_btn = gr.Button(t("ui.page.exp.launch"), variant="primary", elem_id="exp-launch")
        stop_btn = gr.Button(t("ui.page.exp.stop_all"), variant="stop", elem_id="exp-stop")
        resume_btn = gr.Button(t("ui.page.shared.resume"), elem_id="exp-resume")
    plan_md = gr.Markdown(elem_id="exp-plan-summary")
    plan_df = gr.Dataframe(experiment_handlers.empty_plan(), interactive=False, elem_id="exp-plan", max_height=300)
    with gr.Row():
        pick = gr.Dropdown([], label=t("ui.page.exp.pick"), elem_id="exp-pick", scale=3)
        refresh = gr.Button(t("ui.page.shared.refresh"), size="sm", scale=1)
    with gr.Accordion(t("ui.page.exp.compare_runs_box"), open=False):
        with gr.Row():
            run_pick = gr.Dropdown([], multiselect=True, label=t("ui.page.exp.runs"), elem_id="exp-run-pick", scale=4)
            compare_runs_btn = gr.Button(t("ui.page.exp.compare_runs"), size="sm", scale=1, elem_id="exp-compare-runs")
    header = gr.Markdown(elem_id="exp-header")
    rows_df = gr.Dataframe(experiment_handlers.empty_rows(), interactive=False, wrap=True, elem_id="exp-rows",
                           max_height=360)
    with gr.Row():
        x_axis = gr.Radio([(t("ui.page.exp.x_step"), "step"), (t("ui.page.exp.x_tokens"), "tokens"), (t("ui.page.exp.x_seconds"), "elapsed_s")], value="step",
                          label=t("ui.page.exp.x_axis"), elem_id="exp-x")
        smoothing = gr.Slider(0, 0.95, value=0.0, step=0.05, label=t("ui.page.exp.smoothing"), elem_id="exp-smoothing")
    curves = gr.Plot(elem_id="exp-curves")
    with gr.Row():
        score_plot = gr.Plot(elem_id="exp-score")
        cost_plot = gr.Plot(elem_id="exp-cost")
    with gr.Row():
        forgetting_plot = gr.Plot(elem_id="exp-forgetting", scale=2)
        gr.Markdown(t("ui.page.exp.forgetting_note"), elem_id="exp-forgetting-note")
    reading_md = gr.Markdown(elem_id="exp-reading")
    gr.Markdown(t("ui.page.exp.diff"))
    diff_df = gr.Dataframe(experiment_handlers.empty_diff(), interactive=False, wrap=True, elem_id="exp-diff",
                           max_height=300)
    with gr.Row():
        csv_btn = gr.DownloadButton(t("ui.page.exp.csv"), size="sm", elem_id="exp-csv")
        report_btn = gr.DownloadButton(t("ui.page.exp.report"), size="sm", elem_id="exp-report")
        finished_pick = gr.Dropdown([], label=t("ui.page.exp.finished"), elem_id="exp-finished", scale=2)
        compare_btn = gr.Button(t("ui.page.shared.compare_this_run"), size="sm", elem_id="exp-compare-this")
    timer = gr.Timer(2.0, active=False)
    selection = gr.State([])  # the runs of "compare runs" while that view is shown (else [])
    shown = gr.State("")  # the shipped experiment whose recorded result is shown (else "": the live experiment)

    view_out = [header, rows_df, curves, score_plot, cost_plot, forgetting_plot, diff_df, reading_md, csv_btn,
                report_btn, finished_pick, timer]

    def _show(view: experiment_handlers.View):
        return [view.header, view.rows, view.curves, view.score, view.cost, view.forgetting, view.diff, view.reading,
                gr.update(value=view.csv_path, interactive=bool(view.csv_path)),
                gr.update(value=view.report_path, interactive=bool(view.report_path)),
                gr.update(choices=view.finished, value=view.finished[-1][1] if view.finished else None),
                gr.Timer(active=view.active)]

    def _view(exp_id, own, x, smooth, picked, recorded_name=""):
        if picked:
            return _show(experiment_handlers.runs_view(picked, own, x, smooth))
        if recorded_name:
            return _show(recorded_handlers.recorded_view(recorded_name, x, smooth))
        return _show(experiment_handlers.experiment_view(exp_id, own, x, smooth))

    def _refresh(own, exp_id):
        return (gr.update(choices=experiment_handlers.experiment_choices(own), value=exp_id or None),
                gr.update(choices=experiment_handlers.run_choices(own)))

    def _plan(text, n_steps):
        p = experiment_handlers.plan(text, n_steps)
        return p.summary, p.table

    def _launch(text, own, n_steps, n_limit):
        exp_id = experiment_handlers.launch(text, own, n_steps, n_limit)
        return exp_id, [], ""  # the live view replaces a recorded one

    def _plan_unless_recorded(name, text, n_steps):
        p = recorded_handlers.plan_unless_recorded(name, text, n_steps)
        return p.summary, p.table

    view_in = [current, owner, x_axis, smoothing, selection, shown]
    shipped.input(experiment_handlers.shipped_experiment, shipped, [explain, exp_yaml], api_name=False) \
        .success(lambda name: (name or "", []), shipped, [shown, selection], api_name=False) \
        .then(_view, view_in, view_out, api_name=False) \
        .then(_plan_unless_recorded, [shipped, exp_yaml, steps], [plan_md, plan_df], api_name=False)
    build_btn.click(experiment_handlers.build_from_config, [config, ranks, target_sets, method_pick, budget], exp_yaml,
                    api_name=False)
    plan_btn.click(_plan, [exp_yaml, steps], [plan_md, plan_df], api_name=False)
    launch_btn.click(_plan, [exp_yaml, steps], [plan_md, plan_df], api_name=False) \
        .success(_launch, [exp_yaml, owner, steps, limit], [current, selection, shown], api_name=False) \
        .success(_refresh, [owner, current], [pick, run_pick], api_name=False) \
        .then(_view, view_in, view_out, api_name=False)
    stop_btn.click(experiment_handlers.stop_all, [current, owner], header, api_name=False) \
        .success(lambda: "", None, shown, api_name=False) \
        .then(_view, view_in, view_out, api_name=False)  # the experiment stopped, live (not a recording)
    resume_btn.click(experiment_handlers.resume, [current, owner], header, api_name=False) \
        .success(lambda: "", None, shown, api_name=False) \
        .success(_view, view_in, view_out, api_name=False)
    pick.input(lambda exp_id: (exp_id, [], ""), pick, [current, selection, shown], api_name=False) \
        .then(_view, view_in, view_out, api_name=False)
    refresh.click(_refresh, [owner, current], [pick, run_pick], api_name=False)
    compare_runs_btn.click(lambda picked: picked or [], run_pick, selection, api_name=False) \
        .then(_view, view_in, view_out, api_name=False)
    x_axis.change(_view, view_in, view_out, api_name=False)
    smoothing.release(_view, view_in, view_out, api_name=False)
    timer.tick(_view, view_in, view_out, api_name=False, show_progress="hidden")

    # API endpoints (gradio_client, scripts): explicit owner and ids instead of browser state; listed in
    # docs/CONTRACTS.md ("Public API"). Gradio names each endpoint's parameters after the function's.
    api_text, api_owner, api_id = gr.Textbox(visible=False), gr.Textbox(visible=False), gr.Textbox(visible=False)
    api_steps, api_limit, api_out = gr.Number(visible=False), gr.Number(visible=False), gr.JSON(visible=False)

    def plan_experiment(experiment_yaml, max_steps):
        return experiment_handlers.plan_json(experiment_yaml, max_steps)

    def launch_experiment(experiment_yaml, owner, max_steps, eval_limit):
        return experiment_handlers.launch(experiment_yaml, owner, max_steps, eval_limit)

    def experiment_status(experiment_id, owner):
        return experiment_handlers.experiment_status(experiment_id, owner)

    def stop_experiment(experiment_id, owner):
        return experiment_handlers.stop_all(experiment_id, owner)

    def resume_experiment(experiment_id, owner):
        return experiment_handlers.resume(experiment_id, owner)

    gr.Button(visible=False).click(plan_experiment, [api_text, api_steps], api_out, api_name="plan_experiment")
    gr.Button(visible=False).click(launch_experiment, [api_text, api_owner, api_steps, api_limit], api_id,
                                   api_name="launch_experiment")
    gr.Button(visible=False).click(experiment_status, [api_id, api_owner], api_out, api_name="experiment_status")
    gr.Button(visible=False).click(stop_experiment, [api_id, api_owner], api_text, api_name="stop_experiment")
    gr.Button(visible=False).click(resume_experiment, [api_id, api_owner], api_text, api_name="resume_experiment")

    def open_compare(run_id, own):
        """"Compare this run": the Compare tab with that run's base model and adapter selected."""
        model, adapter = experiment_handlers.adapter_of(run_id, own)
        choices = adapter_choices(own)
        return gr.Tabs(selected="compare"), model, gr.update(choices=choices, value=[adapter]), \
            gr.update(choices=choices, value=adapter)

    def _load(own, exp_id, text):
        """The page opens on a shipped experiment and its recorded answer (or the experiment this browser watches)."""
        o = recorded_handlers.opening(exp_id, text)
        return [*_refresh(own, exp_id), *_view(exp_id, own, "step", 0.0, [], o.shown), experiment_handlers.empty_plan(),
                gr.update(value=o.name), o.explain, gr.update() if o.yaml is None else o.yaml, o.shown]

    return {"compare_btn": compare_btn, "finished_pick": finished_pick, "open_compare": open_compare,
            "load": _load, "load_in": [owner, current, exp_yaml],
            "load_out": [pick, run_pick] + view_out + [plan_df, shipped, explain, exp_yaml, shown]}


def wire(demo: gr.Blocks, tabs: gr.Tabs, owner: gr.BrowserState, parts: dict, train_parts: dict,
         compare_parts: dict) -> None:
    """Events across tabs: "compare this run" (this tab's finished run, the Train tab's watched run) opens the
    Compare tab with that adapter selected. (A page (re)load shows the experiment this browser watched: app.py runs
    ``parts["load"]`` in its load chain, after the session's owner id is known.)"""
    outs = [tabs, compare_parts["base"], compare_parts["adapters"], compare_parts["inside_pick"]]
    parts["compare_btn"].click(parts["open_compare"], [parts["finished_pick"], owner], outs, api_name=False)
    if "compare_btn" in train_parts:
        train_parts["compare_btn"].click(parts["open_compare"], [train_parts["current_run"], owner], outs,
                                         api_name=False)


def _secret() -> str:
    from workbench.core.serving import workspace
    return workspace.browser_state_secret()

"""Train tab: recipe + form -> YAML config -> queued run; live loss curve, progress, stop and resume."""
from __future__ import annotations

import gradio as gr

from workbench.spec import methods
from workbench.ui.handlers import takehome
from workbench.ui.handlers import train as train_handlers
from workbench.ui.handlers.form import DEFAULT_RECIPE, tracker_choices
from workbench.ui.language import t

FORM_GROUPS = ("lora", "prompt", "quantization")
"""The form's method-specific groups, in the order _visibility returns them (a method's record lists its own)."""


def method_choices() -> list[str]:
    """The Method radio's values: every registered method, group by group (labelled ``group · name`` in the page's
    language: train_handlers.method_choices)."""
    return [name for _label, name in train_handlers.method_choices("en")]


def on_field(key: str):
    """The event function of one form field: apply just that field to the YAML config (the source of truth), so
    settings edited in the YAML box are never overwritten by the form's other values."""
    def _on_field(value, cfg_text):
        new = train_handlers.form_to_yaml({key: value}, cfg_text)
        return new, new  # the session's config (server-side state) and the YAML box that shows it
    return _on_field


def _visibility(method: str):
    record = methods.get(method)
    return (*(gr.update(visible=g in record.form_groups) for g in FORM_GROUPS), t(record.help_id))


def build(owner: gr.BrowserState, current_run: gr.BrowserState):
    default_spec = train_handlers.recipe_spec(DEFAULT_RECIPE)
    initial = train_handlers.spec_to_form(default_spec)  # the components start at the default recipe's values
    initial_yaml = default_spec.to_yaml()  # and so do the YAML box and the session's config
    with gr.Row():
        with gr.Column(scale=5):
            with gr.Row():
                recipe = gr.Dropdown(train_handlers.recipe_names(), value=DEFAULT_RECIPE, label=t("ui.page.train.recipe"),
                                     elem_id="recipe-box", scale=2)
                f = {}
                f["name"] = gr.Textbox(initial["name"], label=t("ui.page.train.run_name"), scale=2)
                f["model.name"] = gr.Textbox(initial["model.name"], label=t("ui.page.train.model"), scale=2, elem_id="train-model")
            f["adapter.method"] = gr.Radio(train_handlers.method_choices("en"), value=initial["adapter.method"], label=t("ui.page.train.method"), elem_id="method-radio")
            method_md = gr.Markdown(t(methods.get(initial["adapter.method"]).help_id))
            with gr.Group(visible=True) as lora_box:
                with gr.Row():
                    f["adapter.r"] = gr.Slider(1, 128, value=initial["adapter.r"], step=1, label=t("ui.page.train.rank"),
                                               info=t("ui.page.train.rank_info"))
                    f["adapter.alpha"] = gr.Number(initial["adapter.alpha"], label=t("ui.page.train.alpha"), info=t("ui.page.train.alpha_info"))
                    f["adapter.dropout"] = gr.Number(initial["adapter.dropout"], label=t("ui.page.train.dropout"), info=t("ui.page.train.dropout_info"))
                with gr.Row():
                    f["adapter.target_modules"] = gr.Textbox(initial["adapter.target_modules"], label=t("ui.page.train.targets"),
                                                             info=t("ui.page.train.targets_info"))
                    f["adapter.use_rslora"] = gr.Checkbox(initial["adapter.use_rslora"], label="rsLoRA", info=t("ui.page.train.rslora_info"))
                    f["adapter.bias"] = gr.Radio(["none", "lora_only", "all"], value=initial["adapter.bias"], label=t("ui.page.shared.train_biases"))
            with gr.Group(visible=False) as prompt_box:
                with gr.Row():
                    f["adapter.num_virtual_tokens"] = gr.Slider(1, 100, value=initial["adapter.num_virtual_tokens"], step=1, label=t("ui.page.train.virtual_tokens"),
                                                                info=t("ui.page.train.virtual_tokens_info"))
                    f["adapter.prompt_tuning_init"] = gr.Radio(["random", "text"], value=initial["adapter.prompt_tuning_init"],
                                                               label=t("ui.page.train.prompt_init"))
                    f["adapter.prompt_tuning_init_text"] = gr.Textbox(initial["adapter.prompt_tuning_init_text"], label=t("ui.page.train.init_text"))
                with gr.Row():
                    f["adapter.encoder_reparameterization_type"] = gr.Radio(["MLP", "LSTM"], value=initial["adapter.encoder_reparameterization_type"],
                                                                            label=t("ui.page.train.encoder"))
                    f["adapter.prefix_projection"] = gr.Checkbox(initial["adapter.prefix_projection"], label=t("ui.page.train.prefix_projection"),
                                                                 info=t("ui.page.train.prefix_projection_info"))
            with gr.Group(visible=False) as qlora_box:
                with gr.Row():
                    f["adapter.bnb_4bit_quant_type"] = gr.Radio(["nf4", "fp4"], value=initial["adapter.bnb_4bit_quant_type"], label=t("ui.page.train.quant_type"),
                                                                info=t("ui.page.train.quant_type_info"))
                    f["adapter.bnb_4bit_use_double_quant"] = gr.Checkbox(value=initial["adapter.bnb_4bit_use_double_quant"], label=t("ui.page.train.double_quant"),
                                                                         info=t("ui.page.train.double_quant_info"))
            with gr.Accordion(t("ui.page.train.data"), open=True):
                with gr.Row():
                    f["data.name"] = gr.Dropdown(train_handlers.dataset_choices(), value=initial["data.name"], allow_custom_value=True,
                                                 label=t("ui.page.train.dataset"), scale=2, elem_id="dataset-box")
                    f["data.max_length"] = gr.Number(initial["data.max_length"], label=t("ui.page.train.max_tokens"), precision=0)
                    f["data.train_on_prompt"] = gr.Checkbox(initial["data.train_on_prompt"], label=t("ui.page.train.train_on_prompt"),
                                                            info=t("ui.page.train.train_on_prompt_info"))
                data_md = gr.Markdown(train_handlers.dataset_info_md(initial["data.name"]))
                with gr.Row():
                    upload = gr.File(label=t("ui.page.train.upload"),
                                     file_types=[".jsonl", ".json", ".csv", ".tsv"], scale=3)
                    p_col = gr.Textbox(label=t("ui.page.train.prompt_column"), placeholder="auto", scale=1)
                    r_col = gr.Textbox(label=t("ui.page.train.response_column"), placeholder="auto", scale=1)
                preview_btn = gr.Button(t("ui.page.train.preview"), size="sm")
                preview = gr.HTML()
            with gr.Accordion(t("ui.page.train.settings"), open=False, elem_id="train-settings"):
                with gr.Row():
                    f["train.max_steps"] = gr.Number(initial["train.max_steps"], label=t("ui.page.train.steps"), precision=0, elem_id="train-steps")
                    f["train.learning_rate"] = gr.Number(initial["train.learning_rate"], label=t("ui.page.train.learning_rate"))
                    f["train.batch_size"] = gr.Number(initial["train.batch_size"], label=t("ui.page.train.batch_size"), precision=0)
                    f["train.grad_accum"] = gr.Number(initial["train.grad_accum"], label=t("ui.page.train.grad_accum"), precision=0)
                    f["train.warmup_steps"] = gr.Number(initial["train.warmup_steps"], label=t("ui.page.train.warmup"), precision=0)
                with gr.Row():
                    f["train.lr_scheduler"] = gr.Dropdown(["linear", "cosine", "constant"], value=initial["train.lr_scheduler"],
                                                          label=t("ui.page.train.schedule"))
                    f["train.save_steps"] = gr.Number(initial["train.save_steps"], label=t("ui.page.train.save_steps"), precision=0)
                    f["train.eval_steps"] = gr.Number(initial["train.eval_steps"], label=t("ui.page.train.eval_steps"), precision=0)
                    f["train.seed"] = gr.Number(initial["train.seed"], label=t("ui.page.shared.seed"), precision=0)
                    f["train.precision"] = gr.Dropdown(["auto", "fp32", "bf16", "fp16"], value=initial["train.precision"],
                                                       label=t("ui.page.train.precision"), info=train_handlers.precision_summary())
                    f["train.device"] = gr.Dropdown(["auto", "cpu", "cuda", "mps"], value=initial["train.device"],
                                                    label=t("ui.page.train.device"), info=train_handlers.device_summary())
                with gr.Row():
                    f["train.report_to"] = gr.CheckboxGroup(tracker_choices(), value=initial["train.report_to"],
                                                            label=t("ui.page.train.report_to"),
                                                            info=t("ui.page.train.report_to_info"), elem_id="train-report-to")
            with gr.Accordion(t("ui.page.train.config"), open=False):
                config = gr.Code(initial_yaml, language="yaml", label="config.yaml", elem_id="config-yaml",
                                 interactive=True)
                code_btn = gr.Button(t("ui.page.train.show_code"), size="sm")
                code_py = gr.Code(language="python", label=t("ui.page.train.code_py"))
                code_cli = gr.Code(language="shell", label=t("ui.page.train.code_cli"))
                config_file = gr.DownloadButton(t("ui.page.train.download_config"), size="sm")
        with gr.Column(scale=4):
            with gr.Row():
                start = gr.Button(t("ui.page.train.start"), variant="primary", elem_id="start-btn")
                stop = gr.Button(t("ui.page.train.stop"), variant="stop", interactive=False, elem_id="stop-btn")
                resume = gr.Button(t("ui.page.shared.resume"), interactive=False, elem_id="resume-btn")
            progress = gr.HTML(train_handlers._progress_html(0, 0, "idle"))
            status = gr.Markdown(elem_id="train-status")
            loss_plot = gr.Plot(elem_id="loss-chart")
            with gr.Row():
                run_pick = gr.Dropdown([], label=t("ui.page.train.runs"), elem_id="run-pick", scale=3)
                refresh = gr.Button(t("ui.page.shared.refresh"), size="sm", scale=1)
                notebook_btn = gr.DownloadButton(t("ui.page.shared.download_notebook"), size="sm", scale=1, elem_id="run-notebook")
                compare_btn = gr.Button(t("ui.page.shared.compare_this_run"), size="sm", scale=1, elem_id="train-compare")  # wired in experiments_tab.wire
            runs_df = gr.Dataframe(interactive=False, max_height=240)
    timer = gr.Timer(1.5, active=True)

    fields = list(train_handlers.FORM_FIELDS)
    comps = [f[k] for k in fields]

    def _apply_form(values: dict):
        return [values.get(k, gr.update()) for k in fields]

    def _on_recipe(name):
        values = train_handlers.recipe_form(name)
        text = train_handlers.recipe_spec(name).to_yaml()
        return _apply_form(values) + [text, text]

    def _on_yaml(cfg_text):
        return _apply_form(train_handlers.yaml_to_form(cfg_text)) + [cfg_text]

    # The session's config lives in server-side state (Gradio reads a gr.State when the event RUNS, not when it
    # fires), and every event that edits it runs one at a time (one concurrency group): two quick form edits
    # (model name, then steps) each apply their own field to the latest config, never to the same stale text.
    config_state = gr.State(initial_yaml)
    serial = dict(concurrency_id=f"train-config-{id(config_state)}", concurrency_limit=1)

    recipe.change(_on_recipe, recipe, comps + [config, config_state], api_name=False, **serial)
    for key, c in zip(fields, comps):  # user edits only (.input): a recipe load sets the config in one go
        c.input(on_field(key), [c, config_state], [config_state, config], api_name=False, show_progress="hidden",
                trigger_mode="always_last", **serial)  # the last keystroke counts, not the first (default "once")
    # the YAML box is the source of truth: typing in it updates the form (nothing while it does not parse)
    config.input(_on_yaml, config, comps + [config_state], api_name=False, show_progress="hidden",
                 trigger_mode="always_last", **serial)
    f["adapter.method"].change(_visibility, f["adapter.method"], [lora_box, prompt_box, qlora_box, method_md],
                               api_name=False)
    f["data.name"].change(train_handlers.dataset_info_md, f["data.name"], data_md, api_name=False)
    upload.upload(train_handlers.upload_dataset, [upload, owner, p_col, r_col], [f["data.name"], data_md], api_name="upload_dataset") \
        .success(on_field("data.name"), [f["data.name"], config_state], [config_state, config], api_name=False,
                 show_progress="hidden", **serial)
    preview_btn.click(train_handlers.preview_html, [config, owner], preview, api_name=False)
    code_btn.click(train_handlers.show_code, config, [code_py, code_cli], api_name="show_code")

    def _config_download(cfg_text):
        import tempfile
        spec = train_handlers.yaml_to_spec(cfg_text)
        fh = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, prefix=(spec.name or "run") + "-")
        fh.write(spec.to_yaml())
        fh.close()
        return fh.name
    config_file.click(train_handlers.user_errors(_config_download), config, config_file, api_name=False)

    def _poll(run_id, own):
        md, prog, fig, b = train_handlers.poll_run(run_id, own)
        # the timer only ticks while the watched run can still change (no idle polling by idle pages)
        return (md, prog, fig, gr.update(interactive=b["start"]), gr.update(interactive=b["stop"]),
                gr.update(interactive=b["resume"]), train_handlers.runs_table(own), gr.Timer(active=b["stop"]))

    poll_out = [status, progress, loss_plot, start, stop, resume, runs_df, timer]

    def _refresh(own, run_id):
        return gr.update(choices=train_handlers.run_choices(own), value=run_id or None), train_handlers.runs_table(own)

    def _localize(data_name):
        # built before any page asked: the device note and the dataset description are worded again in the
        # language of the page that loads (the server builds them; the static labels use t()), and so are the
        # method choices' group names
        return (gr.update(info=train_handlers.device_summary()), train_handlers.dataset_info_md(data_name),
                gr.update(choices=train_handlers.method_choices()))

    def _start(cfg_text, own):
        run_id = train_handlers.start_run(cfg_text, own)
        return run_id, run_id

    start.click(_start, [config_state, owner], [current_run, run_pick], api_name=False, **serial) \
        .then(_refresh, [owner, current_run], [run_pick, runs_df], api_name=False) \
        .then(_poll, [current_run, owner], poll_out, api_name=False)
    stop.click(train_handlers.stop_run, [current_run, owner], None, api_name=False) \
        .then(_poll, [current_run, owner], poll_out, api_name=False)
    resume.click(train_handlers.resume_run, [current_run, owner], None, api_name=False) \
        .then(_poll, [current_run, owner], poll_out, api_name=False)
    timer.tick(_poll, [current_run, owner], poll_out, api_name=False, show_progress="hidden", queue=False)
    run_pick.input(lambda r: r, run_pick, current_run, api_name=False) \
        .then(_poll, [current_run, owner], poll_out, api_name=False)
    refresh.click(_refresh, [owner, current_run], [run_pick, runs_df], api_name=False)
    notebook_btn.click(takehome.run_notebook, [current_run, owner], notebook_btn, api_name=False)
    # API-only endpoints (gradio_client, scripts): explicit run id / owner instead of browser state.
    api_cfg, api_run, api_owner = gr.Textbox(visible=False), gr.Textbox(visible=False), gr.Textbox(visible=False)
    api_out = gr.JSON(visible=False)
    gr.Button(visible=False).click(train_handlers.start_run, [api_cfg, api_owner], api_run, api_name="start_run")
    gr.Button(visible=False).click(train_handlers.run_status, [api_run, api_owner], api_out, api_name="run_status")
    gr.Button(visible=False).click(train_handlers.stop_run, [api_run, api_owner], api_run, api_name="stop_run")
    gr.Button(visible=False).click(train_handlers.resume_run, [api_run, api_owner], api_run, api_name="resume_run")
    gr.Button(visible=False).click(train_handlers.runs_table, api_owner, gr.Dataframe(visible=False), api_name="list_runs")
    return {"recipe": recipe, "config": config, "config_state": config_state, "refresh": _refresh, "poll": _poll, "poll_out": poll_out, "run_pick": run_pick, "runs_df": runs_df,
            "compare_btn": compare_btn, "current_run": current_run,
            "comps": comps, "localize": _localize, "localize_in": f["data.name"],
            "localize_out": [f["train.device"], data_md, f["adapter.method"]]}

"""build_app(): the page. A model picker on top, then one tab per job."""
from __future__ import annotations

import os
import sys

import gradio as gr

from workbench.core.serving import instructor as classroom
from workbench.core.model import loading as models
from workbench.core.serving import workspace
from workbench.core.serving.sessions import SESSIONS, Janitor, session_left
from workbench.core.runstore.storage import runs_are_ephemeral
from workbench.ui.handlers import inspect as inspect_handlers
from workbench.ui.handlers.compare import default_concurrency
from workbench.ui.tabs import admin_tab, compare_tab, experiments_tab, inspect_tab, params_tab, train_tab
from workbench.ui.language import CURRENT_LANGUAGE_JS, HEAD, I18N, LANGUAGES, SET_LANGUAGE_JS, page_text, t

def build_app() -> gr.Blocks:
    with gr.Blocks(title="PEFT Workbench", delete_cache=(3600, 6 * 3600)) as demo:
        # Per-browser state that survives a page reload: an anonymous owner id and the run being watched.
        secret = workspace.browser_state_secret()
        owner = gr.BrowserState("", storage_key="peft-workbench-owner", secret=secret)
        current_run = gr.BrowserState("", storage_key="peft-workbench-run", secret=secret)
        with gr.Row():
            gr.Markdown(t("help.intro"), elem_id="intro")
            lang = gr.Radio([(v, k) for k, v in LANGUAGES.items()], value="en", label=t("ui.page.language"), scale=0,
                            min_width=180, elem_id="lang-switch")
        if runs_are_ephemeral():  # a Space without /data: say that runs will not survive a restart
            gr.Markdown(t("ui.page.storage_note"), elem_id="storage-note")
        if workspace.Policy.from_env().public:  # public mode: the limits that apply, in the page's language
            limits_note = gr.Markdown(elem_id="public-limits")
            demo.load(lambda: page_text(workspace.public_limits_message()), None, limits_note,
                      api_name="public_limits")
        demo.load(None, None, lang, js=CURRENT_LANGUAGE_JS, api_name=False)
        lang.input(None, lang, lang, js=SET_LANGUAGE_JS, api_name=False)
        with gr.Row():
            model_box = gr.Dropdown(choices=inspect_handlers.model_choices(), value=None, allow_custom_value=True,
                                    scale=3, label=t("ui.page.model"),
                                    elem_id="model-box")
            with gr.Accordion(t("ui.page.custom.title"), open=False):
                with gr.Row():
                    c_hidden = gr.Number(4096, label=t("ui.page.custom.hidden_size"), precision=0)
                    c_layers = gr.Number(32, label=t("ui.page.custom.layers"), precision=0)
                    c_heads = gr.Number(32, label=t("ui.page.custom.heads"), precision=0)
                    c_kv = gr.Number(8, label=t("ui.page.custom.kv_heads"), precision=0)
                    c_inter = gr.Number(14336, label=t("ui.page.custom.intermediate"), precision=0)
                    c_vocab = gr.Number(128256, label=t("ui.page.custom.vocab"), precision=0)
                c_build = gr.Button(t("ui.page.custom.build"))
        with gr.Tabs() as tabs:
            with gr.Tab(t("ui.page.tab.inspect"), id="inspect"):
                inspect_parts = inspect_tab.build(model_box)
            with gr.Tab(t("ui.page.tab.rank"), id="params"):
                params_tab.build(model_box, inspect_parts)
            with gr.Tab(t("ui.page.tab.train"), id="train"):
                train_parts = train_tab.build(owner, current_run)
                if classroom.admin_enabled():  # a name for the instructor's class board (or anonymous)
                    admin_tab.name_row(owner)
            with gr.Tab(t("ui.page.tab.compare"), id="compare") as compare_tab_el:
                compare_parts = compare_tab.build(owner)
            with gr.Tab(t("ui.page.tab.experiments"), id="experiments"):
                experiments_parts = experiments_tab.build(owner, train_parts["config"])
            if classroom.admin_enabled():  # instructor view: absent without WORKBENCH_ADMIN_PASSWORD
                with gr.Tab(t("ui.page.tab.instructor"), id="instructor"):
                    admin_tab.build()
        c_build.click(inspect_handlers.custom_model, [c_hidden, c_layers, c_heads, c_kv, c_inter, c_vocab],
                      model_box, api_name="custom_model")
        # Pick the default model after the page is served: the first page never waits for a model load.
        demo.load(lambda: models.EMBEDDED_NAME, None, model_box, api_name=False)

        def _init_session(own, run_id, request: gr.Request):
            own = own or workspace.new_owner_id()
            SESSIONS.join(getattr(request, "session_hash", None), own)
            return own  # the Train form, its YAML box and the session's config start at the default recipe (no
            # reset here: a load event that rewrote the form would overwrite what a quick user already typed)

        demo.load(_init_session, [owner, current_run], owner, api_name=False) \
            .then(train_parts["localize"], train_parts["localize_in"], train_parts["localize_out"], api_name=False) \
            .then(train_parts["refresh"], [owner, current_run], [train_parts["run_pick"], train_parts["runs_df"]],
                  api_name=False) \
            .then(compare_parts["refresh"], owner, [compare_parts["adapters"], compare_parts["inside_pick"]],
                  api_name=False) \
            .then(train_parts["poll"], [current_run, owner], train_parts["poll_out"], api_name=False) \
            .then(experiments_parts["load"], experiments_parts["load_in"], experiments_parts["load_out"], api_name=False)
        experiments_tab.wire(demo, tabs, owner, experiments_parts, train_parts, compare_parts)
        compare_tab_el.select(compare_parts["refresh"], owner, [compare_parts["adapters"], compare_parts["inside_pick"]],
                              api_name=False)
        # A tab closed (or reloaded): free the adapter copies its owner loaded, unless another tab has it open.
        demo.unload(_session_left)
    return demo


def _session_left(request: gr.Request) -> None:
    session_left(getattr(request, "session_hash", None) or "")


def report_password_problem() -> bool:
    """Say on stderr why WORKBENCH_ADMIN_PASSWORD was refused (shorter than instructor.MIN_PASSWORD: no instructor
    tab, no admin endpoint); True when it was."""
    problem = classroom.password_problem()
    if problem is not None:
        print(problem.render("en"), file=sys.stderr, flush=True)
    return problem is not None


def startup() -> Janitor:
    """Server start: runs left 'running' by a previous server are marked failed (interrupted), resumable;
    the server's own torch work (generation) gets WORKBENCH_SERVER_THREADS threads (default 1); a janitor
    thread prunes uploads older than WORKBENCH_UPLOAD_TTL_H hours that no run uses. SIGTERM / SIGINT first stop
    the training workers (each saves a checkpoint; runs end interrupted, resumable), then the server exits. An
    instructor password too short to be kept (the page was built without the instructor tab) is reported on stderr."""
    report_password_problem()
    from workbench.core.runstore import run_dirs as runs
    from workbench.core.serving.worker_lifetime import install_server_handlers
    from workbench.core.serving.run_queue import RUN_MANAGER
    from workbench.core.serving.threads import limit_server_threads
    limit_server_threads()
    RUN_MANAGER.recover()
    install_server_handlers(RUN_MANAGER)
    janitor = Janitor(workspace.uploads_root(), runs.runs_root())
    janitor.start()
    return janitor


def launch_kwargs() -> dict:
    """Server settings from the environment (Spaces conventions: PORT / GRADIO_SERVER_NAME)."""
    kw = dict(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
              server_port=int(os.environ.get("PORT") or os.environ.get("GRADIO_SERVER_PORT") or 7860),
              share=False, show_error=True, max_file_size=os.environ.get("WORKBENCH_MAX_UPLOAD", "20mb"), i18n=I18N, head=HEAD)
    auth = os.environ.get("WORKBENCH_AUTH")  # "user:password"
    if auth and ":" in auth:
        kw["auth"] = tuple(auth.split(":", 1))
    return kw


def queue(demo: gr.Blocks) -> gr.Blocks:
    return demo.queue(default_concurrency_limit=default_concurrency())

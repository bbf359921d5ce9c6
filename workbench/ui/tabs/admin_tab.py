"""Instructor tab (issue 13, item 3): present only when WORKBENCH_ADMIN_PASSWORD is set (ui/app.py). Its contents stay
hidden until the password is accepted, and every button sends the password again: the server checks it on each
call (ui/handlers/admin.py), so the API endpoints are as locked as the page.

``name_row(owner)``: the learner's display name for the class board, shown in the Train tab."""
from __future__ import annotations

import gradio as gr

from workbench.ui.handlers import admin as admin_handlers
from workbench.ui.language import t


def build() -> None:
    """The instructor tab's contents (inside a gr.Tab)."""
    gr.Markdown(t("ui.page.admin.intro"))
    with gr.Row():
        password = gr.Textbox(label=t("ui.page.admin.password"), type="password", scale=3, elem_id="admin-password")
        open_btn = gr.Button(t("ui.page.admin.open"), scale=0, elem_id="admin-open")
    with gr.Column(visible=False, elem_id="admin-panel") as panel:
        summary = gr.Markdown(elem_id="admin-summary")
        refresh_btn = gr.Button(t("ui.page.shared.refresh"), size="sm")
        room_df = gr.Dataframe(label=t("ui.page.admin.room"), interactive=False, elem_id="admin-runs")
        with gr.Row():
            run_box = gr.Textbox(label=t("ui.page.admin.run_id"), scale=3)
            stop_btn = gr.Button(t("ui.page.admin.stop"), size="sm", scale=0, variant="stop")
            front_btn = gr.Button(t("ui.page.admin.front"), size="sm", scale=0, elem_id="admin-front")
        with gr.Row():
            pause_btn = gr.Button(t("ui.page.admin.pause"), size="sm", elem_id="admin-pause")
            go_btn = gr.Button(t("ui.page.admin.go_on"), size="sm", elem_id="admin-go-on")
        board_df = gr.Dataframe(label=t("ui.page.admin.board"), interactive=False, elem_id="admin-board")
        with gr.Row():
            reset_btn = gr.Button(t("ui.page.admin.reset"), size="sm", variant="stop")
        action_md = gr.Markdown(elem_id="admin-action")
    room_out = [summary, room_df, board_df]
    open_btn.click(admin_handlers.room_view, password, room_out, api_name="admin_room") \
        .success(lambda: gr.update(visible=True), None, panel, api_name=False)
    password.submit(admin_handlers.room_view, password, room_out, api_name=False) \
        .success(lambda: gr.update(visible=True), None, panel, api_name=False)
    refresh_btn.click(admin_handlers.room_view, password, room_out, api_name=False)
    stop_btn.click(admin_handlers.stop_any, [password, run_box], action_md, api_name="admin_stop") \
        .success(admin_handlers.room_view, password, room_out, api_name=False)
    front_btn.click(admin_handlers.front_any, [password, run_box], action_md, api_name="admin_front") \
        .success(admin_handlers.room_view, password, room_out, api_name=False)
    pause_btn.click(lambda p: admin_handlers.pause_queue(p, True), password, action_md, api_name="admin_pause") \
        .success(admin_handlers.room_view, password, room_out, api_name=False)
    go_btn.click(lambda p: admin_handlers.pause_queue(p, False), password, action_md, api_name="admin_go_on") \
        .success(admin_handlers.room_view, password, room_out, api_name=False)
    reset_btn.click(admin_handlers.reset_room, password, action_md, api_name="admin_reset") \
        .success(admin_handlers.room_view, password, room_out, api_name=False)


def name_row(owner) -> None:
    """The learner's display name on the class board (empty: anonymous); stored per browser session."""
    with gr.Row():
        name_box = gr.Textbox(label=t("ui.page.admin.name"), scale=3, max_length=40, elem_id="display-name")
        name_btn = gr.Button(t("ui.page.admin.save_name"), size="sm", scale=0)
    name_md = gr.Markdown()
    name_btn.click(admin_handlers.set_name, [name_box, owner], name_md, api_name="set_display_name")
    owner.change(admin_handlers.current_name, owner, name_box, api_name=False)

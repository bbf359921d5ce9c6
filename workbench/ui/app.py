"""build_app(): the page. A model picker on top, then one tab per job."""
from __future__ import annotations

import os

import gradio as gr

from ..core import models as M
from .handlers import inspect as H
from .tabs import inspect_tab, params_tab
from .text import t

INTRO = """# PEFT Workbench
Learn **parameter-efficient fine-tuning** by doing it: look inside a model, see what LoRA and friends would train,
train a small adapter on your CPU, and compare the model before and after. Everything runs offline on the embedded
**SmolLM2-135M-Instruct**; the architecture-only presets (up to Llama-3-70B) are built on PyTorch's `meta` device,
so nothing is downloaded and no memory is used.
"""


def build_app() -> gr.Blocks:
    with gr.Blocks(title="PEFT Workbench", delete_cache=(3600, 6 * 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            model_box = gr.Dropdown(choices=H.model_choices(), value=None, allow_custom_value=True, scale=3,
                                    label=t("Model: a preset, a hub id (online only), a local checkpoint folder or a config.json path"),
                                    elem_id="model-box")
            with gr.Accordion(t("Custom decoder (architecture only)"), open=False):
                with gr.Row():
                    c_hidden = gr.Number(4096, label="hidden size", precision=0)
                    c_layers = gr.Number(32, label="layers", precision=0)
                    c_heads = gr.Number(32, label="heads", precision=0)
                    c_kv = gr.Number(8, label="KV heads", precision=0)
                    c_inter = gr.Number(14336, label="intermediate", precision=0)
                    c_vocab = gr.Number(128256, label="vocab", precision=0)
                c_build = gr.Button(t("Build this architecture"))
        with gr.Tabs():
            with gr.Tab(t("1 · Inspect modules"), id="inspect"):
                inspect_parts = inspect_tab.build(model_box)
            with gr.Tab(t("2 · Rank vs parameters"), id="params"):
                params_tab.build(model_box, inspect_parts)
        c_build.click(H.custom_model, [c_hidden, c_layers, c_heads, c_kv, c_inter, c_vocab], model_box,
                      api_name="custom_model")
        # Pick the default model after the page is served: the first page never waits for a model load.
        demo.load(lambda: M.EMBEDDED_NAME, None, model_box, api_name=False)
    return demo


def launch_kwargs() -> dict:
    """Server settings from the environment (Spaces conventions: PORT / GRADIO_SERVER_NAME)."""
    kw = dict(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
              server_port=int(os.environ.get("PORT") or os.environ.get("GRADIO_SERVER_PORT") or 7860),
              share=False, show_error=True, max_file_size=os.environ.get("WORKBENCH_MAX_UPLOAD", "20mb"))
    auth = os.environ.get("WORKBENCH_AUTH")  # "user:password"
    if auth and ":" in auth:
        kw["auth"] = tuple(auth.split(":", 1))
    return kw


def queue(demo: gr.Blocks) -> gr.Blocks:
    return demo.queue(default_concurrency_limit=int(os.environ.get("WORKBENCH_CONCURRENCY", "4")))

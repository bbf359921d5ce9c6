"""Rank vs parameter-count tab: LoRA sweeps for several target sets, other PEFT methods as reference
lines, and memory estimates for full fine-tuning vs LoRA vs QLoRA (batch, length, precision, checkpointing)."""
from __future__ import annotations

import gradio as gr

from ..handlers import inspect as inspect_handlers
from ..text import t

def build(model_box: gr.Dropdown, inspect_parts: dict):
    # target-set choices: the label in the page's language, the English name as the value the handlers get
    names = {"PEFT default": t("PEFT default"), "attention (q,k,v,o)": t("attention (q,k,v,o)"),
             "MLP only": t("MLP only"), "your pick": t("your pick")}
    gr.Markdown(t("help.rank"))
    with gr.Row():
        sets = gr.CheckboxGroup(choices=[(names.get(k, k), k) for k in inspect_handlers.TARGET_SET_LABELS],
                                value=["PEFT default", "attention (q,k,v,o)", "all-linear"],
                                label=t("Target sets to compare ('your pick' = the Inspect tab's selection)"),
                                elem_id="target-sets")
        ranks = gr.Textbox(value=inspect_handlers.DEFAULT_RANKS, label=t("Ranks"), elem_id="ranks-box")
    with gr.Row():
        logx = gr.Checkbox(value=True, label=t("log x axis"))
        logy = gr.Checkbox(value=True, label=t("log y axis"))
        vtok = gr.Slider(1, 200, value=20, step=1, label=t("virtual tokens (prompt / prefix / P-tuning)"))
        dora = gr.Checkbox(value=False, label="DoRA", info=t("adds one magnitude vector per adapted layer"))
        rslora = gr.Checkbox(value=False, label="rsLoRA", info=t("scales by α/√r: same count, steadier at high rank"))
        bias = gr.Radio(["none", "lora_only", "all"], value="none", label=t("train biases"))
        refs = gr.Checkbox(value=True, label=t("show other methods"))
    with gr.Tabs():
        with gr.Tab(t("Trainable parameters")):
            fig_params = gr.Plot(elem_id="rank-chart")
        with gr.Tab(t("% of model")):
            fig_pct = gr.Plot(elem_id="percent-chart")
        with gr.Tab(t("Table")):
            table = gr.Dataframe(interactive=False, max_height=420)
    gr.Markdown(t("help.memory"))
    with gr.Row():
        mem_rank = gr.Slider(1, 256, value=8, step=1, label=t("LoRA rank for the estimate"))
        mem_targets = gr.Dropdown([(names.get(k, k), k) for k in inspect_handlers.TARGET_SET_NAMES],
                                  value="PEFT default", label=t("LoRA targets for the estimate"))
    with gr.Row():
        mem_batch = gr.Slider(1, 64, value=8, step=1, label=t("batch size (estimate)"), elem_id="memory-batch")
        mem_seq = gr.Slider(16, 4096, value=256, step=16, label=t("sequence length, tokens (estimate)"),
                            elem_id="memory-seq")
        mem_precision = gr.Radio(["fp32", "bf16"], value="fp32", label=t("precision (estimate)"))
        mem_ckpt = gr.Checkbox(value=False, label=t("gradient checkpointing (estimate)"))
    with gr.Row():
        mem_fig = gr.Plot(elem_id="memory-chart")
        with gr.Column():
            mem_table = gr.Dataframe(interactive=False)
            mem_md = gr.Markdown()

    rank_inputs = [model_box, sets, inspect_parts["targets"], inspect_parts["regex"], ranks, logx, logy, vtok, dora,
                   bias, rslora, refs]
    rank_outputs = [fig_params, fig_pct, table]
    mem_inputs = [model_box, mem_rank, mem_targets, mem_batch, mem_seq, mem_precision, mem_ckpt]
    mem_outputs = [mem_fig, mem_table, mem_md]
    inspect_parts["load_event"].then(inspect_handlers.rank_view, rank_inputs, rank_outputs, api_name="rank_chart") \
        .then(inspect_handlers.memory_view, mem_inputs, mem_outputs, api_name="memory_estimate")
    for comp in (sets, logx, logy, dora, bias, rslora, refs):
        comp.change(inspect_handlers.rank_view, rank_inputs, rank_outputs, api_name=False, show_progress="minimal")
    ranks.submit(inspect_handlers.rank_view, rank_inputs, rank_outputs, api_name=False)
    vtok.release(inspect_handlers.rank_view, rank_inputs, rank_outputs, api_name=False)
    for comp in (mem_rank, mem_batch, mem_seq):
        comp.release(inspect_handlers.memory_view, mem_inputs, mem_outputs, api_name=False)
    for comp in (mem_targets, mem_precision, mem_ckpt):
        comp.change(inspect_handlers.memory_view, mem_inputs, mem_outputs, api_name=False)

"""Rank vs parameter-count tab: LoRA sweeps for several target sets, other PEFT methods as reference
lines, any one method against its own size knob, and memory estimates for full fine-tuning vs LoRA vs QLoRA (batch, length, precision, checkpointing)."""
from __future__ import annotations

import gradio as gr

from workbench.core.model.modules import ATTENTION, MLP, PEFT_DEFAULT
from workbench.spec.targets import ALL_LINEAR
from workbench.ui.handlers import inspect as inspect_handlers
from workbench.ui.handlers import train as train_handlers
from workbench.ui.language import YOUR_PICK, t

def build(model_box: gr.Dropdown, inspect_parts: dict):
    # target-set choices: the label in the page's language, the set's name as the value the handlers get
    names = {PEFT_DEFAULT: t("ui.page.rank.set.peft_default"), ATTENTION: t("ui.page.rank.set.attention"),
             MLP: t("ui.page.rank.set.mlp"), YOUR_PICK: t("ui.page.rank.set.your_pick")}
    gr.Markdown(t("help.rank"))
    with gr.Row():
        sets = gr.CheckboxGroup(choices=[(names.get(k, k), k) for k in inspect_handlers.TARGET_SET_LABELS],
                                value=[PEFT_DEFAULT, ATTENTION, ALL_LINEAR], label=t("ui.page.rank.sets"),
                                elem_id="target-sets")
        ranks = gr.Textbox(value=inspect_handlers.DEFAULT_RANKS, label=t("ui.page.rank.ranks"), elem_id="ranks-box")
    with gr.Row():
        logx = gr.Checkbox(value=True, label=t("ui.page.rank.logx"))
        logy = gr.Checkbox(value=True, label=t("ui.page.rank.logy"))
        vtok = gr.Slider(1, 200, value=20, step=1, label=t("ui.page.rank.virtual_tokens"))
        dora = gr.Checkbox(value=False, label="DoRA", info=t("ui.page.rank.dora_info"))
        rslora = gr.Checkbox(value=False, label="rsLoRA", info=t("ui.page.rank.rslora_info"))
        bias = gr.Radio(["none", "lora_only", "all"], value="none", label=t("ui.page.shared.train_biases"))
        refs = gr.Checkbox(value=True, label=t("ui.page.rank.show_refs"))
    with gr.Tabs():
        with gr.Tab(t("ui.page.tab.trainable")):
            fig_params = gr.Plot(elem_id="rank-chart")
        with gr.Tab(t("ui.page.tab.percent")):
            fig_pct = gr.Plot(elem_id="percent-chart")
        with gr.Tab(t("ui.page.tab.table")):
            table = gr.Dataframe(interactive=False, max_height=420)
    gr.Markdown(t("help.size_knob"))
    with gr.Row():
        size_method = gr.Dropdown(train_handlers.method_choices(), value=inspect_handlers.SIZE_METHOD,
                                  label=t("ui.page.rank.size_method"), elem_id="size-method")
        size_values = gr.Textbox(value=inspect_handlers.default_sizes_text(inspect_handlers.SIZE_METHOD),
                                 label=t("ui.page.rank.size_values"), elem_id="size-values")
        size_targets = gr.Dropdown([(names.get(k, k), k) for k in inspect_handlers.TARGET_SET_LABELS],
                                   value=PEFT_DEFAULT, label=t("ui.page.rank.size_targets"))
    size_note = gr.Markdown()
    with gr.Tabs():
        with gr.Tab(t("ui.page.tab.trainable")):
            size_fig = gr.Plot(elem_id="size-chart")
        with gr.Tab(t("ui.page.tab.percent")):
            size_pct = gr.Plot(elem_id="size-percent-chart")
        with gr.Tab(t("ui.page.tab.table")):
            size_table = gr.Dataframe(interactive=False, max_height=420)
    gr.Markdown(t("help.memory"))
    with gr.Row():
        mem_rank = gr.Slider(1, 256, value=8, step=1, label=t("ui.page.rank.mem_rank"))
        mem_targets = gr.Dropdown([(names.get(k, k), k) for k in inspect_handlers.TARGET_SET_NAMES],
                                  value=PEFT_DEFAULT, label=t("ui.page.rank.mem_targets"))
    with gr.Row():
        mem_batch = gr.Slider(1, 64, value=8, step=1, label=t("ui.page.rank.mem_batch"), elem_id="memory-batch")
        mem_seq = gr.Slider(16, 4096, value=256, step=16, label=t("ui.page.rank.mem_seq"),
                            elem_id="memory-seq")
        mem_precision = gr.Radio(["fp32", "bf16"], value="fp32", label=t("ui.page.rank.mem_precision"))
        mem_ckpt = gr.Checkbox(value=False, label=t("ui.page.rank.mem_ckpt"))
    with gr.Row():
        mem_fig = gr.Plot(elem_id="memory-chart")
        with gr.Column():
            mem_table = gr.Dataframe(interactive=False)
            mem_md = gr.Markdown()

    rank_inputs = [model_box, sets, inspect_parts["targets"], inspect_parts["regex"], ranks, logx, logy, vtok, dora,
                   bias, rslora, refs]
    rank_outputs = [fig_params, fig_pct, table]
    size_inputs = [model_box, size_method, size_values, size_targets, inspect_parts["targets"], inspect_parts["regex"],
                   logx, logy]
    size_outputs = [size_fig, size_pct, size_table, size_note]

    def _size_view(model, method, sizes, targets, checked, regex, log_x, log_y, progress=gr.Progress()):
        # the methods PEFT counts on real weights (BOFT, SHiRA, UniLoRA) take a second or two a size: show progress
        return inspect_handlers.size_view(model, method, sizes, targets, checked, regex, log_x, log_y,
                                          progress=progress)

    mem_inputs = [model_box, mem_rank, mem_targets, mem_batch, mem_seq, mem_precision, mem_ckpt]
    mem_outputs = [mem_fig, mem_table, mem_md]
    inspect_parts["load_event"].then(inspect_handlers.rank_view, rank_inputs, rank_outputs, api_name="rank_chart") \
        .then(inspect_handlers.memory_view, mem_inputs, mem_outputs, api_name="memory_estimate") \
        .then(_size_view, size_inputs, size_outputs, api_name="method_size_chart")
    for comp in (sets, logx, logy, dora, bias, rslora, refs):
        comp.change(inspect_handlers.rank_view, rank_inputs, rank_outputs, api_name=False, show_progress="minimal")
    ranks.submit(inspect_handlers.rank_view, rank_inputs, rank_outputs, api_name=False)
    vtok.release(inspect_handlers.rank_view, rank_inputs, rank_outputs, api_name=False)
    size_method.change(inspect_handlers.default_sizes_text, size_method, size_values, api_name=False) \
        .then(_size_view, size_inputs, size_outputs, api_name=False)
    size_values.submit(_size_view, size_inputs, size_outputs, api_name=False)
    for comp in (size_targets, logx, logy):
        comp.change(_size_view, size_inputs, size_outputs, api_name=False, show_progress="minimal")
    for comp in (mem_rank, mem_batch, mem_seq):
        comp.release(inspect_handlers.memory_view, mem_inputs, mem_outputs, api_name=False)
    for comp in (mem_targets, mem_precision, mem_ckpt):
        comp.change(inspect_handlers.memory_view, mem_inputs, mem_outputs, api_name=False)

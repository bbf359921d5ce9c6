"""Compare tab: base vs adapters side by side (one base model in memory), token view, held-out
evaluation, a look inside the adapter, and export."""
from __future__ import annotations

import gradio as gr

from workbench.ui.handlers import compare as compare_handlers
from workbench.ui.handlers import takehome
from workbench.ui.handlers import train as train_handlers
from workbench.ui.language import page_text, t, tr
from workbench.ui.zerogpu import gpu

def build(owner: gr.BrowserState):
    gr.Markdown(t("help.compare"))
    with gr.Row():
        base = gr.Textbox(value="smollm2-135m-instruct", label=t("ui.page.compare.base"), scale=2, elem_id="compare-model")
        adapters = gr.Dropdown([], multiselect=True, label=t("ui.page.compare.adapters"),
                               scale=4, elem_id="compare-adapters")
        refresh = gr.Button(t("ui.page.compare.refresh"), size="sm", scale=1)
    with gr.Accordion(t("ui.page.compare.upload"), open=False):
        up = gr.File(file_count="multiple", file_types=[".zip", ".json", ".safetensors"], label=t("ui.page.compare.adapter_files"))
        up_md = gr.Markdown()
    with gr.Row():
        dataset = gr.Dropdown(train_handlers.dataset_choices(), value="json-format", label=t("ui.page.compare.heldout_from"), scale=1)
        preset = gr.Dropdown(compare_handlers.heldout_prompts("json-format"), value=None, scale=3,
                             label=t("ui.page.compare.pick_prompt"), elem_id="compare-preset")  # typing filters the list
    prompt = gr.Textbox(lines=3, label=t("ui.page.compare.prompt"), elem_id="compare-prompt")
    with gr.Accordion(t("ui.page.compare.decoding"), open=False):
        with gr.Row():
            max_new = gr.Slider(1, 256, value=64, step=1, label=t("ui.page.compare.max_new_tokens"))
            sample = gr.Checkbox(False, label=t("ui.page.compare.sample"))
            temp = gr.Slider(0.05, 2.0, value=0.7, label=t("ui.page.compare.temperature"))
            top_p = gr.Slider(0.05, 1.0, value=0.9, label="top-p")
            rep = gr.Slider(1.0, 2.0, value=1.0, label=t("ui.page.compare.repetition_penalty"))
            seed = gr.Number(0, precision=0, label=t("ui.page.shared.seed"))
            chat = gr.Checkbox(True, label=t("ui.page.compare.chat_template"))
    go = gr.Button(t("ui.page.compare.generate"), variant="primary", elem_id="compare-go")
    with gr.Row():
        outs = [gr.Textbox(label=t("ui.page.compare.base_out"), lines=6, elem_id="out-base", buttons=["copy"])]
        for i in range(compare_handlers.MAX_ADAPTERS):
            outs.append(gr.Textbox(label=f"adapter {i + 1}", lines=6, visible=False, elem_id=f"out-adapter-{i + 1}",
                                   buttons=["copy"]))
    with gr.Accordion(t("ui.page.compare.token_view"), open=False):
        gr.Markdown(t("ui.page.compare.token_view_note"))
        tok_btn = gr.Button(t("ui.page.compare.explain"), size="sm")
        tok_view = gr.HighlightedText(show_legend=False, color_map=None, elem_id="token-view")
    with gr.Accordion(t("ui.page.compare.all_prompts"), open=False):
        n_presets = gr.Slider(1, 50, value=8, step=1, label=t("ui.page.compare.how_many"))
        presets_btn = gr.Button(t("ui.page.compare.run_all"), size="sm")
        presets_df = gr.Dataframe(interactive=False, wrap=True)
    with gr.Accordion(t("ui.page.compare.evaluation"), open=False):
        with gr.Row():
            eval_limit = gr.Slider(1, 100, value=20, step=1, label=t("ui.page.compare.examples"))
            eval_btn = gr.Button(t("ui.page.compare.evaluate"), size="sm")
        with gr.Row():
            eval_df = gr.Dataframe(interactive=False)
            eval_fig = gr.Plot()
    with gr.Accordion(t("ui.page.compare.inside"), open=False):
        inside_pick = gr.Dropdown([], label=t("ui.page.compare.adapter"))
        inside_btn = gr.Button(t("ui.page.compare.analyse"), size="sm")
        inside_md = gr.Markdown()
        with gr.Row():
            heat = gr.Plot()
            spec = gr.Plot()
    with gr.Accordion(t("ui.page.compare.export"), open=False):
        with gr.Row():
            zip_btn = gr.Button(t("ui.page.compare.download_zip"), size="sm")
            zip_file = gr.File(label=t("ui.page.compare.zip"))
            notebook_btn = gr.DownloadButton(t("ui.page.shared.download_notebook"), size="sm", elem_id="adapter-notebook")
        merge_btn = gr.Button(t("ui.page.compare.merge"), size="sm")
        merge_md = gr.Markdown()
        with gr.Row():  # sign in to push into one's own namespace: only on a Space with hf_oauth (else a note why not)
            if compare_handlers.oauth_available():
                gr.LoginButton(size="sm")
            elif compare_handlers.hub_offline():
                gr.Markdown(t("ui.page.compare.sign_in_offline"), elem_id="push-sign-in-note")
            else:
                gr.Markdown(t("ui.page.compare.sign_in_elsewhere"), elem_id="push-sign-in-note")
        with gr.Row():
            repo = gr.Textbox(label=t("ui.page.compare.repo"))
            token = gr.Textbox(label=t("ui.page.compare.token"), type="password")
            push_btn = gr.Button(t("ui.page.compare.push"), size="sm")
        push_md = gr.Markdown()

    def _refresh(own):
        ch = compare_handlers.adapter_choices(own)
        return gr.update(choices=ch), gr.update(choices=ch)

    def _labels(selected, own):
        ups = []
        for i in range(compare_handlers.MAX_ADAPTERS):
            if i < len(selected or []):
                try:
                    badge = compare_handlers.adapter_badge(selected[i], own)
                    info = compare_handlers.adapter_info(selected[i], own)  # score · forgetting · size
                except Exception as e:  # unreadable adapter: say so in its column (in the page's language)
                    badge, info = tr("ui.warning", error=page_text(e)), None
                ups.append(gr.update(visible=True, label=f"{badge} · {compare_handlers._short(selected[i])}",
                                     info=info or None, value=""))
            else:
                ups.append(gr.update(visible=False, value=""))
        return ups

    def _upload(files, own):
        d = compare_handlers.upload_adapter(files, own)
        ch = compare_handlers.adapter_choices(own)
        return tr("ui.imported", path=d), gr.update(choices=ch), gr.update(choices=ch)

    refresh.click(_refresh, owner, [adapters, inside_pick], api_name=False)
    adapters.change(_labels, [adapters, owner], outs[1:], api_name=False)
    up.upload(_upload, [up, owner], [up_md, adapters, inside_pick], api_name=False)
    dataset.change(lambda name: gr.update(choices=compare_handlers.heldout_prompts(name), value=None), dataset, preset,
                   api_name=False)
    # in the browser, at once: a server round trip could wait behind queued events while the pick already shows
    preset.input(None, preset, prompt, js="(text) => text || ''", api_name=False)
    gen_inputs = [base, adapters, prompt, owner, max_new, sample, temp, top_p, rep, seed, chat]

    def _stream(*args):
        n = len(args[1] or [])
        for texts in compare_handlers.compare_stream(*args):
            yield texts + [gr.update()] * (compare_handlers.MAX_ADAPTERS - n)
    # Generation calls mostly wait for the engine's scheduler, which batches them: let up to one batch's worth
    # of them in at once (the other events keep the app's default concurrency).
    gen_slots = dict(concurrency_id="generation", concurrency_limit=compare_handlers.generation_slots())
    go.click(gpu(_stream), gen_inputs, outs, api_name=False, **gen_slots)
    def explain_first(model, adapters, prompt, owner, response, use_chat_template):
        return compare_handlers.token_view(model, (adapters or [None])[0], prompt, response, owner, use_chat_template)
    tok_btn.click(gpu(explain_first), [base, adapters, prompt, owner, outs[1], chat], tok_view, api_name=False)
    presets_btn.click(gpu(compare_handlers.run_presets), [base, adapters, dataset, owner, n_presets], presets_df, api_name=False)
    eval_btn.click(gpu(compare_handlers.evaluate_view), [base, adapters, dataset, owner, eval_limit], [eval_df, eval_fig], api_name=False)
    inside_btn.click(compare_handlers.analysis_view, [base, inside_pick, owner], [heat, spec, inside_md], api_name=False)
    zip_btn.click(compare_handlers.export_zip, [inside_pick, owner], zip_file, api_name=False)
    notebook_btn.click(takehome.adapter_notebook, [inside_pick, owner], notebook_btn, api_name=False)
    merge_btn.click(compare_handlers.export_merged, [base, inside_pick, owner], merge_md, api_name=False)
    push_btn.click(compare_handlers.push, [inside_pick, repo, token, owner], push_md, api_name=False)

    # API endpoints with explicit owner (gradio_client / scripts).
    api_owner, api_adapters = gr.Textbox(visible=False), gr.JSON(visible=False)
    api_out = gr.JSON(visible=False)
    # Gradio names each endpoint's parameters after the function's (listed in docs/CONTRACTS.md, "Public API").
    def compare(model, adapters, prompt, owner, max_new_tokens):
        return compare_handlers.compare(model, adapters or [], prompt, owner, max_new_tokens=max_new_tokens)

    def list_adapters(owner):
        return compare_handlers.adapter_choices(owner)
    gr.Button(visible=False).click(gpu(compare), [base, api_adapters, prompt, api_owner, max_new], api_out,
                                   api_name="compare", **gen_slots)
    gr.Button(visible=False).click(list_adapters, api_owner, api_out, api_name="list_adapters")
    return {"refresh": _refresh, "adapters": adapters, "inside_pick": inside_pick, "base": base}

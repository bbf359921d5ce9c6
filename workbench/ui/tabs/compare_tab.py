"""Compare tab: base vs adapters side by side (one base model in memory), token view, held-out
evaluation, a look inside the adapter, and export."""
from __future__ import annotations

import gradio as gr

from ..error_text import tr, translate
from ..handlers import compare as H
from ..handlers import train as TH
from ..text import t
from ..zerogpu import gpu

def build(owner: gr.BrowserState):
    gr.Markdown(t("help.compare"))
    with gr.Row():
        base = gr.Textbox(value="smollm2-135m-instruct", label=t("Base model"), scale=2, elem_id="compare-model")
        adapters = gr.Dropdown([], multiselect=True, label=t("Adapters to compare (up to 3)"),
                               scale=4, elem_id="compare-adapters")
        refresh = gr.Button(t("Refresh list"), size="sm", scale=1)
    with gr.Accordion(t("Upload an adapter (zip, or adapter_config.json + adapter_model.safetensors)"), open=False):
        up = gr.File(file_count="multiple", file_types=[".zip", ".json", ".safetensors"], label=t("adapter files"))
        up_md = gr.Markdown()
    with gr.Row():
        dataset = gr.Dropdown(TH.dataset_choices(), value="json-format", label=t("Held-out prompts from"), scale=1)
        preset = gr.Dropdown(H.heldout_prompts("json-format"), label=t("Pick a held-out prompt"), scale=3,
                             allow_custom_value=True)
    prompt = gr.Textbox(lines=3, label=t("Prompt"), elem_id="compare-prompt")
    with gr.Accordion(t("Decoding"), open=False):
        with gr.Row():
            max_new = gr.Slider(1, 256, value=64, step=1, label=t("max new tokens"))
            sample = gr.Checkbox(False, label=t("sample (off = greedy)"))
            temp = gr.Slider(0.05, 2.0, value=0.7, label=t("temperature"))
            top_p = gr.Slider(0.05, 1.0, value=0.9, label="top-p")
            rep = gr.Slider(1.0, 2.0, value=1.0, label=t("repetition penalty"))
            seed = gr.Number(0, precision=0, label=t("seed"))
            chat = gr.Checkbox(True, label=t("chat template"))
    go = gr.Button(t("Generate side by side"), variant="primary", elem_id="compare-go")
    with gr.Row():
        outs = [gr.Textbox(label=t("BASE · ⚪ adapter OFF"), lines=6, elem_id="out-base", buttons=["copy"])]
        for i in range(H.MAX_ADAPTERS):
            outs.append(gr.Textbox(label=f"adapter {i + 1}", lines=6, visible=False, elem_id=f"out-adapter-{i + 1}",
                                   buttons=["copy"]))
    with gr.Accordion(t("Token view: what did the adapter change?"), open=False):
        gr.Markdown(t("Each token of the first adapter's answer, coloured by how much more (green) or less (red) "
                      "likely the adapter made it than the base model, given the same text so far."))
        tok_btn = gr.Button(t("Explain the first adapter's answer"), size="sm")
        tok_view = gr.HighlightedText(show_legend=False, color_map=None, elem_id="token-view")
    with gr.Accordion(t("All held-out prompts at once"), open=False):
        n_presets = gr.Slider(1, 50, value=8, step=1, label=t("how many"))
        presets_btn = gr.Button(t("Run all"), size="sm")
        presets_df = gr.Dataframe(interactive=False, wrap=True)
    with gr.Accordion(t("Held-out evaluation"), open=False):
        with gr.Row():
            eval_limit = gr.Slider(1, 100, value=20, step=1, label=t("examples"))
            eval_btn = gr.Button(t("Evaluate base vs adapters"), size="sm")
        with gr.Row():
            eval_df = gr.Dataframe(interactive=False)
            eval_fig = gr.Plot()
    with gr.Accordion(t("Inside the adapter"), open=False):
        inside_pick = gr.Dropdown([], label=t("Adapter"))
        inside_btn = gr.Button(t("Analyse"), size="sm")
        inside_md = gr.Markdown()
        with gr.Row():
            heat = gr.Plot()
            spec = gr.Plot()
    with gr.Accordion(t("Export"), open=False):
        with gr.Row():
            zip_btn = gr.Button(t("Download adapter (.zip)"), size="sm")
            zip_file = gr.File(label=t("adapter zip"))
        merge_btn = gr.Button(t("Merge into the base and save a full checkpoint"), size="sm")
        merge_md = gr.Markdown()
        with gr.Row():
            repo = gr.Textbox(label=t("Hub repo id (user/name)"))
            token = gr.Textbox(label=t("HF token (never stored or shown)"), type="password")
            push_btn = gr.Button(t("Push adapter to the Hub"), size="sm")
        push_md = gr.Markdown()

    def _refresh(own):
        ch = H.adapter_choices(own)
        return gr.update(choices=ch), gr.update(choices=ch)

    def _labels(selected):
        ups = []
        for i in range(H.MAX_ADAPTERS):
            if i < len(selected or []):
                try:
                    badge = H.adapter_badge(selected[i])
                except Exception as e:  # unreadable adapter: say so in its column (in the page's language)
                    badge = tr("⚠️ {error}", error=translate(str(e)))
                ups.append(gr.update(visible=True, label=f"{badge} · {H._short(selected[i])}", value=""))
            else:
                ups.append(gr.update(visible=False, value=""))
        return ups

    def _upload(files, own):
        d = H.upload_adapter(files, own)
        ch = H.adapter_choices(own)
        return tr("Imported `{path}`.", path=d), gr.update(choices=ch), gr.update(choices=ch)

    refresh.click(_refresh, owner, [adapters, inside_pick], api_name=False)
    adapters.change(_labels, adapters, outs[1:], api_name=False)
    up.upload(_upload, [up, owner], [up_md, adapters, inside_pick], api_name=False)
    dataset.change(lambda d: gr.update(choices=H.heldout_prompts(d), value=None), dataset, preset, api_name=False)
    preset.input(lambda p: p, preset, prompt, api_name=False)
    gen_inputs = [base, adapters, prompt, owner, max_new, sample, temp, top_p, rep, seed, chat]

    def _stream(*args):
        n = len(args[1] or [])
        for texts in H.compare_stream(*args):
            yield texts + [gr.update()] * (H.MAX_ADAPTERS - n)
    go.click(gpu(_stream), gen_inputs, outs, api_name=False)
    tok_btn.click(gpu(lambda m, a, p, own, r, c: H.token_view(m, (a or [None])[0], p, r, own, c)),
                  [base, adapters, prompt, owner, outs[1], chat], tok_view, api_name=False)
    presets_btn.click(gpu(H.run_presets), [base, adapters, dataset, owner, n_presets], presets_df, api_name=False)
    eval_btn.click(gpu(H.evaluate_view), [base, adapters, dataset, owner, eval_limit], [eval_df, eval_fig], api_name=False)
    inside_btn.click(H.analysis_view, [base, inside_pick, owner], [heat, spec, inside_md], api_name=False)
    zip_btn.click(H.export_zip, [inside_pick, owner], zip_file, api_name=False)
    merge_btn.click(H.export_merged, [base, inside_pick, owner], merge_md, api_name=False)
    push_btn.click(H.push, [inside_pick, repo, token, owner], push_md, api_name=False)

    # API endpoints with explicit owner (gradio_client / scripts).
    api_owner, api_adapters = gr.Textbox(visible=False), gr.JSON(visible=False)
    api_out = gr.JSON(visible=False)
    gr.Button(visible=False).click(
        gpu(lambda m, a, p, own, n: H.compare(m, a or [], p, own, max_new_tokens=n)),
        [base, api_adapters, prompt, api_owner, max_new], api_out, api_name="compare")
    gr.Button(visible=False).click(lambda own: H.adapter_choices(own), api_owner, api_out, api_name="list_adapters")
    return {"refresh": _refresh, "adapters": adapters, "inside_pick": inside_pick}

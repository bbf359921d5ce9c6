"""Compare tab handlers: base vs adapters side by side on ONE base model, token view, held-out
evaluation, adapter analysis and export."""
from __future__ import annotations

import html
import os
import re
import tempfile
from pathlib import Path

import pandas as pd

from ... import plots
from ...core import analysis as AN
from ...core import data as D
from ...core import evaluate as EV
from ...core import export as EX
from ...core import generate as G
from ...core import runs as R
from ...errors import WorkbenchError
from ...settings import DataSpec
from ..display_text import chart_tr, localize_columns
from ..error_text import tr, word
from .common import in_page_language, user_errors, user_errors_gen
from .train import my_runs, uploads_dir

MAX_ADAPTERS = 3


# --------------------------------------------------------------------------- adapter choices

@in_page_language
def adapter_choices(owner: str) -> list[tuple[str, str]]:
    """(label, adapter dir) for this session's runs that have an adapter, plus its uploaded adapters."""
    out = []
    for info in my_runs(owner):
        d = R.safe_run_dir(info.run_id) / "adapter"
        if (d / "adapter_config.json").is_file():
            out.append((f"{info.name or info.run_id} · {info.method} · {word(info.status)} ({info.run_id})", str(d)))
    up = uploads_dir(owner) / "adapters"
    if up.is_dir():
        for d in sorted(up.iterdir()):
            if (d / "adapter_config.json").is_file():
                out.append((tr("uploaded · {name}", name=d.name), str(d)))
    return out


def _allowed(adapter_dir: str, owner: str) -> str:
    """Only adapters this session may use (its runs, its uploads); refuses anything else."""
    allowed = {d for _l, d in adapter_choices(owner)}
    if adapter_dir not in allowed:
        raise WorkbenchError(f"Adapter {adapter_dir!r} is not one of this session's runs or uploads.")
    return adapter_dir


def _check_adapters(adapters: list[str] | None, owner: str) -> list[str]:
    adapters = [a for a in (adapters or []) if a]
    if len(adapters) > MAX_ADAPTERS:
        raise WorkbenchError(f"Pick at most {MAX_ADAPTERS} adapters to compare at once.")
    return [_allowed(a, owner) for a in adapters]


@user_errors
def upload_adapter(files, owner: str) -> str:
    """Import an uploaded adapter (zip, or adapter_config.json + adapter_model.safetensors) -> its folder."""
    if not files:
        raise WorkbenchError("No file was uploaded.")
    paths = files if isinstance(files, list) else [files]
    dest = uploads_dir(owner) / "adapters"
    dest.mkdir(parents=True, exist_ok=True)
    return EX.import_adapter([str(p) for p in paths], dest)


@in_page_language
def adapter_badge(adapter_dir: str) -> str:
    """'ADAPTER ON · lora · 460,800 params' from the adapter's files and its run status."""
    info = EX.read_adapter(adapter_dir)
    label = info.peft_type.lower()
    if info.config.get("use_dora"):
        label = "dora"
    params = ""
    st_path = Path(adapter_dir).parent / "status.json"
    if st_path.is_file():
        import json
        st = json.loads(st_path.read_text())
        if st.get("trainable_params"):
            params = tr(" · {n:,} trainable params", n=int(st["trainable_params"]))
        if st.get("method") == "qlora":
            label = "qlora"
    if not params:
        from safetensors import safe_open
        with safe_open(str(Path(adapter_dir) / info.weights_file), "pt") as fh:
            n = sum(int(_numel(fh.get_slice(k).get_shape())) for k in fh.keys())
        params = tr(" · {n:,} params", n=n)
    return tr("🟢 ADAPTER ON · {method}{params}", method=label, params=params)


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _short(adapter_dir: str) -> str:
    p = Path(adapter_dir)
    return p.parent.name if p.name == "adapter" else p.name


# --------------------------------------------------------------------------- generation

def settings_from(max_new_tokens, do_sample, temperature, top_p, repetition_penalty, seed, use_chat_template):
    return G.GenSettings(max_new_tokens=int(max_new_tokens), do_sample=bool(do_sample), temperature=float(temperature),
                         top_p=float(top_p), repetition_penalty=float(repetition_penalty), seed=int(seed),
                         use_chat_template=bool(use_chat_template))


@user_errors_gen
def compare_stream(model_name: str, adapters: list[str], prompt: str, owner: str, max_new_tokens=64, do_sample=False,
                   temperature=0.7, top_p=0.9, repetition_penalty=1.0, seed=0, use_chat_template=True):
    """Yield [base text, adapter 1 text, ...] as tokens arrive (same prompt and settings for every column)."""
    if not (prompt or "").strip():
        raise WorkbenchError("Type a prompt (or pick a held-out example) first.")
    adapters = _check_adapters(adapters, owner)
    settings = settings_from(max_new_tokens, do_sample, temperature, top_p, repetition_penalty, seed, use_chat_template)
    vm = G.get_variants(model_name, adapters, user=owner)
    texts = [""] * (1 + len(adapters))
    for i, variant in enumerate([G.BASE] + adapters):
        for partial in G.stream(vm, prompt, variant, settings):
            texts[i] = partial
            yield list(texts)
    yield list(texts)


@user_errors
def compare(model_name: str, adapters: list[str], prompt: str, owner: str, max_new_tokens=64, do_sample=False,
            temperature=0.7, top_p=0.9, repetition_penalty=1.0, seed=0, use_chat_template=True) -> list[dict]:
    """Non-streaming compare for the API: [{variant, text, tokens}, ...]."""
    if not (prompt or "").strip():
        raise WorkbenchError("Type a prompt (or pick a held-out example) first.")
    adapters = _check_adapters(adapters, owner)
    settings = settings_from(max_new_tokens, do_sample, temperature, top_p, repetition_penalty, seed, use_chat_template)
    vm = G.get_variants(model_name, adapters, user=owner)
    return [{"variant": v if v == G.BASE else _short(v), "text": r.text, "tokens": r.tokens}
            for v in [G.BASE] + adapters for r in [G.generate(vm, prompt, v, settings)]]


@user_errors
def token_view(model_name: str, adapter: str, prompt: str, response: str, owner: str, use_chat_template=True):
    """(token, score in [-1, 1]) pairs for gr.HighlightedText: how much more likely the adapter made each token."""
    if not adapter:
        raise WorkbenchError("Generate with at least one adapter first.")
    if not (response or "").strip():
        raise WorkbenchError("No adapted answer to explain yet.")
    _allowed(adapter, owner)
    vm = G.get_variants(model_name, _check_adapters([adapter], owner), user=owner)
    pairs = G.token_logprob_diff(vm, prompt, response, adapter, G.GenSettings(use_chat_template=bool(use_chat_template)))
    # scale: a log-prob gain of 5 nats (x150 likelier) saturates the colour
    return [(tok, max(-1.0, min(1.0, d / 5.0))) for tok, d in pairs]


def heldout_prompts(dataset: str, n: int = 20) -> list[str]:
    """The first held-out prompts of a shipped dataset (for the preset list)."""
    try:
        exs = D.load_examples(DataSpec(name=dataset), "test")[:n]
    except WorkbenchError:
        return []
    return [e.prompt for e in exs if e.prompt]


@user_errors
def run_presets(model_name: str, adapters: list[str], dataset: str, owner: str, limit: float = 8) -> pd.DataFrame:
    """Greedy answers of base and each adapter on the first held-out prompts, as one table (its prompt, reference
    and base headers in the page's language; the adapters' columns keep their names)."""
    adapters = _check_adapters(adapters, owner)
    exs = D.load_examples(DataSpec(name=dataset), "test")[:int(limit)]
    vm = G.get_variants(model_name, adapters, user=owner)
    settings = G.GenSettings(max_new_tokens=64)
    rows = []
    for ex in exs:
        row = {"prompt": ex.prompt, "reference": EV.reference(ex)}
        for v in [G.BASE] + adapters:
            row[v if v == G.BASE else _short(v)] = G.generate(vm, ex.prompt, v, settings).text
        rows.append(row)
    return localize_columns(pd.DataFrame(rows), first=3)


# --------------------------------------------------------------------------- evaluation

@user_errors
def evaluate_view(model_name: str, adapters: list[str], dataset: str, owner: str, limit: float = 20, progress=None):
    """-> (table, bar chart) of the dataset metric and perplexity, base vs each adapter, worded in the page's
    language."""
    adapters = _check_adapters(adapters, owner)
    rows = EV.evaluate(model_name, adapters, dataset, limit=int(limit) if limit else None, progress=progress,
                       user=owner)
    shown = chart_tr()
    for r in rows:
        r.variant = shown(G.BASE) if r.variant == G.BASE else _short(r.variant)
    df = pd.DataFrame([{"variant": r.variant, "metric": r.metric, "score": round(r.score, 4),
                        "perplexity": round(r.perplexity, 3), "n": r.n} for r in rows])
    return localize_columns(df), plots.eval_chart(rows, tr=shown)


# --------------------------------------------------------------------------- inside the adapter

@user_errors
def analysis_view(model_name: str, adapter: str, owner: str):
    """-> (heatmap, spectrum, markdown) for LoRA; (None, None, neighbours table markdown) for prompt methods."""
    if not adapter:
        raise WorkbenchError("Pick an adapter to look inside.")
    _allowed(adapter, owner)
    info = EX.read_adapter(adapter)
    if info.is_lora:
        stats = AN.lora_update_stats(adapter)
        r = info.config.get("r")
        mean_eff = sum(s.effective_rank for s in stats) / max(len(stats), 1)
        md = tr("**{n} updates** (rank r = {r}). The heatmap shows how big each learned change ΔW = B·A·(α/r) is; the "
                "spectrum shows how many directions it really uses. Mean effective rank **{mean:.2f}** of at most {r}: "
                "a low value means the task needed fewer directions than r allows.", n=len(stats), r=r, mean=mean_eff)
        shown = chart_tr()
        return (plots.update_heatmap(stats, tr=shown),
                plots.spectrum_chart(sorted(stats, key=lambda s: -s.norm), tr=shown), md)
    if info.is_prompt_learning:
        rows = AN.virtual_token_neighbours(adapter, model_name, k=5)
        lines = [f"| {tr('virtual token')} | {tr('nearest vocabulary tokens (cosine)')} |", "|---|---|"]
        for idx, nbrs in rows:
            lines.append(f"| {idx} | " + ", ".join(f"`{html.escape(t)}` {c:.2f}" for t, c in nbrs) + " |")
        md = (tr("Each learned virtual token is a vector in the embedding space. Its nearest real tokens hint at what "
                 "it 'means' (often little: learned prompts need not look like words).") + "\n\n" + "\n".join(lines))
        return None, None, md
    return None, None, tr("No weight view for {method} adapters yet: they scale activations per layer.",
                          method=info.peft_type)


# --------------------------------------------------------------------------- export

@user_errors
def export_zip(adapter: str, owner: str) -> str:
    _allowed(adapter, owner)
    out = Path(tempfile.mkdtemp(prefix="adapter-")) / f"{_short(adapter)}-adapter.zip"
    return EX.zip_adapter(adapter, str(out))


@user_errors
def export_merged(model_name: str, adapter: str, owner: str, progress=None) -> str:
    _allowed(adapter, owner)
    out = Path(adapter).parent / "merged"
    EX.merge_and_save(model_name, adapter, str(out), progress=progress)
    return tr("Merged model saved to `{path}` (safetensors + tokenizer); it loads with plain `AutoModelForCausalLM`.",
              path=out)


@user_errors
def push(adapter: str, repo_id: str, token: str, owner: str) -> str:
    _allowed(adapter, owner)
    token = (token or "").strip() or os.environ.get("HF_TOKEN")
    if not token:
        raise WorkbenchError("A Hugging Face token is needed to push (paste one, or set HF_TOKEN on the server).")
    url = EX.push_to_hub(adapter, (repo_id or "").strip(), token)
    return tr("Pushed to {url}", url=url)


def safe_label(text: str) -> str:
    return re.sub(r"[^\w .·()-]", "", text)

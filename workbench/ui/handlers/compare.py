"""Compare tab handlers: base vs adapters side by side on ONE base model, token view, held-out
evaluation, adapter analysis and export."""
from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path

import pandas as pd
from gradio import OAuthProfile, OAuthToken

from workbench import plots
from workbench.core.evaluation import adapter_analysis as analysis
from workbench.core.data import datasets as data
from workbench.core.evaluation import heldout as evaluate
from workbench.core.export import sharing as export
from workbench.core.model import adapter_files
from workbench.core.generation import variants as generate
from workbench.core.generation.answers import GenSettings, token_logprob_diff
from workbench.core.generation.requests import Request
from workbench.core.runstore import run_dirs as runs
from workbench.core.generation import columns, scheduler
from workbench.core.env import env_int
from workbench.core.serving.workspace import MAX_ADAPTERS, Workspace  # noqa: F401 (MAX_ADAPTERS: the tab's columns)
from workbench.errors import WorkbenchError
from workbench.spec.settings import DataSpec
from workbench.ui.language import localize_columns, page_translator, tr, word
from workbench.ui.handlers.common import in_page_language, user_errors, user_errors_gen

def _checked(owner: str, model_name: str, adapters: list[str] | None, dataset: str | None = None) -> list[str]:
    """The owner's workspace checks for one generation / evaluation request; returns the checked adapters."""
    ws = Workspace(owner)
    ws.check_model_name(model_name)
    if dataset is not None:
        ws.check_data_source(dataset)
    return ws.check_adapters(adapters)


# --------------------------------------------------------------------------- adapter choices

@in_page_language
def adapter_choices(owner: str) -> list[tuple[str, str]]:
    """(label, adapter dir) for this session's runs that have an adapter, plus its uploaded adapters."""
    return [(tr("ui.uploaded_adapter", name=a.name) if a.uploaded
             else f"{a.name} · {a.method} · {word(a.status)} ({a.run_id})", a.path)
            for a in Workspace(owner).adapters()]


@user_errors
def upload_adapter(files, owner: str) -> str:
    """Import an uploaded adapter (zip, or adapter_config.json + adapter_model.safetensors) -> its folder."""
    if not files:
        raise WorkbenchError("ui.no_file")
    paths = files if isinstance(files, list) else [files]
    dest = Workspace(owner).adapter_uploads_dir
    dest.mkdir(parents=True, exist_ok=True)
    return export.import_adapter([str(p) for p in paths], dest)


@in_page_language
def adapter_badge(adapter_dir: str, owner: str) -> str:
    """'ADAPTER ON · lora · 460,800 trainable params' for one of the owner's adapters (core reads the files)."""
    summary = runs.adapter_summary(Workspace(owner).check_adapter(adapter_dir))
    params = tr("ui.trainable_params" if summary.from_run else "ui.params", n=summary.params)
    return tr("ui.adapter_on", method=summary.method, params=params)


@in_page_language
def adapter_info(adapter_dir: str, owner: str) -> str:
    """One line under an adapter's column: the run's held-out score, its forgetting (with what that means) and the
    adapter's size, e.g. 'held-out json_match 0.62 · forgetting +0.041 (...) · 1.84 MB'."""
    s = runs.adapter_summary(Workspace(owner).check_adapter(adapter_dir))
    parts = []
    if s.score is not None:
        parts.append(tr("ui.adapter_score", metric=s.metric or "", score=s.score))
    if s.forgetting is not None:
        parts.append(tr("ui.adapter_forgetting", value=s.forgetting))
    if s.adapter_mb is not None:
        parts.append(tr("ui.adapter_size", mb=s.adapter_mb))
    return " · ".join(parts)


def _short(adapter_dir: str) -> str:
    p = Path(adapter_dir)
    return p.parent.name if p.name == "adapter" else p.name


# --------------------------------------------------------------------------- generation

def settings_from(max_new_tokens, do_sample, temperature, top_p, repetition_penalty, seed, use_chat_template):
    return GenSettings(max_new_tokens=int(max_new_tokens), do_sample=bool(do_sample),
                       temperature=float(temperature), top_p=float(top_p),
                       repetition_penalty=float(repetition_penalty), seed=int(seed),
                       use_chat_template=bool(use_chat_template))


@user_errors_gen
def compare_stream(model_name: str, adapters: list[str], prompt: str, owner: str, max_new_tokens=64, do_sample=False,
                   temperature=0.7, top_p=0.9, repetition_penalty=1.0, seed=0, use_chat_template=True):
    """Yield [base text, adapter 1 text, ...] as tokens arrive (same prompt and settings for every column)."""
    if not (prompt or "").strip():
        raise WorkbenchError("compare.no_prompt")
    adapters = _checked(owner, model_name, adapters=adapters)
    settings = settings_from(max_new_tokens, do_sample, temperature, top_p, repetition_penalty, seed, use_chat_template)
    # every column in one batched generation, each streaming
    vm = generate.get_variants(model_name, adapters, user=owner)
    texts = [""] * (1 + len(adapters))
    for texts in columns.stream_columns(vm, prompt, [generate.BASE] + adapters, settings, owner=owner):
        yield texts
    yield list(texts)


@user_errors
def compare(model_name: str, adapters: list[str], prompt: str, owner: str, max_new_tokens=64, do_sample=False,
            temperature=0.7, top_p=0.9, repetition_penalty=1.0, seed=0, use_chat_template=True) -> list[dict]:
    """Non-streaming compare for the API: [{variant, text, tokens}, ...]."""
    if not (prompt or "").strip():
        raise WorkbenchError("compare.no_prompt")
    adapters = _checked(owner, model_name, adapters=adapters)
    settings = settings_from(max_new_tokens, do_sample, temperature, top_p, repetition_penalty, seed, use_chat_template)
    vm = generate.get_variants(model_name, adapters, user=owner)
    results = columns.generate_columns(vm, prompt, [generate.BASE] + adapters, settings, owner=owner)
    return [{"variant": r.variant if r.variant == generate.BASE else _short(r.variant), "text": r.text,
             "tokens": r.tokens} for r in results]


@user_errors
def token_view(model_name: str, adapter: str, prompt: str, response: str, owner: str, use_chat_template=True):
    """(token, score in [-1, 1]) pairs for gr.HighlightedText: how much more likely the adapter made each token."""
    if not adapter:
        raise WorkbenchError("ui.generate_first")
    if not (response or "").strip():
        raise WorkbenchError("ui.nothing_to_explain")
    adapters = _checked(owner, model_name, adapters=[adapter])
    vm = generate.get_variants(model_name, adapters, user=owner)
    pairs = token_logprob_diff(vm, prompt, response, adapter, GenSettings(use_chat_template=bool(use_chat_template)))
    # scale: a log-prob gain of 5 nats (x150 likelier) saturates the colour
    return [(tok, max(-1.0, min(1.0, d / 5.0))) for tok, d in pairs]


def heldout_prompts(dataset: str, n: int = 20) -> list[str]:
    """The first held-out prompts of a shipped dataset (for the preset list)."""
    if dataset not in {d.name for d in data.list_datasets()}:
        return []
    try:
        exs = data.load_examples(DataSpec(name=dataset), "test")[:n]
    except WorkbenchError:
        return []
    return [e.prompt for e in exs if e.prompt]


@user_errors
def run_presets(model_name: str, adapters: list[str], dataset: str, owner: str, limit: float = 8) -> pd.DataFrame:
    """Greedy answers of base and each adapter on the first held-out prompts, as one table (its prompt, reference
    and base headers in the page's language; the adapters' columns keep their names)."""
    adapters = _checked(owner, model_name, adapters=adapters, dataset=dataset)
    exs = data.load_examples(DataSpec(name=dataset), "test")[:int(limit)]
    from workbench.core.generation import scheduler
    vm = generate.get_variants(model_name, adapters, user=owner)
    settings = GenSettings(max_new_tokens=64)
    variants = [generate.BASE] + adapters
    answers = scheduler.generate_many(vm, [Request(v, settings, prompt=ex.prompt, owner=owner)
                                           for ex in exs for v in variants])  # all prompts and variants batched
    rows = []
    for i, ex in enumerate(exs):
        row = {"prompt": ex.prompt, "reference": evaluate.reference(ex)}
        for j, v in enumerate(variants):
            row[v if v == generate.BASE else _short(v)] = answers[i * len(variants) + j].text
        rows.append(row)
    return localize_columns(pd.DataFrame(rows), first=3)


# --------------------------------------------------------------------------- evaluation

@user_errors
def evaluate_view(model_name: str, adapters: list[str], dataset: str, owner: str, limit: float = 20, progress=None):
    """-> (table, bar chart) of the dataset metric and perplexity, base vs each adapter, worded in the page's
    language."""
    adapters = _checked(owner, model_name, adapters=adapters, dataset=dataset)
    rows = evaluate.evaluate(model_name, adapters, dataset, limit=int(limit) if limit else None, progress=progress,
                             user=owner)
    shown = page_translator()
    for r in rows:
        r.variant = shown("charts.base") if r.variant == generate.BASE else _short(r.variant)
    df = pd.DataFrame([{"variant": r.variant, "metric": r.metric, "score": round(r.score, 4),
                        "perplexity": round(r.perplexity, 3), "n": r.n} for r in rows])
    return localize_columns(df), plots.eval_chart(rows, tr=shown)


# --------------------------------------------------------------------------- inside the adapter

@user_errors
def analysis_view(model_name: str, adapter: str, owner: str):
    """-> (heatmap, spectrum, markdown) for LoRA; (None, None, neighbours table markdown) for prompt methods."""
    if not adapter:
        raise WorkbenchError("ui.pick_adapter")
    ws = Workspace(owner)
    ws.check_model_name(model_name)
    ws.check_adapter(adapter)
    info = adapter_files.read_adapter(adapter)
    if info.is_lora:
        stats = analysis.lora_update_stats(adapter)
        r = info.config.get("r")
        mean_eff = sum(s.effective_rank for s in stats) / max(len(stats), 1)
        md = tr("ui.updates_summary", n=len(stats), r=r, mean=mean_eff)
        shown = page_translator()
        return (plots.update_heatmap(stats, tr=shown),
                plots.spectrum_chart(sorted(stats, key=lambda s: -s.norm), tr=shown), md)
    if info.is_prompt_learning:
        rows = analysis.virtual_token_neighbours(adapter, model_name, k=5)
        lines = [f"| {tr('ui.virtual_token')} | {tr('ui.nearest_tokens')} |", "|---|---|"]
        for idx, nbrs in rows:
            lines.append(f"| {idx} | " + ", ".join(f"`{html.escape(t)}` {c:.2f}" for t, c in nbrs) + " |")
        md = (tr("ui.virtual_tokens_note") + "\n\n" + "\n".join(lines))
        return None, None, md
    return None, None, tr("ui.no_weight_view",
                          method=info.peft_type)


# --------------------------------------------------------------------------- export

@user_errors
def export_zip(adapter: str, owner: str) -> str:
    Workspace(owner).check_adapter(adapter)
    out = Path(tempfile.mkdtemp(prefix="adapter-")) / f"{_short(adapter)}-adapter.zip"
    return export.zip_adapter(adapter, str(out))


@user_errors
def export_merged(model_name: str, adapter: str, owner: str, progress=None) -> str:
    ws = Workspace(owner)
    ws.check_model_name(model_name)
    ws.check_adapter(adapter)
    out = Path(adapter).parent / "merged"
    export.merge_and_save(model_name, adapter, str(out), progress=progress)
    return tr("ui.merged_saved",
              path=out)


def oauth_available() -> bool:
    """True on a Space with ``hf_oauth: true`` (the Space sets SYSTEM=spaces, SPACE_ID and OAUTH_CLIENT_ID): only
    then a sign-in button is shown. Elsewhere Gradio would mock the login with the machine's own token (and fail
    to start offline), which a web page must not use."""
    return bool(os.environ.get("SYSTEM") == "spaces" and os.environ.get("SPACE_ID")
                and os.environ.get("OAUTH_CLIENT_ID"))


def hub_offline() -> bool:
    """True when the server may not reach the Hub (HF_HUB_OFFLINE=1): no sign-in, no push."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _user_repo(repo_id: str, user: str, adapter: str) -> tuple[str, str | None]:
    """(repo id in ``user``'s namespace, a note if the one asked for was elsewhere or missing a namespace)."""
    asked = (repo_id or "").strip().strip("/")
    name = asked.rsplit("/", 1)[-1] or f"peft-workbench-{_short(adapter)}"
    fixed = f"{user}/{name}"
    note = None
    if "/" in asked and asked.split("/", 1)[0] != user:
        note = tr("classroom.push_namespace", repo=asked, user=user, fixed=fixed)
    return fixed, note


@user_errors
def push(adapter: str, repo_id: str, token: str, owner: str,
         profile: OAuthProfile | None = None, oauth_token: OAuthToken | None = None) -> str:
    """Push an adapter to the Hub. Signed in (a Space with hf_oauth): into the learner's own namespace with their
    OAuth token. Otherwise a pasted token; the server's HF_TOKEN only on a local (not public) server. The token
    is passed to huggingface_hub and nowhere else: never returned, logged or written (errors are scrubbed)."""
    ws = Workspace(owner)
    ws.check_adapter(adapter)
    note = None
    if oauth_token is not None and profile is not None and getattr(oauth_token, "token", None):
        repo_id, note = _user_repo(repo_id, profile.username, adapter)
        secret = oauth_token.token
    else:
        secret = (token or "").strip() or (None if ws.public else os.environ.get("HF_TOKEN"))
        if not secret and oauth_available():
            raise WorkbenchError("classroom.push_sign_in")
        if not secret:
            raise WorkbenchError("ui.push_needs_token")
    url = export.push_to_hub(adapter, (repo_id or "").strip(), secret)
    done = tr("ui.pushed", url=url)
    return f"{note}\n\n{done}" if note else done


def generation_slots() -> int:
    """How many generation calls (Compare button, /compare) may run at once (``scheduler.generation_slots``)."""
    return scheduler.generation_slots(default_concurrency())


def default_concurrency() -> int:
    """Gradio's concurrency limit for the app's events (env WORKBENCH_CONCURRENCY, default 4)."""
    return env_int("WORKBENCH_CONCURRENCY", 4, lo=1)

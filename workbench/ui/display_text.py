"""Words the server puts in tables and figures, and the descriptions of shipped presets, in the page's language.

Nothing here matches English text: every word is a catalogue message (``workbench.messages``) looked up by an
id the code names.

``localize_columns(df, lang)``: a table's column headers in the page's language. Handlers build and read their
frames with column keys (COLUMN_IDS: key -> ``ui.column.*`` message); they rename them only as the last step
before Gradio shows them.

``target_set_label(label, tr)``: a rank-explorer target set (its key is the English label the page's check
boxes send) or a reference line, as shown in a figure.

``describe_model(ref, lang)`` / ``describe_dataset(info, lang)`` / ``task_name(task, lang)``: a preset's or shipped
dataset's description (presets/*.yaml keep ``description`` and ``description_zh`` side by side), a model that is
not a preset (built from its kind and path), a dataset's task.
"""
from __future__ import annotations

from ..messages import CATALOGUE, Message, text
from .text import current_language, normalize_language

TARGET_SET_IDS = {
    "PEFT default": "charts.set.peft_default",
    "attention (q,k,v,o)": "charts.set.attention",
    "MLP only": "charts.set.mlp",
    "your pick": "charts.set.custom",
    "all-linear": "charts.set.all_linear",
}
"""Target-set keys of the rank explorer (the values its check boxes send) -> their labels in figures/tables."""

COLUMN_IDS = {
    "name": "ui.column.name", "type": "ui.column.type", "in_features": "ui.column.in_features",
    "out_features": "ui.column.out_features", "shape": "ui.column.shape", "params": "ui.column.params",
    "dtype": "ui.column.dtype", "trainable": "ui.column.trainable", "leaf": "ui.column.leaf",
    "params each": "ui.column.params_each", "params total": "ui.column.params_total",
    "matched module": "ui.column.matched_module", "target set": "ui.column.target_set", "method": "ui.column.method",
    "rank": "ui.column.rank", "% of model": "ui.column.percent_of_model", "layers": "ui.column.layers",
    "adapter fp32": "ui.column.adapter_fp32", "adapter bf16": "ui.column.adapter_bf16", "setup": "ui.column.setup",
    "weights": "ui.column.weights", "gradients": "ui.column.gradients", "optimizer": "ui.column.optimizer",
    "activations": "ui.column.activations", "logits + loss": "ui.column.logits", "baseline": "ui.column.baseline",
    "total (estimate)": "ui.column.total_estimate", "run": "ui.column.run", "status": "ui.column.status",
    "model": "ui.column.model", "dataset": "ui.column.dataset", "step": "ui.column.step",
    "train loss": "ui.column.train_loss", "held-out loss": "ui.column.held_out_loss",
    "held-out score": "ui.column.held_out_score", "variant": "ui.column.variant",
    "metric": "ui.column.metric", "score": "ui.column.score", "perplexity": "ui.column.perplexity",
    "n": "ui.column.n", "prompt": "ui.column.prompt", "reference": "ui.column.reference", "base": "ui.column.base",
}
"""Column key of a frame the handlers build -> its header message."""

MODULE_COLUMN_IDS = {"trainable": "ui.column.trainable_flag"}
"""Headers the module table words differently: there 'trainable' is a yes/no per module, not a count."""


def _lang(lang: str | None) -> str:
    return (normalize_language(lang) or "en") if lang else current_language()


def target_set_label(label: str, tr) -> str:
    """A target set's label (a TARGET_SET_IDS key) in ``tr``'s language; other labels are shown as they are."""
    return tr(TARGET_SET_IDS[label]) if label in TARGET_SET_IDS else label


def localize_columns(df, lang: str | None = None, overrides: dict[str, str] | None = None, first: int | None = None):
    """``df`` with its column headers in ``lang``: the same frame in English, a renamed copy in Chinese.

    ``overrides``: column key -> message id, over COLUMN_IDS. ``first``: only the first ``first`` headers (the
    others are names, e.g. adapters, shown as they are).
    """
    lang = _lang(lang)
    if lang != "zh-CN":
        return df
    ids = {**COLUMN_IDS, **(overrides or {})}
    n = len(df.columns) if first is None else first
    out = df.copy(deep=False)
    out.columns = [text(ids[c], lang) if i < n and isinstance(c, str) and c in ids else c
                   for i, c in enumerate(df.columns)]
    return out


_MODEL_KIND_IDS = {"config": "models.describe_arch_from", "local": "models.describe_local",
                   "hub": "models.describe_hub"}


def describe_model(ref, lang: str | None = None) -> str:
    """A ModelRef's description in ``lang``: a preset's ``description`` / ``description_zh``; a model that is not
    a preset described from its kind and path."""
    from ..core.models import presets
    lang = _lang(lang)
    if ref.name not in presets() and ref.kind in _MODEL_KIND_IDS:
        return text(_MODEL_KIND_IDS[ref.kind], lang, path=ref.path, name=ref.name)
    if lang == "zh-CN" and getattr(ref, "description_zh", ""):
        return ref.description_zh
    return ref.description


def describe_dataset(info, lang: str | None = None) -> str:
    """A shipped dataset's description (meta.yaml ``description`` / ``description_zh``) in ``lang``."""
    if _lang(lang) == "zh-CN" and getattr(info, "description_zh", ""):
        return info.description_zh
    return info.description


def task_name(task: str, lang: str | None = None) -> str:
    """A dataset's task (meta.yaml ``task``: rewriting, extraction, classification) in ``lang``; unknown: as is."""
    key = f"ui.task.{task}"
    return Message(key).render(_lang(lang)) if key in CATALOGUE else task

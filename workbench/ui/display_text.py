"""Words the server puts in figures and tables, and the descriptions of shipped presets, in the page's language.

``chart_tr(lang)``: the translator the figure builders in workbench.plots take (``tr=``): English -> the text
itself; Chinese -> CHART_ZH (plots' titles, axis titles, trace names, hover templates, the handlers' target-set
and reference labels), else a pattern of CHART_PATTERNS_ZH, else the text unchanged.

``localize_columns(df, lang)``: a table's column headers in the page's language (COLUMNS_ZH). Handlers build and
read their frames with the English headers; they rename them only as the last step before Gradio shows them.

``describe(text, lang)``: a model preset's or shipped dataset's description (they live in presets/*.yaml, in
English), or a task name, from DESCRIPTIONS_ZH / DESCRIPTION_PATTERNS_ZH; unknown text is kept.

The language is resolved once, when the translator is made (default: the request being served, see
text.current_language), and bound into it: nothing global changes, so concurrent requests never mix.
"""
from __future__ import annotations

import functools
import re
from typing import Callable

from .error_text import compile_template
from .i18n_zh import ZH as UI_ZH
from .text import current_language, normalize_language

# --------------------------------------------------------------------------- figures

TARGET_SET_LABELS = ("PEFT default", "attention (q,k,v,o)", "MLP only", "your pick")
"""Target-set labels (rank explorer) that have a Chinese label in i18n_zh ('all-linear' is a PEFT value)."""

CHART_ZH = {
    # rank_chart
    "Trainable parameters vs LoRA rank": "可训练参数量与 LoRA 秩的关系",
    "Share of the model that trains vs LoRA rank": "参与训练的模型比例与 LoRA 秩的关系",
    "LoRA rank r": "LoRA 秩 r",
    "trainable parameters": "可训练参数量",
    "% of model parameters": "占模型参数的百分比（%）",
    "{label}<br>rank {rank}<br>{trainable:,} params ({human})<br>{percent:.4f}% of model<br>adapter file: "
    "{fp32} fp32, {bf16} bf16":
        "{label}<br>秩 {rank}<br>{trainable:,} 个参数（{human}）<br>占模型的 {percent:.4f}%<br>适配器文件："
        "{fp32}（fp32），{bf16}（bf16）",
    "{label}<br>{trainable:,} params<br>{percent:.4f}% of model<br>(does not depend on rank)":
        "{label}<br>{trainable:,} 个参数<br>占模型的 {percent:.4f}%<br>（与秩无关）",
    # memory_chart
    "Training memory estimate (before activations)": "训练内存估算（不含激活值）",
    "weights": "权重",
    "gradients": "梯度",
    "optimizer states (Adam)": "优化器状态（Adam）",
    "GB (estimate)": "GB（估算）",
    # loss_chart
    "Loss": "损失",
    "train loss": "训练损失",
    "held-out loss": "验证损失",
    "The loss curve appears here once the first step is logged.": "记录第一步后，损失曲线会显示在这里。",
    "step": "步数",
    "loss": "损失",
    # eval_chart
    "{metric}: {score:.3f}<br>perplexity: {perplexity:.3f}<br>n = {n}":
        "{metric}：{score:.3f}<br>困惑度：{perplexity:.3f}<br>样本数 = {n}",
    "Held-out {metric}: base vs adapted": "验证集 {metric}：基础模型与适配后对比",
    "score": "得分",
    "base": "基础模型",
    # update_heatmap / spectrum_chart
    "Size of the learned update per layer and module": "每层、每个模块学到的更新的大小",
    "module": "模块",
    "layer": "层",
    "L{layer} {module} (eff. rank {rank:.2f})": "L{layer} {module}（有效秩 {rank:.2f}）",
    "Singular values of the update (normalised): how many directions it really uses":
        "更新的奇异值（归一化）：它实际用了多少个方向",
    "singular value index": "奇异值序号",
    # rank explorer: target sets and the other methods' reference lines (labels the handler passes)
    **{k: UI_ZH[k] for k in TARGET_SET_LABELS},
    "IA3 (PEFT default targets)": "IA3（PEFT 默认目标）",
}
"""English text of a figure -> Chinese. Templates ({field}) keep the same fields."""

CHART_PATTERNS_ZH = [
    ("prompt tuning ({v} tokens)", "prompt tuning（{v} 个虚拟 token）"),
    ("P-tuning MLP ({v} tokens)", "P-tuning MLP（{v} 个虚拟 token）"),
    ("prefix tuning ({v} tokens)", "prefix tuning（{v} 个虚拟 token）"),
    ("prefix tuning + projection ({v})", "prefix tuning + 投影（{v} 个虚拟 token）"),
    # memory estimate setups (workbench.core.params.memory_estimate): x axis, table, formula list
    ("full fine-tuning (fp32 + Adam)", "全量微调（fp32 + Adam）"),
    ("{label} ({dtype} frozen base)", "{label}（冻结的 {dtype} 基础模型）"),
    ("{label} (4-bit {quant} base, QLoRA)", "{label}（4 位 {quant} 基础模型，QLoRA）"),
    # ... and how each estimate is made
    ("estimate before activations: {n} params x (4 weights + 4 grads + 8 Adam) B = {total}",
     "不含激活值的估算：{n} 个参数 ×（4 权重 + 4 梯度 + 8 Adam）B = {total}"),
    ("estimate before activations: {frozen} frozen x {b} B + {t} trainable x (4 weights + 4 grads + 8 Adam) B "
     "= {total}",
     "不含激活值的估算：{frozen} 个冻结参数 × {b} B + {t} 个可训练参数 ×（4 权重 + 4 梯度 + 8 Adam）B = {total}"),
    ("estimate before activations: {q} linear weights x 0.5 B + {dq:w} bits/param ({consts} B) + {rest} other "
     "frozen x 2 B (bf16) + {t} trainable x 16 B = {total}",
     "不含激活值的估算：{q} 个线性层权重 × 0.5 B + {dq} 位/参数（{consts} B）+ {rest} 个其他冻结参数 × 2 B（bf16）"
     "+ {t} 个可训练参数 × 16 B = {total}"),
]
"""(English pattern, Chinese) for labels built with values: ``{x}`` captures any text, kept as it is;
``{x:w}`` a phrase from PHRASES_ZH."""

PHRASES_ZH = {
    "double-quantised constants ~0.127": "双重量化常数约 0.127",
    "constants 0.5": "量化常数 0.5",
}


# --------------------------------------------------------------------------- tables

COLUMNS_ZH = {
    # module table, grouped view, matched layers
    "name": "名称",
    "type": "类型",
    "in_features": "输入特征数",
    "out_features": "输出特征数",
    "shape": "形状",
    "params": "参数量",
    "dtype": "数据类型",
    "trainable": "可训练参数量",
    "leaf": "层名",
    "params each": "每层参数量",
    "params total": "参数总量",
    "matched module": "匹配到的模块",
    # rank table
    "target set": "目标集合",
    "method": "方法",
    "rank": "秩",
    "% of model": "占模型的百分比",
    "layers": "层数",
    "adapter fp32": "适配器大小（fp32）",
    "adapter bf16": "适配器大小（bf16）",
    # memory table
    "setup": "配置",
    "weights": "权重",
    "gradients": "梯度",
    "optimizer": "优化器状态",
    "total (estimate)": "总计（估算）",
    # runs table
    "run": "运行",
    "status": "状态",
    "model": "模型",
    "dataset": "数据集",
    "step": "步数",
    "train loss": "训练损失",
    "held-out loss": "验证损失",
    # evaluation and run-all tables
    "variant": "变体",
    "metric": "指标",
    "score": "得分",
    "perplexity": "困惑度",
    "n": "样本数",
    "prompt": "提示",
    "reference": "参考答案",
    "base": "基础模型",
}
"""English column header -> Chinese."""

MODULE_COLUMNS_ZH = {"trainable": "可训练"}
"""Headers the module table words differently: there 'trainable' is a yes/no per module, not a count."""


# --------------------------------------------------------------------------- descriptions

DESCRIPTIONS_ZH = {
    # presets/models.yaml
    "SmolLM2-135M-Instruct, embedded (offline) real weights; the default.":
        "SmolLM2-135M-Instruct，内置（离线可用）的真实权重；默认模型。",
    "SmolLM2-135M architecture (30 layers, hidden 576, GQA 9/3, tied embeddings)":
        "SmolLM2-135M 架构（30 层，隐藏层维度 576，GQA 9/3，输入输出嵌入共享）",
    "Qwen2.5-0.5B architecture (24 layers, hidden 896, qkv bias, tied embeddings)":
        "Qwen2.5-0.5B 架构（24 层，隐藏层维度 896，qkv 带偏置，输入输出嵌入共享）",
    "Qwen2.5-7B architecture (28 layers, hidden 3584, qkv bias)": "Qwen2.5-7B 架构（28 层，隐藏层维度 3584，qkv 带偏置）",
    "Llama-2-7B architecture (transformers' LlamaConfig() defaults)":
        "Llama-2-7B 架构（transformers 中 LlamaConfig() 的默认值）",
    "Llama-3-8B architecture (32 layers, hidden 4096, GQA 32/8)": "Llama-3-8B 架构（32 层，隐藏层维度 4096，GQA 32/8）",
    "Llama-3-70B architecture (80 layers, hidden 8192, GQA 64/8)": "Llama-3-70B 架构（80 层，隐藏层维度 8192，GQA 64/8）",
    "Mistral-7B architecture (32 layers, hidden 4096, GQA 32/8)": "Mistral-7B 架构（32 层，隐藏层维度 4096，GQA 32/8）",
    "GPT-2 small architecture (GPT2Config(); Conv1D layers, fused c_attn)":
        "GPT-2 small 架构（GPT2Config()；Conv1D 层，融合的 c_attn）",
    "t5-small architecture (T5Config(); encoder-decoder)": "t5-small 架构（T5Config()；编码器-解码器）",
    "bart-base architecture (6+6 layers, d_model 768)": "bart-base 架构（6+6 层，d_model 768）",
    # presets/datasets/*/meta.yaml
    'Rewrite a date written in words ("the 3rd of March, 2021", "March the third, twenty twenty-one") as ISO '
    'YYYY-MM-DD. Scored by exact match.':
        '把用文字写的日期（"the 3rd of March, 2021"、"March the third, twenty twenty-one"）改写成 ISO 格式 '
        'YYYY-MM-DD。按完全匹配评分。',
    'Turn a short sentence about a person into the JSON object {"name": ..., "age": ..., "city": ...} (age is null '
    'when not given). Scored by comparing the parsed JSON: chatter or code fences around it count as wrong.':
        '把一句关于某人的短句转换成 JSON 对象 {"name": ..., "age": ..., "city": ...}（未提及年龄时 age 为 null）。'
        '按解析后的 JSON 比较评分：JSON 前后多出的闲聊或代码块标记都算错。',
    "Label a one- or two-sentence product review with exactly one word: positive, negative or neutral. Scored on "
    "the first word of the answer.":
        "用一个词给一两句话的商品评论打标签：positive、negative 或 neutral。按回答的第一个词评分。",
    # dataset tasks
    "rewriting": "改写",
    "extraction": "信息抽取",
    "classification": "分类",
}
"""English description (exactly as in presets/*.yaml) -> Chinese. A test checks every shipped preset has one."""

DESCRIPTION_PATTERNS_ZH = [
    # workbench.core.models.resolve, for names that are not presets
    ("architecture from {path}", "架构来自 {path}"),
    ("local checkpoint {path}", "本地检查点 {path}"),
    ("Hugging Face Hub model {name}", "Hugging Face Hub 模型 {name}"),
]


# --------------------------------------------------------------------------- lookups

_ZH_FIELD = re.compile(r"\{(\w+)\}")


def _compile(table):
    return [(*compile_template(en), zh) for en, zh in table]


_CHART_RULES = _compile(CHART_PATTERNS_ZH)
_DESCRIPTION_RULES = _compile(DESCRIPTION_PATTERNS_ZH)


def _by_pattern(rules, text: str) -> str | None:
    for rx, convs, zh in rules:
        m = rx.fullmatch(text)
        if m:
            values = {k: PHRASES_ZH.get(m.group(k), m.group(k)) if c == "w" else m.group(k) for k, c in convs.items()}
            return _ZH_FIELD.sub(lambda g: values.get(g.group(1), g.group(0)), zh)
    return None


def _lang(lang: str | None) -> str:
    return (normalize_language(lang) or "en") if lang else current_language()


def _same(text: str) -> str:
    return text


@functools.lru_cache(maxsize=4096)
def chart_zh(text: str) -> str:
    """The Chinese of one text of a figure (kept as it is when unknown)."""
    found = CHART_ZH.get(text)
    return found if found is not None else (_by_pattern(_CHART_RULES, text) or text)


def chart_tr(lang: str | None = None) -> Callable[[str], str]:
    """The translator for plots' ``tr=``, in ``lang`` (default: the page language of the request being served)."""
    return chart_zh if _lang(lang) == "zh-CN" else _same


def localize_columns(df, lang: str | None = None, overrides: dict[str, str] | None = None, first: int | None = None):
    """``df`` with its column headers in ``lang``: the same frame in English, a renamed copy in Chinese.

    ``first``: only the first ``first`` headers (the others are names, e.g. adapters, shown as they are).
    """
    if _lang(lang) != "zh-CN":
        return df
    table = {**COLUMNS_ZH, **(overrides or {})}
    n = len(df.columns) if first is None else first
    out = df.copy(deep=False)
    out.columns = [table.get(c, c) if i < n and isinstance(c, str) else c for i, c in enumerate(df.columns)]
    return out


def describe(text: str, lang: str | None = None) -> str:
    """A preset's / dataset's description or a task name in ``lang`` (kept when it has no translation)."""
    if _lang(lang) != "zh-CN" or not text:
        return text
    found = DESCRIPTIONS_ZH.get(text)
    return found if found is not None else (_by_pattern(_DESCRIPTION_RULES, text) or text)

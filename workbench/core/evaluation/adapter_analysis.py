"""Look inside a trained adapter.

LoRA / DoRA (read from the adapter files alone, no base model): for every adapted module the weight update
is dW = scaling * B @ A, with scaling = alpha / r (alpha / sqrt(r) with rsLoRA; ``rank_pattern`` and
``alpha_pattern`` respected). We report its Frobenius norm, its singular values and its effective rank.
For DoRA this is the low-rank directional update only: DoRA also rescales each output row by a learned
magnitude, which needs the base weights to express and is not included.

The singular values are computed exactly without forming the (out x in) matrix: with QR factorisations
B = Q_b R_b and A^T = Q_a R_a, B A = Q_b (R_b R_a^T) Q_a^T, so svd(B A) = svd(R_b R_a^T), an r x r problem.

Effective rank (Roy & Vetterli, "The effective rank: a measure of effective dimensionality", EUSIPCO 2007):
with p_i = s_i / sum_j s_j over the singular values, erank = exp(-sum_i p_i log p_i). It is 1 when one
direction carries everything and r when all r directions are equally strong; we define it as 0 for a zero
update (an untrained LoRA, B = 0).

Prompt tuning / P-tuning: PEFT saves the learned virtual-token embeddings as ``prompt_embeddings`` (for
P-tuning that is already the prompt encoder's output, computed at save time, so no encoder is needed to read
it). ``virtual_token_neighbours`` lists, for each virtual token, the vocabulary tokens whose input embeddings
are closest by cosine similarity. Prefix tuning stores per-layer keys/values instead, which do not live in
the embedding space, so it has no neighbours.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from workbench.errors import WorkbenchError
from workbench.core.model.adapter_files import AdapterInfo, read_adapter


class AnalysisError(WorkbenchError):
    """The adapter cannot be analysed this way (wrong method, unreadable weights, ...)."""


@dataclass
class UpdateStat:
    layer: int | None
    """Transformer block index (None for modules outside the blocks, e.g. lm_head)."""
    module: str
    """Leaf module name, e.g. q_proj."""
    norm: float
    """Frobenius norm of dW = scaling * B @ A."""
    singular_values: list[float]
    """Singular values of dW, largest first (r of them)."""
    effective_rank: float
    """Entropy-based effective rank (Roy & Vetterli 2007), between 1 and r; 0 for a zero update."""
    name: str = ""
    """Full module path inside the model."""
    r: int = 0
    """LoRA rank of this module."""
    scaling: float = 1.0
    """alpha / r (or alpha / sqrt(r) with rsLoRA)."""
    extra: dict = field(default_factory=dict, repr=False)


_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.(?P<part>lora_A|lora_B|lora_embedding_A|lora_embedding_B)"
                  r"(?:\.[^.]+)?(?:\.weight)?$")


def _load_tensors(info: AdapterInfo) -> dict:
    try:
        if info.weights_file.endswith(".safetensors"):
            from safetensors.torch import load_file
            return load_file(info.weights_file)
        import torch
        return torch.load(info.weights_file, map_location="cpu", weights_only=True)
    except Exception as e:
        raise AnalysisError("compare.unreadable_weights", path=info.weights_file, detail=str(e)) from None


def _pattern_value(patterns: dict | None, module: str, default):
    """PEFT's rank_pattern / alpha_pattern lookup: a key matches when the module name ends with it (regex)."""
    for key, value in (patterns or {}).items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def effective_rank(singular_values) -> float:
    """exp(entropy of the normalised singular values) (Roy & Vetterli 2007); 0 for an all-zero spectrum."""
    s = [float(x) for x in singular_values if float(x) > 0]
    total = sum(s)
    if total <= 0:
        return 0.0
    p = [x / total for x in s]
    return float(math.exp(-sum(x * math.log(x) for x in p)))


def lowrank_singular_values(B, A):
    """Singular values of B @ A (B: out x r, A: r x in) via two thin QRs, without forming B @ A."""
    import torch
    B64, A64 = B.double(), A.double()
    _, rb = torch.linalg.qr(B64)
    _, ra = torch.linalg.qr(A64.T)
    return torch.linalg.svdvals(rb @ ra.T)


def _layer_index(module: str) -> int | None:
    m = re.search(r"\.(?:layers?|h|blocks?|block)\.(\d+)\.", "." + module + ".") or re.search(r"\.(\d+)\.", "." + module + ".")
    return int(m.group(1)) if m else None


def lora_update_stats(adapter_dir: str) -> list[UpdateStat]:
    """Per adapted module of a LoRA/DoRA adapter: norm, singular values and effective rank of dW."""
    info = read_adapter(adapter_dir)
    if not info.is_lora:
        raise AnalysisError("compare.needs_lora", path=str(adapter_dir), method=info.peft_type.lower())
    cfg = info.config
    tensors = _load_tensors(info)
    pairs: dict[str, dict[str, object]] = {}
    for key, t in tensors.items():
        m = _KEY.match(key)
        if m and t.ndim == 2:
            pairs.setdefault(m.group("module"), {})[m.group("part").replace("lora_embedding_", "lora_")] = t
    stats: list[UpdateStat] = []
    for module, parts in pairs.items():
        if "lora_A" not in parts or "lora_B" not in parts:
            continue
        A, B = parts["lora_A"], parts["lora_B"]  # embedding LoRA: A (r, vocab), B (dim, r) -> same algebra
        r = int(_pattern_value(cfg.get("rank_pattern"), module, cfg.get("r") or A.shape[0]))
        alpha = float(_pattern_value(cfg.get("alpha_pattern"), module, cfg.get("lora_alpha") or r))
        scaling = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
        sv = (lowrank_singular_values(B, A) * abs(scaling)).tolist()
        norm = math.sqrt(sum(x * x for x in sv))
        stats.append(UpdateStat(layer=_layer_index(module), module=module.rsplit(".", 1)[-1], norm=norm,
                                singular_values=[float(x) for x in sv], effective_rank=effective_rank(sv),
                                name=module, r=int(A.shape[0]), scaling=scaling))
    if not stats:
        raise AnalysisError("compare.no_lora_matrices", path=str(adapter_dir))
    stats.sort(key=lambda s: (s.layer if s.layer is not None else 1 << 30, s.module, s.name))
    return stats


def virtual_token_neighbours(adapter_dir: str, model_name: str, k: int = 5) -> list[tuple[int, list[tuple[str, float]]]]:
    """For each learned virtual token: the ``k`` vocabulary tokens nearest by cosine similarity of input embeddings."""
    import torch
    from workbench.core.model.loading import MODEL_CACHE
    info = read_adapter(adapter_dir)
    if info.peft_type == "PREFIX_TUNING":
        raise AnalysisError("compare.prefix_no_tokens")
    if info.peft_type not in ("PROMPT_TUNING", "P_TUNING"):
        raise AnalysisError("compare.needs_prompt", path=str(adapter_dir), method=info.peft_type.lower())
    if not isinstance(k, int) or k < 1:
        raise AnalysisError("compare.positive_int", name="k", value=k)
    prompts = _load_tensors(info).get("prompt_embeddings")
    if prompts is None:
        raise AnalysisError("compare.no_prompt_embeddings", path=str(adapter_dir))
    model, tok = MODEL_CACHE.get(model_name)
    emb = model.get_input_embeddings().weight.detach()
    if prompts.shape[-1] != emb.shape[-1]:
        raise AnalysisError("compare.embedding_size", size=int(prompts.shape[-1]), model=model_name,
                            model_size=int(emb.shape[-1]))
    with torch.no_grad():
        p = torch.nn.functional.normalize(prompts.float().to(emb.device), dim=-1)
        e = torch.nn.functional.normalize(emb.float(), dim=-1)
        cos = p @ e.T
        vals, idx = cos.topk(min(k, cos.shape[-1]), dim=-1)
    return [(i, [(tok.decode([int(t)]), float(v)) for t, v in zip(idx[i].tolist(), vals[i].tolist())])
            for i in range(cos.shape[0])]

"""Training memory estimates, activations and logits included, and the measured peak of a training process.

An estimate is the sum of six parts (``MemoryEstimate``), each with the formula that produced it:

- **weights**: frozen parameters x bytes of their dtype (4-bit QLoRA: 0.5 B per linear weight plus the
  quantisation constants; everything else fp32 after ``prepare_model_for_kbit_training``; on CPU the full-precision
  checkpoint they were quantised from stays resident too, measured) + trainable x 4 B. Under bf16 autocast an fp32
  weight is cast to bf16 for each matmul and autograd keeps the copy for the backward pass: + 2 B per frozen linear
  weight and body call (a shared prefix is a second call; 4-bit weights are not cast), + 2 B per head weight.
- **gradients**: trainable x 4 B (fp32).           - **optimizer**: trainable x 8 B (AdamW: two fp32 states).
- **activations**: what autograd keeps for the backward pass, per token and layer, from the model config
  (h = hidden, a = heads x head_dim, i = intermediate, r = rank). Frozen linears keep nothing of their input;
  the two RMSNorms keep their fp32 input (2h x 4 B); SDPA keeps q, the (GQA-repeated) k and v and its output
  (4a); the gated MLP keeps gate, up and act(gate) (3i). Eager attention (CPU + bf16 at <= 256 tokens) keeps the
  attention probabilities too. Adapters add what their own ops keep: LoRA the dropout output and mask of each
  wrapped layer's input plus the r-wide A output, DoRA also the base and LoRA outputs, IA3 the scaled tensor,
  prefix tuning the longer k / v. Under bf16 autocast the matmul outputs are 2 B instead of 4. With gradient
  checkpointing a layer keeps only its input (h x 4 B), and one layer's activations exist again during backward.
- **logits**: positions x vocabulary x 4 B, three times at the start of the backward pass (the loss's
  log-softmax, its gradient and the gradient of the logits; +2 B for the bf16 logits under autocast). With the
  workbench's ``FastLossTrainer`` only positions with a label go through the head (at most one 2048-position
  chunk at a time) and a prefix shared by every row of a batch runs once.
- **baseline**: the process before any tensor: Python + torch + transformers + peft + datasets imported and the
  tokenizer loaded. Measured once on this project's machine (Linux x86-64, torch 2.13 CPU, transformers 5.24):
  ``CPU_BASELINE_MB``. On CUDA the baseline is the CUDA context (``CUDA_CONTEXT_MB``, a typical figure, not
  measured here).

A run config's estimate (its data's longest batch, the precision ``auto`` resolves to, the measured counterpart) is
``core/training/run_memory.py``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch.nn as nn

from workbench.messages import Message
from workbench.spec.settings import AdapterSpec, SpecError
from workbench.spec import methods
from workbench.core.model.modules import is_linear, match_targets, named_modules, numel, \
    output_layer_name, total_params
from workbench.core.model.counting import count

DTYPE_BYTES = {"float32": 4, "fp32": 4, "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2, "int8": 1}
QUANT_BLOCK = 64  # bitsandbytes 4-bit block size: one absmax constant per 64 weights
DQ_BLOCK = 256  # double quantisation: the 8-bit absmax values are themselves grouped by 256
CPU_BASELINE_MB = 560
"""Peak RSS of the training process before any model weight counts (measured on this project's machine, Linux x86-64,
torch 2.13 CPU, transformers 5.24): 402-486 MB after importing torch, transformers (Trainer), peft, datasets and the
workbench, 545 MB with the SmolLM2 tokenizer and a tokenized shipped dataset; a 2-step LoRA run of a 12 MB model
through the same Trainer peaked at 672 MB = ~550 + 12 (weights) + 110 (its 49k-vocabulary logits)."""
CUDA_CONTEXT_MB = 500
"""A typical CUDA context (driver, kernels, cuBLAS workspace); not measured on this project's CPU machine."""
LOSS_COPIES = 3
"""float32 logit-sized tensors alive at the start of backward: log-softmax output, its gradient, grad of logits."""
LOSS_CHUNK = 2048
"""FastLossTrainer's head chunk (selected positions); see core/fast_loss.py CHUNK_TOKENS."""
EAGER_MAX_TOKENS = 256
"""core/train.py pick_attention: CPU + bf16 autocast at <= 256 tokens uses eager attention."""
MB = 2 ** 20
PARTS = ("baseline", "weights", "gradients", "optimizer", "activations", "logits")


@dataclass
class Workload:
    """The shape of one training step: what activations and logits depend on."""
    batch: int = 8
    seq: int = 256
    """Tokens per row of the (padded) batch."""
    precision: str = "fp32"
    """fp32 or bf16 (autocast)."""
    checkpointing: bool = False
    labelled: int | None = None
    """Positions of the batch that carry a label (FastLossTrainer computes logits only there); None = all."""
    shared_prefix: int = 0
    """Tokens every row starts with (FastLossTrainer runs them once per batch)."""
    fast_loss: bool = False
    """The run uses FastLossTrainer (LoRA family / IA3 on a plain-head decoder)."""
    device: str = "cpu"
    checkpoint_resident: bool = False
    """4-bit runs on CPU: the full-precision checkpoint stays resident next to the 4-bit weights (measured with
    this project's loader; estimate_run sets it there; the Rank tab shows the method's own weights)."""

    def __post_init__(self):
        if self.precision not in ("fp32", "bf16"):
            raise SpecError("precision", "settings.one_of", choices="fp32, bf16", value=self.precision)
        if self.batch < 1 or self.seq < 1:
            raise SpecError("batch_size" if self.batch < 1 else "max_length", "settings.one_of",
                            choices=">= 1", value=min(self.batch, self.seq))


@dataclass
class MemoryEstimate:
    """Estimated peak memory of one training setup, in bytes, by part (``PARTS``); ``formulas[part]`` says how."""
    setup: str
    weights_bytes: int
    grads_bytes: int
    optimizer_bytes: int
    activations_bytes: int = 0
    logits_bytes: int = 0
    baseline_bytes: int = 0
    formula: str = ""
    """English: every part's formula, one per line."""
    setup_message: Message | None = None
    formula_message: Message | None = None
    """The weights/gradients/optimizer formula as a catalogue message (the page words it in its language)."""
    formulas: dict[str, Message] = field(default_factory=dict)
    """part -> its formula as a catalogue message."""
    device: str = "cpu"

    @property
    def total_bytes(self) -> int:
        return (self.weights_bytes + self.grads_bytes + self.optimizer_bytes + self.activations_bytes
                + self.logits_bytes + self.baseline_bytes)

    @property
    def total_mb(self) -> float:
        return round(self.total_bytes / MB, 1)

    @property
    def comparable_mb(self) -> float:
        """What ``peak_mem_mb`` on the same device measures: all of it on CPU, tensors only on CUDA."""
        extra = self.baseline_bytes if self.device == "cuda" else 0
        return round((self.total_bytes - extra) / MB, 1)

    def parts(self) -> list[tuple[str, int]]:
        return [("baseline", self.baseline_bytes), ("weights", self.weights_bytes), ("gradients", self.grads_bytes),
                ("optimizer", self.optimizer_bytes), ("activations", self.activations_bytes),
                ("logits", self.logits_bytes)]


MemoryRow = MemoryEstimate  # the name before activations were counted


# --------------------------------------------------------------------------- weights

def quant_constants_bytes(n_quantized: int, double_quant: bool) -> int:
    """Bytes of bitsandbytes 4-bit quantisation constants for ``n_quantized`` weights.

    Plain: one fp32 absmax per 64 weights = 32/64 = 0.5 bits/param. Double quantisation stores those
    as 8-bit values plus one fp32 constant per 256 blocks: 8/64 + 32/(64*256) ~ 0.127 bits/param
    (QLoRA's ~0.37 bits/param saving).
    """
    blocks = math.ceil(n_quantized / QUANT_BLOCK)
    if not double_quant:
        return 4 * blocks
    return blocks + 4 * math.ceil(blocks / DQ_BLOCK)


def _quantizable_weights(model: nn.Module) -> int:
    """Weights bitsandbytes turns into 4-bit: Linear/Conv1D weights except the output layer (biases stay)."""
    out = output_layer_name(model)
    return sum(numel(m.weight) for n, m in model.named_modules() if n and n != out and is_linear(m))


def _head_weights(model: nn.Module) -> int:
    """Weights of the output layer (``lm_head``; the embedding when tied)."""
    out = output_layer_name(model)
    head = model.get_submodule(out) if out else None
    return numel(head.weight) if getattr(head, "weight", None) is not None else 0


def _gb(x: float) -> str:
    return f"{x / 1e9:.2f} GB"


def _mb(x: float) -> str:
    return f"{x / MB:,.0f} MB"


# --------------------------------------------------------------------------- activations

@dataclass
class _Arch:
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    layers: int
    vocab: int


def _arch(model: nn.Module) -> _Arch:
    cfg = model.config
    d = cfg.to_dict()
    d = d.get("text_config") or d
    h = int(d.get("hidden_size") or d.get("n_embd") or d.get("d_model"))
    heads = int(d.get("num_attention_heads") or d.get("n_head") or d.get("num_heads") or 1)
    head_dim = int(d.get("head_dim") or h // heads)
    return _Arch(hidden=h, intermediate=int(d.get("intermediate_size") or d.get("n_inner") or d.get("d_ff") or 4 * h),
                 heads=heads, kv_heads=int(d.get("num_key_value_heads") or heads), head_dim=head_dim,
                 layers=int(d.get("num_hidden_layers") or d.get("n_layer") or d.get("num_layers") or 1),
                 vocab=int(d.get("vocab_size")))


def _adapter_bytes_per_token(model: nn.Module, spec: AdapterSpec, act: int) -> int:
    """Bytes the adapter's own ops keep per token over the whole model (all wrapped layers): its family's
    ``activation_bytes`` over the layers it wraps."""
    meth = methods.get(spec.method)
    if not meth.wraps_layers or meth.activation_bytes is None:
        return 0
    named = named_modules(model)
    modules = dict(named)
    names = match_targets(model, spec.target_modules, spec.method, modules_to_save=spec.modules_to_save,
                          named=named)
    return meth.activation_bytes(model, spec, [(n, modules[n]) for n in names], act)


def _layer_bytes_per_token(a: _Arch, act: int, kv_len_ratio: float, eager_kv: int, full: bool) -> int:
    """Bytes one decoder layer keeps per token (frozen weights; ``full``: every linear trains, so their inputs too)."""
    attn_width = a.heads * a.head_dim
    norms = 2 * 4 * a.hidden  # RMSNorm keeps its fp32 input
    attention = act * (2 * attn_width + 2 * attn_width * kv_len_ratio)  # q, out; k, v repeated to every head
    if eager_kv:
        attention += (4 + act) * a.heads * eager_kv  # softmax output (fp32) and its bf16 copy
    mlp = act * 3 * a.intermediate  # gate, up, act(gate)
    linear_inputs = act * (2 * a.hidden + attn_width + a.intermediate) if full else 0
    return int(norms + attention + mlp + linear_inputs)


# --------------------------------------------------------------------------- one setup

def _label(spec: AdapterSpec) -> str:
    meth = methods.get(spec.method)
    return f"{meth.estimate_label or spec.method} r={spec.r}" if meth.has_rank else spec.method


def _virtual_tokens(spec: AdapterSpec) -> int:
    return spec.num_virtual_tokens if methods.get(spec.method).is_prompt_learning else 0


def estimate(model: nn.Module, spec: AdapterSpec | None, work: Workload | None = None,
             base_dtype: str = "float32", quantized: bool | None = None) -> MemoryEstimate:
    """Estimated peak training memory of ``spec`` on ``model`` (a meta model is enough) for ``work``.

    ``spec`` None, or a method that trains the whole model (``full``) = full fine-tuning (fp32 weights + Adam). ``quantized``: 4-bit base (default: the method's own).
    ``work`` None: weights, gradients and optimizer only (no activations, logits or baseline)."""
    if base_dtype not in DTYPE_BYTES:
        raise SpecError("base_dtype", "settings.one_of", choices=", ".join(DTYPE_BYTES), value=base_dtype)
    a = _arch(model)
    n = total_params(model)
    full = spec is None or methods.get(spec.method).full_model
    if full:
        spec = None
        t, frozen = n, 0
        quantized = False
    else:
        c = count(model, spec)
        t, frozen = c.trainable, c.total - c.trainable
        quantized = methods.get(spec.method).quantized if quantized is None else quantized
    # ---- weights, gradients, optimizer
    if full:
        weights = 4 * n
        setup = Message("charts.setup.full")
        wf = Message("charts.formula.full", {"n": n, "total": _gb(16 * n)})
    elif quantized:
        q = min(_quantizable_weights(model), frozen)
        consts = quant_constants_bytes(q, spec.bnb_4bit_use_double_quant)
        rest = frozen - q
        weights = q // 2 + consts + 4 * rest + 4 * t
        dq = Message("charts.formula.double_quant" if spec.bnb_4bit_use_double_quant else "charts.formula.constants")
        setup = Message("charts.setup.qlora", {"label": _label(spec), "quant": spec.bnb_4bit_quant_type})
        wf = Message("charts.formula.qlora", {"q": q, "dq": dq, "consts": consts, "rest": rest, "t": t,
                                              "total": _gb(weights + 12 * t)})
    else:
        b = DTYPE_BYTES[base_dtype]
        weights = frozen * b + 4 * t
        setup = Message("charts.setup.frozen", {"label": _label(spec), "dtype": base_dtype})
        wf = Message("charts.formula.frozen", {"frozen": frozen, "b": b, "t": t, "total": _gb(weights + 12 * t)})
    if quantized and work is not None and work.checkpoint_resident:
        # measured (bench_memory.py): on CPU the full-precision checkpoint the 4-bit weights were made from stays
        # resident (the loader's memory-mapped safetensors pages) next to them through training
        b = DTYPE_BYTES.get(str(getattr(model.config, "dtype", None) or "float32").replace("torch.", ""), 4)
        weights += b * n
        wf = Message("charts.formula.qlora_cpu", {"base": wf, "n": n, "b": b, "total": _gb(weights + 12 * t)})
    est = MemoryEstimate(str(setup), weights, 4 * t, 8 * t, setup_message=setup, formula_message=wf,
                         formulas={"weights": wf}, device=work.device if work else "cpu")
    if work is None:
        est.formula = str(wf)
        return est
    # ---- activations
    act = 2 if work.precision == "bf16" else 4
    v = 0 if full else _virtual_tokens(spec)
    prefix_kv = v if (not full and methods.get(spec.method).kv_prefix) else 0
    seq = work.seq + (v if v and not prefix_kv else 0)  # prompt / P-tuning put V tokens in front
    fast = work.fast_loss and not full and not v
    shared = min(work.shared_prefix, seq - 1) if fast and work.batch > 1 else 0
    tokens = work.batch * seq - (work.batch - 1) * shared  # a shared prefix runs once per batch
    kv_len = seq + prefix_kv
    eager = kv_len if (work.device == "cpu" and act == 2 and kv_len <= EAGER_MAX_TOKENS) else 0
    per_layer = _layer_bytes_per_token(a, act, (kv_len / seq) * (work.batch * seq / tokens), eager, full)
    n_layers = a.layers
    hook = None if full else methods.get(spec.method).backward_layers
    if hook is not None:  # only the trained top blocks keep activations, and all their linear inputs
        n_layers = min(a.layers, hook(model.config, spec))
        per_layer = _layer_bytes_per_token(a, act, (kv_len / seq) * (work.batch * seq / tokens), eager, True)
    per_token_adapter = 0 if full else _adapter_bytes_per_token(model, spec, act)
    if work.checkpointing:
        kept = a.layers * 4 * a.hidden * tokens
        activations = kept + per_layer * tokens + per_token_adapter // max(a.layers, 1) * tokens
        af = Message("charts.formula.activations_ckpt", {
            "layers": a.layers, "h": a.hidden, "tokens": tokens, "per_layer": per_layer, "total": _mb(activations)})
    else:
        activations = (n_layers * per_layer + per_token_adapter) * tokens
        af = Message("charts.formula.activations", {
            "layers": n_layers, "per_layer": per_layer, "adapter": per_token_adapter, "tokens": tokens,
            "h": a.hidden, "i": a.intermediate, "heads": a.heads, "kv_heads": a.kv_heads, "total": _mb(activations)})
    # ---- logits
    positions = work.batch * seq
    if fast:
        positions = min(work.labelled if work.labelled is not None else positions, LOSS_CHUNK)
    per = LOSS_COPIES * 4 + (2 if act == 2 else 0)
    logits = positions * a.vocab * per
    lf = Message("charts.formula.logits", {"positions": positions, "vocab": a.vocab, "per": per,
                                           "total": _mb(logits)})
    # ---- baseline
    cuda = work.device == "cuda"
    baseline = (CUDA_CONTEXT_MB if cuda else CPU_BASELINE_MB) * MB
    bf = Message("charts.formula.baseline_cuda" if cuda else "charts.formula.baseline_cpu",
                 {"mb": CUDA_CONTEXT_MB if cuda else CPU_BASELINE_MB})
    # ---- bf16 copies of fp32 weights, kept for the backward pass (measured: bench and tests/core/test_memory.py)
    if act == 2 and (full or quantized or DTYPE_BYTES[base_dtype] == 4):
        body = 0 if quantized else _quantizable_weights(model)
        if hook is not None:  # below the first trained block autograd keeps no copy: it frees each after use
            body = body * n_layers // max(a.layers, 1)
        calls = 2 if shared else 1  # a trainable weight's cast is cached (full: one call, no shared prefix)
        copies = 2 * (body * calls + _head_weights(model))
        est.weights_bytes += copies
        wf = Message("charts.formula.autocast_copies", {"base": wf, "body": body, "calls": calls,
                                                        "head": _head_weights(model),
                                                        "total": _gb(est.weights_bytes + 12 * t)})
        est.formula_message = est.formulas["weights"] = wf
    est.activations_bytes, est.logits_bytes, est.baseline_bytes = int(activations), int(logits), baseline
    est.formulas.update(activations=af, logits=lf, baseline=bf)
    est.formula = "\n".join(str(est.formulas[p]) for p in ("baseline", "weights", "activations", "logits"))
    return est


def memory_estimate(model: nn.Module, spec: AdapterSpec, base_dtype: str = "float32",
                    work: Workload | None = None) -> list[MemoryEstimate]:
    """The Rank tab's three setups: full fine-tuning (fp32 + Adam), ``spec`` on a frozen ``base_dtype`` base and
    the same adapter on a 4-bit base (QLoRA), for one ``work`` (None: weights, gradients and optimizer only)."""
    lora = AdapterSpec(**{**spec.__dict__, "method": methods.quantized_twin(spec.method, False)})
    qlora = AdapterSpec(**{**spec.__dict__, "method": methods.quantized_twin(spec.method, True)})
    return [estimate(model, None, work, base_dtype),
            estimate(model, lora, work, base_dtype, quantized=False),
            estimate(model, qlora, work, base_dtype, quantized=True)]


__all__ = ["MemoryEstimate", "MemoryRow", "Workload", "estimate", "memory_estimate", "quant_constants_bytes",
           "DTYPE_BYTES", "CPU_BASELINE_MB", "CUDA_CONTEXT_MB"]

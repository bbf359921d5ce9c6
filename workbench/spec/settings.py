"""Run settings: small dataclasses with field docs and validation that names the bad field.

A training run is exactly one ``RunSpec`` saved as YAML. The same file runs from the page,
from the terminal (``python -m workbench train run.yaml``) and under ``accelerate launch``.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from workbench.errors import SpecError
from workbench.spec import methods
from workbench.spec import targets


TRACKERS = ("trackio", "tensorboard", "wandb", "mlflow")
"""What ``train.report_to`` may name: transformers' own integrations (core/training/trackers.py configures them)."""
LOCAL_TRACKERS = ("trackio", "tensorboard")
"""The trackers that write only to this machine (installed by the README's set-up; all that public mode offers)."""
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _require(cond: bool, field_name: str, msg_id: str, /, **params: Any) -> None:
    if not cond:
        raise SpecError(field_name, msg_id, **params)


@dataclass
class ModelSpec:
    name: str = "smollm2-135m-instruct"
    """Preset name (presets/models.yaml), hub id, local checkpoint dir, or path to a config.json."""
    dtype: str = "auto"
    """Weights dtype for training/generation: auto | float32 | bfloat16 | float16."""

    def __post_init__(self):
        _require(isinstance(self.name, str) and self.name.strip() != "", "model.name", "settings.non_empty_string")
        _require(self.dtype in ("auto", "float32", "bfloat16", "float16"), "model.dtype",
                 "settings.one_of", choices="auto, float32, bfloat16, float16", value=self.dtype)


@dataclass
class AdapterSpec:
    method: str = "lora"
    """The PEFT method (lora, dora, qlora, loha, vera, oft, prompt_tuning, ia3, ln_tuning, last_layers, full ...):
    ``workbench methods`` lists them all, by group."""
    r: int = 8
    """LoRA rank: the inner size of the low-rank update B @ A (params per layer = r * (in + out))."""
    alpha: float = 16
    """LoRA alpha: the update is scaled by alpha / r (alpha / sqrt(r) with use_rslora)."""
    dropout: float = 0.05
    """Dropout on the LoRA input path during training."""
    target_modules: list[str] | str | None = None
    """Module names (leaf names or a regex string) to adapt; None = PEFT's default for the architecture; 'all-linear'."""
    use_rslora: bool = False
    """Rank-stabilised LoRA: scale by alpha / sqrt(r) so larger ranks keep learning."""
    use_dora: bool = False
    """DoRA: split weights into magnitude and direction; adds one magnitude vector per adapted layer."""
    init_lora_weights: str | bool = True
    """LoRA init: true (B=0, Kaiming A), 'gaussian', 'pissa', 'olora', 'loftq' ... (PEFT's options)."""
    bias: str = "none"
    """Which biases train too: none | all | lora_only."""
    modules_to_save: list[str] | None = None
    """Modules trained in full alongside the adapter (e.g. lm_head)."""
    num_virtual_tokens: int = 20
    """Prompt/prefix/P-tuning: how many learned virtual tokens are put in front of the input."""
    prompt_tuning_init: str = "random"
    """Prompt tuning init: random | text (start from the embeddings of prompt_tuning_init_text)."""
    prompt_tuning_init_text: str | None = None
    """Text whose token embeddings initialise the prompt when prompt_tuning_init = text."""
    encoder_reparameterization_type: str = "MLP"
    """P-tuning prompt encoder: MLP | LSTM."""
    encoder_hidden_size: int | None = None
    """P-tuning encoder hidden size (None = model hidden size)."""
    prefix_projection: bool = False
    """Prefix tuning: learn prefixes through a 2-layer MLP (more params, often more stable)."""
    prefix_hidden_size: int | None = None
    """Prefix projection MLP hidden size (None = model hidden size)."""
    feedforward_modules: list[str] | str | None = None
    """IA3: which targets are feed-forward (scaled on their input); None = PEFT default."""
    bnb_4bit_quant_type: str = "nf4"
    """QLoRA: 4-bit data type, nf4 (normal float, QLoRA's choice) or fp4."""
    bnb_4bit_use_double_quant: bool = True
    """QLoRA: quantise the quantisation constants too (~0.37 bits/param saved)."""
    options: dict[str, Any] = field(default_factory=dict)
    """The method's own settings beyond the shared ones (FourierFT's n_frequency, last_layers' num_layers, LoRA's
    layers_to_transform ...); ``workbench methods`` lists each method's knobs and their defaults."""
    bnb_4bit_compute_dtype: str = "auto"
    """QLoRA: dtype the 4-bit weights are dequantised to for matmuls (auto = bfloat16 where the GPU or CPU runs it
    natively, float16 on other GPUs, float32 on other CPUs)."""

    def __post_init__(self):
        if self.method not in methods.names():
            raise methods.unknown(self.method)
        if self.options is None:
            self.options = {}
        _require(isinstance(self.options, dict), "adapter.options", "settings.mapping")
        _require(isinstance(self.r, int) and 1 <= self.r <= 4096, "adapter.r", "settings.int_range", lo=1, hi=4096,
                 value=self.r)
        _require(isinstance(self.alpha, (int, float)) and self.alpha > 0, "adapter.alpha", "settings.positive",
                 value=self.alpha)
        _require(isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1, "adapter.dropout", "settings.in_range",
                 range="[0, 1)", value=self.dropout)
        _require(self.bias in ("none", "all", "lora_only"), "adapter.bias", "settings.either", choices="none, all",
                 last="lora_only", value=self.bias)
        _require(isinstance(self.num_virtual_tokens, int) and 1 <= self.num_virtual_tokens <= 1024,
                 "adapter.num_virtual_tokens", "settings.int_range", lo=1, hi=1024, value=self.num_virtual_tokens)
        _require(self.prompt_tuning_init in ("random", "text"), "adapter.prompt_tuning_init",
                 "settings.either", choices="random", last="text", value=self.prompt_tuning_init)
        record = methods.get(self.method)
        record.check_options(self.options)
        if record.check is not None:  # the method's own rules (prompt tuning: text init needs its text)
            record.check(self)
        _require(self.encoder_reparameterization_type in ("MLP", "LSTM"), "adapter.encoder_reparameterization_type",
                 "settings.either", choices="MLP", last="LSTM", value=self.encoder_reparameterization_type)
        _require(self.bnb_4bit_quant_type in ("nf4", "fp4"), "adapter.bnb_4bit_quant_type",
                 "settings.either", choices="nf4", last="fp4", value=self.bnb_4bit_quant_type)
        _require(self.bnb_4bit_compute_dtype in ("auto", "bfloat16", "float16", "float32"),
                 "adapter.bnb_4bit_compute_dtype", "settings.either", choices="auto, bfloat16, float16", last="float32",
                 value=self.bnb_4bit_compute_dtype)
        if isinstance(self.target_modules, list):
            _require(all(isinstance(t, str) and t for t in self.target_modules), "adapter.target_modules",
                     "settings.module_names")
            _require(len(self.target_modules) > 0, "adapter.target_modules", "settings.empty_list")
        try:
            self.target_modules = targets.from_config(self.target_modules)
        except targets.TargetError as e:
            raise SpecError("adapter.target_modules", "common.unexpected", detail=e.message) from None
        for name, value in record.fixed_knobs:  # dora: use_dora = True
            setattr(self, name, value)

    def knob(self, name: str) -> Any:
        """The value of one of the method's knobs: a shared field, or one of its options (its default when unset)."""
        option = methods.get(self.method).option(name)
        if option is None:
            return getattr(self, name)
        return self.options.get(name, option.default)

    def with_knob(self, name: str, value: Any) -> "AdapterSpec":
        """A copy with one knob set (a shared field, or one of the method's options), validated again."""
        if methods.get(self.method).option(name) is None:
            return dataclasses.replace(self, **{name: value})
        return dataclasses.replace(self, options={**self.options, name: value})

    def peft_options(self) -> dict[str, Any]:
        """The method's options as PEFT config kwargs: every option of the record at its value (the default when
        unset), under its PEFT name; the ones the workbench reads itself (``peft_name="-"``) left out."""
        out = {}
        for o in methods.get(self.method).options:
            if o.peft_name != "-":
                out[o.peft_name or o.name] = self.options.get(o.name, o.default)
        return out

    @property
    def is_lora(self) -> bool:
        """LoRA family (lora, dora, qlora ...): a rank-r update of wrapped layers."""
        return methods.get(self.method).has_rank

    @property
    def is_quantized(self) -> bool:
        """The frozen base is loaded in 4-bit (qlora): the method's registry record says so."""
        return methods.get(self.method).quantized

    @property
    def is_prompt_learning(self) -> bool:
        """Prompt / prefix / P-tuning: learned virtual tokens, no wrapped layers (the registry record says so)."""
        return methods.get(self.method).is_prompt_learning


@dataclass
class DataSpec:
    name: str = "json-format"
    """Shipped dataset name (presets/datasets/<name>), a .jsonl/.csv path, or a hub dataset id."""
    prompt_column: str | None = None
    """Column holding the prompt (auto-detected: prompt, instruction, question, input)."""
    response_column: str | None = None
    """Column holding the response (auto-detected: response, output, answer, completion)."""
    max_length: int = 256
    """Examples are truncated to this many tokens."""
    train_on_prompt: bool = False
    """False = loss only on the response tokens (the usual SFT choice); True = on every token."""
    use_chat_template: bool = True
    """Render examples with the model's chat template (user prompt, assistant response)."""
    limit: int | None = None
    """Use only the first N training examples (None = all)."""
    heldout_limit: int | None = None
    """Use only the first N held-out examples for the held-out loss: the training curve's eval loss and a scored
    run's eval_loss (None = all). Experiments set 16, so that one pass costs seconds, not the run's training time."""

    def __post_init__(self):
        _require(isinstance(self.name, str) and self.name.strip() != "", "data.name", "settings.non_empty_string")
        _require(isinstance(self.max_length, int) and 8 <= self.max_length <= 32768, "data.max_length",
                 "settings.int_range", lo=8, hi=32768, value=self.max_length)
        _require(self.limit is None or (isinstance(self.limit, int) and self.limit > 0), "data.limit",
                 "settings.positive_int_or_null", value=self.limit)
        _require(self.heldout_limit is None or (isinstance(self.heldout_limit, int) and not isinstance(
            self.heldout_limit, bool) and self.heldout_limit > 0), "data.heldout_limit",
                 "settings.positive_int_or_null", value=self.heldout_limit)


@dataclass
class TrainSpec:
    max_steps: int = 60
    """Optimizer steps to run."""
    learning_rate: float = 2e-4
    """Peak learning rate (LoRA likes ~1e-4..5e-4; prompt tuning wants more, ~1e-2..3e-2)."""
    batch_size: int = 8
    """Examples per device per step."""
    grad_accum: int = 1
    """Gradient accumulation steps (effective batch = batch_size * grad_accum * processes)."""
    warmup_steps: int = 5
    """Linear warm-up steps."""
    lr_scheduler: str = "linear"
    """Learning-rate schedule after warm-up: linear | cosine | constant."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    logging_steps: int = 1
    """Log loss every N steps (the live curve's resolution)."""
    save_steps: int = 20
    """Write a resumable checkpoint every N steps."""
    eval_steps: int | None = None
    """Evaluate held-out loss every N steps (None = only at the end)."""
    seed: int = 42
    """Seed for data order and adapter init."""
    precision: str = "auto"
    """auto | fp32 | bf16 | fp16. auto = bf16 on GPUs and CPUs (AVX-512 BF16 / AMX) that support it, fp32 elsewhere."""
    group_by_length: bool = True
    """Batch examples of similar length together so little compute goes to padding."""
    device: str = "auto"
    """auto (CUDA, then MPS, then CPU) | cuda | mps | cpu."""
    max_wall_seconds: float | None = None
    """Stop the run (saving the adapter) after this many seconds."""
    eval_at_end: bool = True
    """Compute held-out loss when the run finishes."""
    score_prompts: int = 16
    """When the run finishes, score the adapter on this many held-out prompts with the dataset's task metric
    (batched greedy answers; metrics.json and the runs table). 0 = off."""
    forgetting: bool = True
    """When the run finishes, measure its forgetting: how much the adapter raised the model's mean token loss on a
    fixed page of general text it never trained on (presets/general_text/; forgetting.json). A few seconds on a
    small model (the base pass once per process); off leaves ``forgetting`` empty, as test runs do for speed."""
    report_to: list[str] = field(default_factory=list)
    """Trackers that also get the run's metrics: any of trackio | tensorboard | wandb | mlflow (empty = none; nothing
    logs anywhere unless asked). TensorBoard writes to <run>/tensorboard/, Trackio to its local store (``trackio
    show``); wandb and mlflow need their package installed. Public mode offers only trackio and tensorboard."""
    tracker_project: str | None = None
    """The project (Trackio, W&B) or MLflow experiment these metrics go to: letters, digits, '.', '_', '-'.
    None = ``workbench``; every run of an experiment gets the experiment's name."""

    def __post_init__(self):
        if isinstance(self.report_to, str):  # one tracker written without the list brackets
            self.report_to = [self.report_to]
        _require(isinstance(self.report_to, (list, tuple)), "train.report_to", "settings.trackers",
                 choices=", ".join(TRACKERS), value=self.report_to)
        for name in self.report_to:
            _require(name in TRACKERS, "train.report_to", "settings.unknown_tracker", choices=", ".join(TRACKERS),
                     value=name)
        self.report_to = list(dict.fromkeys(self.report_to))  # a list (YAML round trip), each tracker once
        _require(self.tracker_project is None or (isinstance(self.tracker_project, str)
                                                  and _PLAIN_NAME.fullmatch(self.tracker_project) is not None),
                 "train.tracker_project", "settings.plain_name", value=self.tracker_project)
        for name in ("max_steps", "batch_size", "grad_accum", "logging_steps", "save_steps"):
            v = getattr(self, name)
            _require(isinstance(v, int) and v >= 1, f"train.{name}", "settings.int_min", lo=1, value=v)
        _require(isinstance(self.warmup_steps, int) and self.warmup_steps >= 0, "train.warmup_steps",
                 "settings.int_min", lo=0, value=self.warmup_steps)
        _require(isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < 1, "train.learning_rate",
                 "settings.in_range", range="(0, 1)", value=self.learning_rate)
        _require(self.lr_scheduler in ("linear", "cosine", "constant", "constant_with_warmup"), "train.lr_scheduler",
                 "settings.either", choices="linear, cosine", last="constant", value=self.lr_scheduler)
        _require(self.precision in ("auto", "fp32", "bf16", "fp16"), "train.precision",
                 "settings.either", choices="auto, fp32, bf16", last="fp16", value=self.precision)
        _require(self.device in ("auto", "cuda", "mps", "cpu"), "train.device",
                 "settings.either", choices="auto, cuda, mps", last="cpu", value=self.device)
        _require(self.eval_steps is None or (isinstance(self.eval_steps, int) and self.eval_steps >= 1),
                 "train.eval_steps", "settings.int_min_or_null", lo=1, value=self.eval_steps)
        _require(isinstance(self.score_prompts, int) and not isinstance(self.score_prompts, bool)
                 and 0 <= self.score_prompts <= 10_000, "train.score_prompts", "settings.int_range",
                 lo=0, hi=10_000, value=self.score_prompts)
        _require(self.max_wall_seconds is None or self.max_wall_seconds > 0, "train.max_wall_seconds",
                 "settings.positive_or_null", value=self.max_wall_seconds)


@dataclass
class RunSpec:
    model: ModelSpec = field(default_factory=ModelSpec)
    """The base model."""
    adapter: AdapterSpec = field(default_factory=AdapterSpec)
    """The PEFT method and its settings."""
    data: DataSpec = field(default_factory=DataSpec)
    """The training data."""
    train: TrainSpec = field(default_factory=TrainSpec)
    """Optimisation settings."""
    name: str | None = None
    """A label for the run (shown in the run list)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_yaml(), encoding="utf-8")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunSpec":
        if not isinstance(d, dict):
            raise SpecError("config", "settings.config_sections")
        sections = {"model": ModelSpec, "adapter": AdapterSpec, "data": DataSpec, "train": TrainSpec}
        unknown = set(d) - set(sections) - {"name"}
        if unknown:
            raise SpecError(sorted(unknown)[0], "settings.unknown_section",
                            sections=", ".join(list(sections) + ["name"]))
        kwargs: dict[str, Any] = {"name": d.get("name")}
        for key, klass in sections.items():
            kwargs[key] = _build(klass, d.get(key) or {}, key)
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls, text: str) -> "RunSpec":
        try:
            d = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise SpecError("config", "settings.invalid_yaml", detail=str(e)) from None
        return cls.from_dict(d)

    @classmethod
    def load(cls, path: str | Path) -> "RunSpec":
        p = Path(path)
        if not p.is_file():
            raise SpecError("config", "settings.file_not_found", path=str(p))
        return cls.from_yaml(p.read_text(encoding="utf-8"))


def _build(klass, d: dict[str, Any], section: str):
    if not isinstance(d, dict):
        raise SpecError(section, "settings.mapping")
    known = {f.name for f in fields(klass)}
    for k in d:
        if k not in known:
            import difflib

            from workbench.messages import Message
            close = difflib.get_close_matches(k, sorted(known), n=3)
            hint = Message("settings.did_you_mean", {"close": ", ".join(close)}) if close else ""
            raise SpecError(f"{section}.{k}", "settings.unknown_setting", hint=hint)
    return klass(**d)


def field_docs(klass) -> dict[str, str]:
    """The one-line docstring under each field (used for in-app help and docs)."""
    import ast
    import inspect
    import textwrap

    src = textwrap.dedent(inspect.getsource(klass))
    body = ast.parse(src).body[0].body
    docs: dict[str, str] = {}
    for a, b in zip(body, body[1:]):
        if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr) and isinstance(getattr(b, "value", None), ast.Constant):
            docs[a.target.id] = str(b.value.value)
    return docs

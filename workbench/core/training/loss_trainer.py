"""``FastLossTrainer``: transformers' Trainer with the loss of ``kernels.selected_loss`` (see that module), and
``trainer_class``, which picks it where it is exact.

Apart from the loss so that evaluation, which needs only the loss, does not import the Trainer (1.2 s on a 2-core
CPU).
"""
from __future__ import annotations

from transformers import Trainer

from workbench.core.env import env_flag, env_int
from workbench.core.kernels import selected_loss as loss_kernel
from workbench.core.kernels.selected_loss import CHUNK_TOKENS, IGNORE_INDEX


class FastLossTrainer(Trainer):
    """transformers.Trainer with the training loss of ``selected_loss`` (see the module docstring)."""

    def _fast_path_ok(self, model, inputs: dict, return_outputs: bool, evaluating: bool = False) -> bool:
        if return_outputs or (not model.training and not evaluating) or self.label_smoother is not None \
                or self.compute_loss_func:
            return False
        if set(inputs) - {"input_ids", "attention_mask", "labels"} or inputs.get("labels") is None:
            return False
        if model is not self.accelerator.unwrap_model(model):  # DDP & co. need their own forward
            return False
        return bool((inputs["labels"][:, 1:] != IGNORE_INDEX).any())

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not self._fast_path_ok(model, inputs, return_outputs):
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)
        n_items = num_items_in_batch if self.model_accepts_loss_kwargs else None
        loss = self._selected_loss(model, inputs, n_items)
        if (self.args.average_tokens_across_devices and self.model_accepts_loss_kwargs
                and num_items_in_batch is not None):  # as Trainer.compute_loss does
            loss = loss * (self.accelerator.num_processes // self.get_tp_size())
        return loss

    def _selected_loss(self, model, inputs: dict, num_items_in_batch=None):
        with self.accelerator.autocast():  # the autocast accelerate wraps model.forward in (bf16 / fp16)
            return loss_kernel.selected_loss(model, inputs["input_ids"], inputs.get("attention_mask"),
                                             inputs["labels"], num_items_in_batch=num_items_in_batch,
                                             share_prefix=env_flag("WORKBENCH_SHARE_PREFIX"),
                                             chunk_tokens=env_int("WORKBENCH_LOSS_CHUNK", CHUNK_TOKENS))

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """The held-out loss alone (runs evaluate with ``prediction_loss_only``): the same selected loss as training,
        under no_grad, so evaluation neither runs the vocabulary head at every position nor keeps the logits.
        Anything else is Trainer's own prediction_step."""
        import torch
        inputs = self._prepare_inputs(inputs)
        if not prediction_loss_only or not self._fast_path_ok(model, inputs, False, evaluating=True):
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
        with torch.no_grad():
            loss = self._selected_loss(model, inputs)
        return loss.detach(), None, None


def trainer_class(model):
    """FastLossTrainer where it is exact for ``model`` (and not switched off), else transformers' Trainer."""
    if not loss_kernel.enabled() or loss_kernel.unsupported_reason(model) is not None:
        return Trainer
    return FastLossTrainer

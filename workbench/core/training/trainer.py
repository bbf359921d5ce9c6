"""Train one run directory with transformers.Trainer + PEFT, from its config.yaml alone.

The chain, each step a plain function::

    run_training(run_dir)            status running -> done | stopped | failed
      load_for_training(spec)        base model (4-bit for qlora) + get_peft_model(build_peft_config(...))
      datasets.build_datasets(...)   tokenized train / held-out splits with the loss mask
      training_arguments(...)        TrainingArguments from TrainSpec (+ env caps; train.report_to: trackers.py)
      Trainer(..., RunCallback)      log.jsonl, status.json, STOP file, wall-clock limit
      forgetting.record(...)         forgetting.json: general-text loss, adapter on - off (done; train.forgetting)
      save_adapter(...)              adapter/ (PeftModel.save_pretrained); its size -> adapter_mb

The same function runs in the web server's worker process (``python -m workbench train --run-dir DIR``),
from the terminal, and under ``accelerate launch --multi_gpu`` / ``torchrun`` (DDP; only rank 0 writes).

Environment caps (for shared servers; applied on top of the config):
  WORKBENCH_MAX_STEPS=N           no run trains more than N optimizer steps
  WORKBENCH_MAX_WALL_SECONDS=S    every run stops (saving its adapter) after S seconds of training
  (public mode, WORKBENCH_PUBLIC=1 or SPACE_ID: 100 steps / 900 s unless set; 0 = no cap; core/training/run_limits.py)
"""
from __future__ import annotations

import errno
import os
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.messages import Message
from workbench.spec.settings import RunSpec
from workbench.core.model.memory_estimate import EAGER_MAX_TOKENS  # the estimate follows pick_attention's rule
from workbench.core.model.precision import mixed_precision
from workbench.core.runstore import run_dirs as runs
from workbench.core.training.run_limits import run_limits
from workbench.core.training import trackers
from workbench.core.training.callbacks import STOP_USER, RunCallback, own_cpu_s, dist_info, extra_callbacks, peak_mem_mb
from workbench.core.export.model_card import write_model_card_safely
from workbench.core.training.run_score import score_after_training
from workbench.core.evaluation.forgetting import record as record_forgetting
from workbench.core.model.adapter_files import adapter_mb
from workbench.core.runstore.status import RunStatus
from workbench.core.training.model_setup import (before_training, load_for_training, method_callbacks,
                                                 method_optimizers, save_adapter, trainable_and_total)


class TrainingFailed(WorkbenchError):
    """A run failed; the message is the one-line error also stored in status.json."""


@dataclass
class TrainOutcome:
    """What run_training produced: the final status plus the in-memory model (for tests and notebooks)."""
    status: RunStatus
    model: Any
    tokenizer: Any
    adapter_dir: Path | None


# --------------------------------------------------------------------------- building blocks

def effective_limits(spec: RunSpec, max_steps_override: int | None = None) -> tuple[int, float | None]:
    """(max_steps, max_wall_seconds) after the override and the caps (WORKBENCH_MAX_*; public-mode defaults)."""
    limits = run_limits()  # env caps; public mode (issue 13) has them on by default
    steps = max_steps_override or spec.train.max_steps
    cap = limits.max_steps
    if cap is not None and cap > 0:
        steps = min(steps, cap)
    wall = spec.train.max_wall_seconds
    wcap = limits.max_wall_seconds
    if wcap is not None and wcap > 0:
        wall = wcap if wall is None else min(wall, wcap)
    return steps, wall


def pick_attention(model, device: str, bf16: bool, longest: int) -> None:
    """CPU + bf16 autocast with examples of <= 256 tokens: switch SDPA to eager attention.

    PyTorch's CPU flash-attention backward is slow in bf16 at these lengths; eager attention made steps
    1.2-1.3x faster at 80-128 tokens and was even at 256 (measured, see BENCHMARKS.md)."""
    if device != "cpu" or not bf16 or longest > EAGER_MAX_TOKENS:
        return
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(base.config, "_attn_implementation", None) == "sdpa" and hasattr(base, "set_attn_implementation"):
        try:
            base.set_attn_implementation("eager")
        except Exception:  # an architecture without eager attention keeps SDPA
            pass


def training_arguments(spec: RunSpec, run_dir: Path, device: str, max_steps: int, has_eval: bool):
    """TrainingArguments for a run: checkpoints under run_dir/checkpoints (the last 2 kept)."""
    from transformers import TrainingArguments
    t = spec.train
    bf16, fp16 = mixed_precision(t.precision, device, quantized=spec.adapter.is_quantized)
    scheduler = "constant_with_warmup" if t.lr_scheduler == "constant" and t.warmup_steps else t.lr_scheduler
    eval_steps = t.eval_steps if (t.eval_steps and has_eval) else None
    return TrainingArguments(
        output_dir=str(run_dir / "checkpoints"), max_steps=max_steps, learning_rate=t.learning_rate,
        lr_scheduler_type=scheduler, warmup_steps=t.warmup_steps, weight_decay=t.weight_decay,
        per_device_train_batch_size=t.batch_size, per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum, logging_steps=t.logging_steps,
        save_strategy="steps", save_steps=t.save_steps, save_total_limit=2,
        eval_strategy="steps" if eval_steps else "no", eval_steps=eval_steps,
        prediction_loss_only=True,  # the held-out loss is all a run reads: no logits kept across the eval set
        seed=t.seed, train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        remove_unused_columns=False, dataloader_num_workers=0, label_names=["labels"],
        include_num_input_tokens_seen="non_padding", bf16=bf16, fp16=fp16, use_cpu=device == "cpu",
        ddp_find_unused_parameters=False, **trackers.arguments(spec, run_dir))  # train.report_to (none by default)


def describe_error(e: BaseException) -> Message:
    """One line a learner can act on (a catalogue message; ``str()`` of it is the English line)."""
    import torch
    kind = type(e).__name__
    first = str(e).strip().splitlines()[0][:400] if str(e).strip() else ""
    if isinstance(e, (torch.OutOfMemoryError, MemoryError)):
        return Message("training.out_of_memory", {"kind": kind})
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return Message("training.disk_full", {"detail": f"{kind}: {first}" if first else kind})
    if isinstance(e, WorkbenchError) and e.message is not None:  # the page words it in its own language
        return Message("training.exception", {"kind": kind, "detail": e.message})
    return Message("training.exception", {"kind": kind, "detail": first}) if first \
        else Message("common.unexpected", {"detail": kind})


# --------------------------------------------------------------------------- resume

def prepare_resume(run_dir: Path) -> tuple[Path | None, float]:
    """(checkpoint dir or None, elapsed seconds so far). Drops log rows past the checkpoint step."""
    ck = runs.last_checkpoint(run_dir)
    step = int(ck.name.split("-")[1]) if ck else 0
    rows = [r for r in runs.read_log_dir(run_dir) if r.get("step", 0) <= step]
    runs.truncate_log(run_dir, step)
    elapsed = max((r.get("elapsed_s") or 0.0 for r in rows), default=0.0)
    return ck, float(elapsed)


# --------------------------------------------------------------------------- the run

def run_training(run_dir: str | Path, resume: bool = False, max_steps_override: int | None = None) -> RunStatus:
    """Train the run in ``run_dir`` (config.yaml) to the end, a stop request or a failure; returns status.json.

    Raises TrainingFailed (after writing status 'failed', keeping the checkpoints and saving the
    adapter at its last state when possible) if anything goes wrong.
    """
    return execute(run_dir, resume=resume, max_steps_override=max_steps_override).status


def execute(run_dir: str | Path, resume: bool = False, max_steps_override: int | None = None,
            shared=None) -> TrainOutcome:
    """run_training, also returning the in-memory PeftModel and tokenizer.

    ``shared`` (an experiment's ``runner.SharedBase``) supplies the model and the tokenized data from what
    it keeps between runs: ``shared.load_for_training(spec, device)``, ``shared.build_datasets(data_spec, tok)``."""
    run_dir = Path(run_dir).resolve()
    rank, world_size = dist_info()
    main = rank == 0
    model = tok = trainer = cb = None
    try:
        spec = RunSpec.load(run_dir / "config.yaml")
        trackers.check(spec, public=False)  # a tracker whose package is missing fails here, with the pip command
        ck, elapsed0, max_steps, max_wall = begin_run(run_dir, spec, main, world_size, resume, max_steps_override)
        from workbench.core.data import datasets as data
        from workbench.core.training.loss_trainer import trainer_class  # loss only at labelled positions where exact
        from workbench.core.model.precision import pick_device
        from workbench.core.training.run_memory import run_estimate_mb

        device = pick_device(spec.train.device)
        model, tok = shared.load_for_training(spec, device) if shared else load_for_training(spec, device)
        before_training(model, spec, device, run_dir, main)  # LoftQ init; PiSSA / OLoRA keep their initial adapter
        bundle = shared.build_datasets(spec.data, tok) if shared else data.build_datasets(spec.data, tok)
        trainable, total = trainable_and_total(model)
        if main:
            runs.update_status(run_dir, device=device, dtype=_dtype_label(model, spec),
                               trainable_params=int(trainable), total_params=int(total),
                               n_train=bundle.n_train, n_eval=bundle.n_eval)
            est = run_estimate_mb(spec, device, bundle.train)
            if shared is not None and est is not None:  # the experiment's process also keeps the base it copies
                est = round(est + shared.resident_mb(), 1)
            runs.update_status(run_dir, est_mem_mb=est)
        with trackers.environment(spec, run_dir):  # what the trackers of train.report_to read (trackers.py)
            args = training_arguments(spec, run_dir, device, max_steps, has_eval=bundle.eval is not None)
            pick_attention(model, device, args.bf16, max(bundle.train["length"]))
            cb = RunCallback(run_dir, is_main=main, max_wall_seconds=max_wall, elapsed_offset=elapsed0)
            trainer = trainer_class(model)(model=model, args=args, train_dataset=bundle.train, eval_dataset=bundle.eval,
                                           data_collator=data.make_collator(tok), processing_class=tok,
                                           callbacks=[*extra_callbacks(run_dir), *method_callbacks(model, spec),
                                                      *(shared.callbacks() if shared is not None else []), cb],
                                           optimizers=method_optimizers(model, spec))  # LoRA+ when its ratio is set
            if main:
                runs.update_status(run_dir, world_size=args.world_size)
            out = trainer.train(resume_from_checkpoint=str(ck) if ck else None)
            step = trainer.state.global_step
            final: dict[str, Any] = {"step": step, "train_loss": cb.train_loss if cb.train_loss is not None
                                     else out.training_loss, "last_loss": cb.last_loss, "stop_reason": cb.stop_reason,
                                     "peak_mem_mb": peak_mem_mb(device), "cpu_s": own_cpu_s()}
            if cb.stop_code == STOP_USER:  # stopped by the user: no final evaluation
                final["status"] = "stopped"
            else:
                if spec.train.eval_at_end and bundle.eval is not None:
                    last = next((h for h in reversed(trainer.state.log_history) if "eval_loss" in h), None)
                    if last is not None and last.get("step") == step:  # eval_steps evaluated this very step already
                        final["eval_loss"] = float(last["eval_loss"])
                    else:
                        final["eval_loss"] = float(trainer.evaluate()["eval_loss"])
                final["status"] = "done"
        if args.bf16 or args.fp16:  # accelerate wrapped forward in autocast: hand back a plain model
            model = trainer.accelerator.unwrap_model(model, keep_fp32_wrapper=False)
        adapter, status = None, RunStatus(run_id=run_dir.name, **final)
        if main:
            ended = time.time()  # the run's wall time leaves out the measurements after training
            if final["status"] == "done" and spec.train.forgetting:  # its cost on general text (forgetting.json)
                final["forgetting"] = record_forgetting(run_dir, model, tok, spec.model.name)
            adapter = save_adapter(model, run_dir)
            if not hasattr(model, "peft_config"):  # full fine-tuning: a whole checkpoint, loadable with its tokenizer
                tok.save_pretrained(str(adapter))
            final["adapter_mb"] = adapter_mb(adapter)
            runs.stop_file(run_dir).unlink(missing_ok=True)
            status = runs.update_status(run_dir, **final, ended=ended, eta_s=0,
                                        adapter_dir=str(adapter), adapter_step=step)
            write_model_card_safely(run_dir)  # adapter/README.md (Hub conventions), replacing PEFT's generic card
            if shared is None and final["status"] == "done":  # an experiment scores its runs itself
                status = score_after_training(run_dir, spec) or status
        return TrainOutcome(status=status, model=model, tokenizer=tok, adapter_dir=adapter)
    except KeyboardInterrupt:
        _close_progress_bars(trainer)
        if main:
            _save_partial(model, run_dir, "stopped", stop_reason="interrupted (Ctrl-C)")
        raise
    except BaseException as e:
        _close_progress_bars(trainer)
        msg = describe_error(e)
        if main:
            _save_partial(model, run_dir, "failed", error=msg, tb=traceback.format_exc())
        raise TrainingFailed("training.run_failed", run_id=run_dir.name, detail=msg) from e


def begin_run(run_dir: Path, spec: RunSpec, main: bool, world_size: int, resume: bool,
              max_steps_override: int | None) -> tuple[Path | None, float, int, float | None]:
    """Mark the run running and prepare resume; returns (checkpoint, elapsed so far, max_steps, max_wall_s)."""
    status = runs.read_status(run_dir)
    # A STOP file is honoured only if it was meant for this very worker (the manager records its pid
    # before the worker starts); anything else is a stale request from an earlier session.
    stopping = status.status == "stopping" and status.pid == os.getpid()
    ck, elapsed0 = None, 0.0
    if main:
        if not stopping:
            runs.stop_file(run_dir).unlink(missing_ok=True)
        if resume:
            ck, elapsed0 = prepare_resume(run_dir)
        else:  # a fresh start: nothing of an earlier run in this directory may leak into this one
            runs.truncate_log(run_dir, 0)
            for sub in ("checkpoints", "adapter", trackers.TENSORBOARD_DIR):
                shutil.rmtree(run_dir / sub, ignore_errors=True)
    elif resume:
        ck = runs.last_checkpoint(run_dir)
    max_steps, max_wall = effective_limits(spec, max_steps_override)
    if main:
        runs.update_status(
            run_dir, status="stopping" if stopping else "running", run_id=status.run_id or run_dir.name,
            started=time.time(), ended=None, error=None, traceback=None, pid=os.getpid(), world_size=world_size,
            max_steps=max_steps, resumed_from=ck.name if ck else None, stop_reason=None,
            created=status.created or time.time(), method=spec.adapter.method, model=spec.model.name,
            dataset=spec.data.name, name=spec.name, step=int(ck.name.split("-")[1]) if ck else 0,
            train_loss=None, eval_loss=None, last_loss=None, eta_s=None, forgetting=None, adapter_mb=None)
    return ck, elapsed0, max_steps, max_wall


def _save_partial(model, run_dir: Path, status: str, error: Message | None = None, stop_reason: str | None = None,
                  tb: str | None = None) -> None:
    """On failure / interrupt: keep log and checkpoints, save the adapter as it is if possible."""
    fields: dict[str, Any] = {"status": status, "ended": time.time(), "peak_mem_mb": peak_mem_mb(),
                              "cpu_s": own_cpu_s()}
    if error is not None:
        fields.update(error=error, traceback=tb)
    if stop_reason is not None:
        fields["stop_reason"] = stop_reason
    if model is not None and hasattr(model, "save_pretrained"):
        try:
            fields["adapter_dir"] = str(save_adapter(model, run_dir))
            fields["adapter_mb"] = adapter_mb(fields["adapter_dir"])
            fields["adapter_step"] = runs.read_status(run_dir).step
        except Exception as e:  # the original error matters more
            fields["adapter_error"] = str(describe_error(e))
    runs.update_status(run_dir, **fields)
    if "adapter_dir" in fields:
        write_model_card_safely(run_dir)


def _close_progress_bars(trainer) -> None:
    """Close Trainer's tqdm bars so the error line printed next is the last line on the terminal."""
    for cb in getattr(getattr(trainer, "callback_handler", None), "callbacks", []):
        for attr in ("training_bar", "prediction_bar"):
            bar = getattr(cb, attr, None)
            if bar is not None:
                bar.close()
                setattr(cb, attr, None)


def _dtype_label(model, spec: RunSpec) -> str:
    base = str(getattr(model, "dtype", "")).replace("torch.", "")
    if spec.adapter.is_quantized:
        q = getattr(getattr(model, "config", None), "quantization_config", None)
        compute = str(getattr(q, "bnb_4bit_compute_dtype", spec.adapter.bnb_4bit_compute_dtype)).replace("torch.", "")
        return f"4-bit {spec.adapter.bnb_4bit_quant_type} (compute {compute})"
    return base


# --------------------------------------------------------------------------- CLI helpers

def prepare_run_dir(config: str | Path, output_dir: str | Path | None = None, max_steps: int | None = None,
                    resume: bool = False) -> Path:
    """The run directory for ``python -m workbench train CONFIG.yaml``.

    With ``output_dir`` the run lives there (an existing one is reused when resuming); otherwise a
    new run is created under runs_root(). Under torchrun / accelerate launch rank 0 creates it and
    tells the other ranks its name.
    """
    spec = RunSpec.load(config)
    trackers.check(spec, public=False)  # before a run folder exists: a missing tracker package is said at once
    if max_steps:
        spec.train.max_steps = max_steps
    rank, world_size = dist_info()
    if output_dir is not None:
        d = Path(output_dir).resolve()
        if rank == 0:
            d.mkdir(parents=True, exist_ok=True)
            if not (resume and (d / "config.yaml").is_file()):
                if (d / "status.json").is_file() and not resume:
                    st = runs.read_status(d)
                    if st.status in ("running", "stopping") and runs.pid_alive(st.pid):
                        raise WorkbenchError("runs.dir_still_running", path=str(d), pid=st.pid)
                spec.save(d / "config.yaml")
                runs.init_status(d, spec, d.name)
        _barrier(world_size)
        return d
    if resume:
        raise WorkbenchError("cli.resume_needs_dir")
    run_id = runs.create_run(spec) if rank == 0 else None
    if world_size > 1:
        run_id = _broadcast(run_id)
    return runs.safe_run_dir(run_id)


def _init_distributed():
    from accelerate import PartialState
    import torch
    return PartialState(cpu=not torch.cuda.is_available())


def _barrier(world_size: int) -> None:
    if world_size > 1:
        _init_distributed().wait_for_everyone()


def _broadcast(value):
    from accelerate.utils import broadcast_object_list
    _init_distributed()
    box = [value]
    broadcast_object_list(box, from_process=0)
    return box[0]

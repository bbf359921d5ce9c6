"""Training throughput: the workbench's lora-quick run vs a competent plain Trainer + PEFT script.

All runs train SmolLM2-135M-Instruct (embedded) with LoRA r=8 on q_proj,v_proj on the json-format dataset, same
batch size (8), steps, learning-rate schedule and seed, each in a fresh process (so peak RSS is its own).

  competent script   what a careful user writes: chat template with loss on the response only, PEFT +
                     transformers Trainer, ``DataCollatorForSeq2Seq`` dynamic padding (random order), ``bf16=True``
                     where the CPU has native bf16 (AVX-512 BF16 / AMX, ``precision.native_bf16``) or the GPU
                     supports it, SDPA attention. The goal's baseline.
  workbench          ``presets/recipes/lora-quick.yaml`` through ``workbench.core.training.trainer`` (checkpoints off, the
                     held-out loss at the end kept): length-grouped batches, bf16 autocast where native, eager
                     attention under CPU bf16, and ``core.kernels.selected_loss`` (vocabulary head + cross-entropy only at
                     labelled positions, the prefix all rows share run once per batch).
  old baseline       the first-script baseline kept as a second row: every example padded to the dataset's
                     longest, fp32, random order.

Figures (steady state: the first BENCH_WARMUP steps are left out):
  useful tokens/s   non-padding tokens per second (what the model actually learns from)
  s/step            wall time per optimizer step (data + forward + backward + optimizer + callbacks)
  peak RSS          the child process's ru_maxrss
  model GFLOP/s     4 * N_params * processed positions / s: forward 2*N*T, backward ~2*N*T (activation gradients
                    only; the base is frozen, LoRA's own FLOPs are <1%); attention score FLOPs (~2%) left out.
  executed GFLOP/s  the matmul FLOPs really run: the fast loss runs the head (28M of the 135M parameters) only at
                    labelled positions and a shared prefix at batch size 1, so it is below the model figure.
  of peak           executed FLOP/s / the faster of a 2048^3 fp32 and bf16 matmul measured in this run (8192^3
                    on a GPU).
  held-out loss     loss on the 50 test examples after the run (script and workbench); equal within noise =
                    within 5% or 0.02 (their batches hold the same examples in a different order).

    .venv/bin/python benchmarks/bench_train_throughput.py          # 12 steps each (first 2 not timed)
    BENCH_STEPS=30 ...                                             # more steps
    BENCH_QUICK=1 ...                                              # 5 steps each
    BENCH_ROUNDS=N ...                                             # script/workbench alternate N times (default 2),
                                                                   # the best run of each counts (noise only slows)
    BENCH_EXPLORE=1 ...                                            # also the levers: standard loss, no shared
                                                                   # prefix, chunked head, fp32, SDPA, random order,
                                                                   # 1 thread, batch 16, old baseline + bf16
    BENCH_EXPLORE=1 BENCH_COMPILE=1 ...                            # also: old baseline + torch.compile
A run whose process got less than 90% of its threads' CPU time (another process competed) is run again after
waiting for a quiet machine (BENCH_RETRIES, default 2).
Goals: >= 1.5x the competent script's useful tokens/s at an equal held-out loss; >= 50% of the measured matmul peak.

Levers, measured 2026-12-01 on a busy 2-core AMD EPYC without AVX-512 (load 7-19 from other work, so process CPU
seconds per forward + backward of one lora-quick batch of 8, fp32, 1 thread, same batches, median of 3; every
variant gave the same loss to 5 digits):
  standard Trainer loss (full logits)      7.89 s   1.00x
  head + CE at labelled positions only     6.70 s   1.18x   kept (core/kernels/selected_loss.py)
  + shared prefix run once per batch       4.66 s   1.69x   kept (37 of ~79 tokens are the same system prompt
                                                            and instruction in every json-format row)
  + head chunked by 64 positions           5.04 s   0.92x of the above: recompute; kept only above 2048 positions
  packing (DataCollatorWithFlattening)     9.71 s   not kept: slower (1% padding left to remove) and its loss is
                                                    wrong here (sdpa and eager: 1.717 packed vs 0.338 padded on
                                                    3 examples, transformers 5.24)
  torch.compile of the body                7.2-8.4 s vs 7.2-7.5 s eager (same shapes, no shared prefix, which a
                                           compiled body cannot take): no gain, 54 s first step; not kept
  threads: with 2 threads on the oversubscribed machine one forward + backward took 271 s wall, with 1 thread
           23 s wall (8.3 s CPU); on a quiet machine 2 threads are faster (BENCHMARKS.md): left as it is.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import (REPO, emit, env_int, flag, machine, matmul_peak, quick, run_child, table,  # noqa: E402
                     wait_for_quiet)
from _train_child import ShapeLog, run_workbench, step_timer, summarize  # noqa: E402

RECIPE = REPO / "presets" / "recipes" / "lora-quick.yaml"
N_PARAMS = 134_515_008  # SmolLM2-135M, tied embeddings counted once (the lm_head matmul uses them)


# --------------------------------------------------------------------------- children: the two baselines

def _rows(split: str = "train") -> list[dict]:
    path = REPO / f"presets/datasets/json-format/{split}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _encode_chat(tok, rows: list[dict], max_length: int) -> tuple[list[list[int]], list[list[int]]]:
    """Chat template, loss on the response (and its end-of-turn) only: what a careful user writes by hand."""
    ids, labels = [], []
    for r in rows:
        prompt = tok.apply_chat_template([{"role": "user", "content": r["prompt"]}], tokenize=False,
                                         add_generation_prompt=True)
        full = prompt + r["response"] + "<|im_end|>\n"
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        f_ids = tok(full, add_special_tokens=False)["input_ids"][:max_length]
        ids.append(f_ids)
        labels.append([-100] * len(p_ids) + f_ids[len(p_ids):])
    return ids, labels


def _lora_model(ckpt, a_cfg: dict, seed: int):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, set_seed
    set_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32)
    return get_peft_model(model, LoraConfig(r=a_cfg["r"], lora_alpha=a_cfg["alpha"], lora_dropout=a_cfg["dropout"],
                                            target_modules=a_cfg["target_modules"], task_type="CAUSAL_LM"))


def child_competent(steps: int, warm: int, opts: dict) -> dict:
    """The competent plain script: PEFT + Trainer, DataCollatorForSeq2Seq (dynamic padding, random order),
    bf16 autocast where the CPU (or GPU) has native bf16, same LoRA config, data, seed, batch and schedule."""
    import torch
    import yaml
    from datasets import Dataset
    from transformers import AutoTokenizer, DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from workbench.core.model.loading import embedded_checkpoint_dir
    from workbench.core.model.precision import native_bf16
    ckpt = embedded_checkpoint_dir()
    cfg = yaml.safe_load(RECIPE.read_text())
    t_cfg, a_cfg = cfg["train"], cfg["adapter"]
    tok = AutoTokenizer.from_pretrained(ckpt)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    ids, labels = _encode_chat(tok, _rows("train"), cfg["data"]["max_length"])
    ds = Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids], "labels": labels})
    e_ids, e_labels = _encode_chat(tok, _rows("test"), cfg["data"]["max_length"])
    eval_ds = Dataset.from_dict({"input_ids": e_ids, "attention_mask": [[1] * len(x) for x in e_ids],
                                 "labels": e_labels})
    cuda = torch.cuda.is_available()
    bf16 = native_bf16("cuda" if cuda else "cpu")
    model = _lora_model(ckpt, a_cfg, t_cfg["seed"])
    timer = step_timer()
    shapes = ShapeLog(DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100))
    with tempfile.TemporaryDirectory() as td:
        args = TrainingArguments(output_dir=td, max_steps=steps, learning_rate=t_cfg["learning_rate"],
                                 per_device_train_batch_size=t_cfg["batch_size"], warmup_steps=t_cfg["warmup_steps"],
                                 lr_scheduler_type=t_cfg["lr_scheduler"], logging_steps=1, save_strategy="no",
                                 report_to=[], seed=t_cfg["seed"], use_cpu=not cuda,
                                 include_num_input_tokens_seen="non_padding", bf16=bf16, disable_tqdm=True,
                                 per_device_eval_batch_size=t_cfg["batch_size"])
        t0 = time.perf_counter()
        trainer = Trainer(model=model, args=args, train_dataset=ds, eval_dataset=eval_ds, data_collator=shapes,
                          callbacks=[timer])
        out = trainer.train()
        total = time.perf_counter() - t0
        eval_loss = float(trainer.evaluate()["eval_loss"]) if opts.get("eval", True) else None
    return summarize(timer, shapes.processed, warm, t_cfg["batch_size"],
                     dict(total_s=total, final_loss=out.training_loss, eval_loss=eval_loss, losses=timer.losses,
                          threads=torch.get_num_threads(), device="cuda" if cuda else "cpu",
                          dtype="float32" + (" + bf16 autocast" if bf16 else ""), attention="sdpa"),
                     batches=shapes.batches, fast_loss=False)


def child_baseline(steps: int, warm: int, opts: dict) -> dict:
    """The old first-script baseline: pad to the dataset's longest example, fp32, random order."""
    import torch
    import yaml
    from datasets import Dataset
    from transformers import AutoTokenizer, Trainer, TrainingArguments

    from workbench.core.model.loading import embedded_checkpoint_dir
    ckpt = embedded_checkpoint_dir()
    cfg = yaml.safe_load(RECIPE.read_text())
    t_cfg, a_cfg = cfg["train"], cfg["adapter"]
    tok = AutoTokenizer.from_pretrained(ckpt)
    ids, labels = _encode_chat(tok, _rows("train"), cfg["data"]["max_length"])
    longest = max(map(len, ids))
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    ds = Dataset.from_dict({
        "input_ids": [x + [pad] * (longest - len(x)) for x in ids],
        "attention_mask": [[1] * len(x) + [0] * (longest - len(x)) for x in ids],
        "labels": [y + [-100] * (longest - len(y)) for y in labels]})
    ds.set_format("torch")
    model = _lora_model(ckpt, a_cfg, t_cfg["seed"])
    timer = step_timer()
    collate = ShapeLog(lambda features: {k: torch.stack([f[k] for f in features]) for k in features[0]})

    with tempfile.TemporaryDirectory() as td:
        args = TrainingArguments(output_dir=td, max_steps=steps, learning_rate=t_cfg["learning_rate"],
                                 per_device_train_batch_size=t_cfg["batch_size"], warmup_steps=t_cfg["warmup_steps"],
                                 logging_steps=1, save_strategy="no", report_to=[], seed=t_cfg["seed"],
                                 use_cpu=not torch.cuda.is_available(), include_num_input_tokens_seen="non_padding",
                                 bf16=bool(opts.get("bf16")), torch_compile=bool(opts.get("compile")),
                                 disable_tqdm=True)
        t0 = time.perf_counter()
        trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=collate, callbacks=[timer])
        out = trainer.train()
        total = time.perf_counter() - t0
    return summarize(timer, collate.processed, warm, t_cfg["batch_size"],
                     dict(total_s=total, final_loss=out.training_loss, longest=longest, threads=torch.get_num_threads(),
                          losses=timer.losses, dtype="float32" + (" + bf16 autocast" if opts.get("bf16") else ""),
                          compile=bool(opts.get("compile")),
                          device="cuda" if torch.cuda.is_available() else "cpu"),
                     batches=collate.batches, fast_loss=False)


# --------------------------------------------------------------------------- parent

def flops(tok_s: float) -> float:
    return 4 * N_PARAMS * tok_s


def is_bf16(r: dict) -> bool:
    return "bf16" in str(r.get("dtype")) or "bfloat16" in str(r.get("dtype"))


LOSS_TOL = 0.05
"""Held-out losses within 5% (or 0.02 absolute) of each other count as an equal loss curve: the two runs see
the same examples in a different order (random vs length-grouped batches), which moves the loss by about that."""


def loss_equal(a: float | None, b: float | None) -> bool | None:
    if a is None or b is None:
        return None
    return abs(a - b) <= max(0.02, LOSS_TOL * b)


def run_plan(me: Path, plan: list, steps: int) -> list[dict]:
    """Run each (label, kind, opts, env); retry a run that shared the CPU; keep the best run of each label."""
    best: dict[str, dict] = {}
    retries = env_int("BENCH_RETRIES", 2)
    for label, kind, opts, env in plan:
        for attempt in range(retries + 1):
            t0 = time.perf_counter()
            r = run_child(me, ["--child", kind, "--steps", str(steps), "--opts", json.dumps(opts)], env=env)
            r["label"], r["wall_s"] = label, time.perf_counter() - t0
            print(f"  {label}: {r['useful_tok_s']:.0f} useful tok/s, {r['s_per_step']:.2f} s/step, CPU use "
                  f"{r['cpu_util']:.2f} of {r['threads']} cores, load {r['load_during']:.1f} "
                  f"({r['wall_s']:.0f} s incl. start-up)", flush=True)
            if r.get("device") == "cuda" or r["cpu_util"] >= 0.9 * r["threads"] or attempt == retries:
                break
            print("    (another process took CPU during this run: waiting for quiet and running it again)", flush=True)
            wait_for_quiet("train_throughput")
        r["runs"] = best.get(label, {}).get("runs", 0) + 1
        if label not in best or r["useful_tok_s"] > best[label]["useful_tok_s"]:
            best[label] = r
        else:
            best[label]["runs"] = r["runs"]
    return list(best.values())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", choices=["workbench", "competent", "baseline", "peak"])
    ap.add_argument("--opts", default="{}")
    ap.add_argument("--steps", type=int)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    default_steps = 5 if quick() else 12
    steps = args.steps or env_int("BENCH_STEPS", default_steps)
    warm = env_int("BENCH_WARMUP", 2 if steps > 4 else 1)
    if args.child:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        opts = json.loads(args.opts)
        if args.child == "peak":
            emit({"fp32": matmul_peak("float32"), "bf16": matmul_peak("bfloat16")})
        elif args.child == "workbench":
            emit(run_workbench(RECIPE, steps, warm, opts))
        elif args.child == "competent":
            emit(child_competent(steps, warm, opts))
        else:
            emit(child_baseline(steps, warm, opts))
        return 0

    load = wait_for_quiet("train_throughput")
    info = machine()
    print(f"machine: {info.get('cpu')}, {info.get('cores')} cores, flags {' '.join(info.get('flags', []))}"
          + (f", GPU {info['gpu']}" if info.get("gpu") else ""))
    print(f"torch {info.get('torch')}, transformers {info.get('transformers')}, peft {info.get('peft')}")
    me = Path(__file__)
    peak = run_child(me, ["--child", "peak"])
    print(f"measured matmul peak ({peak_str()}): fp32 {peak['fp32'] / 1e9:.1f} GFLOP/s, "
          f"bf16 {peak['bf16'] / 1e9:.1f} GFLOP/s")
    print(f"{steps} steps per run, first {warm} not timed; FLOP/s = 4 * {N_PARAMS:,} * tokens/s\n")

    script = "competent script (Trainer + PEFT, DataCollatorForSeq2Seq, bf16 if native)"
    main_configs = [(script, "competent", {}, {}),
                    ("workbench lora-quick (defaults)", "workbench", {"_eval": True}, {})]
    second = [("old baseline (pad to longest, fp32)", "baseline", {}, {})]
    extra = []
    if flag("BENCH_EXPLORE"):
        extra = [
            ("workbench, standard Trainer loss (full logits)", "workbench", {}, {"WORKBENCH_FAST_LOSS": "0"}),
            ("workbench, head at labels only, no shared prefix", "workbench", {}, {"WORKBENCH_SHARE_PREFIX": "0"}),
            ("workbench, head chunked by 64 positions", "workbench", {}, {"WORKBENCH_LOSS_CHUNK": "64"}),
            ("workbench, precision fp32", "workbench", {"train.precision": "fp32"}, {}),
            ("workbench, bf16 autocast + SDPA attention", "workbench", {"_keep_sdpa": True}, {}),
            ("workbench, random order (no grouping)", "workbench", {"train.group_by_length": False}, {}),
            ("workbench defaults, 1 thread", "workbench", {}, {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}),
            ("workbench defaults, batch 16 (bigger matmuls)", "workbench", {"train.batch_size": 16}, {}),
            ("old baseline + bf16 autocast", "baseline", {"bf16": True}, {}),
        ]
        if flag("BENCH_COMPILE"):
            extra.append(("old baseline + torch.compile", "baseline", {"compile": True}, {}))
    rounds = env_int("BENCH_ROUNDS", 1 if quick() else 2)
    plan = [c for _ in range(rounds) for c in main_configs] + second + extra  # script and workbench alternate
    results = run_plan(me, plan, steps)
    peak2 = run_child(me, ["--child", "peak"])  # again at the end: the best of both is the peak
    peak = {k: max(peak[k], peak2[k]) for k in peak}
    best_peak = max(peak.values())
    print(f"matmul peak, best of start and end: fp32 {peak['fp32'] / 1e9:.1f} GFLOP/s, bf16 {peak['bf16'] / 1e9:.1f} "
          f"GFLOP/s (the % of peak below is of the faster one, {best_peak / 1e9:.1f})")

    base, wb, old = results[0], results[1], results[2]
    rows = []
    for r in results:
        ex = r.get("executed_flop_s") or flops(r["processed_tok_s"])
        rows.append([r["label"], r.get("dtype"), f"{r['useful_tok_s']:.0f}",
                     f"{r['useful_tok_s'] / base['useful_tok_s']:.2f}x",
                     f"{r['s_per_step']:.2f}", f"{100 * (r['padding_frac'] or 0):.0f}%", f"{r['peak_rss_mb']:.0f}",
                     f"{flops(r['processed_tok_s']) / 1e9:.1f}", f"{ex / 1e9:.1f}", f"{100 * ex / best_peak:.0f}%",
                     f"{_mean(r.get('losses'), warm):.3f}", _fmt(r.get("eval_loss")), f"{r['cpu_util']:.2f}",
                     f"{r['load_during']:.1f}", str(r["runs"]), r.get("attention", "sdpa")])
    print()
    print(table(rows, ["run", "dtype", "useful tok/s", "vs script", "s/step", "padding", "peak RSS MB",
                       "model GFLOP/s", "executed GFLOP/s", "of peak", "train loss", "held-out loss", "CPU cores",
                       "load", "runs", "attention"]))
    print("(best run of each configuration by useful tokens/s. model GFLOP/s = 4 x params x processed positions / s, "
          "what a full forward + backward at every position would do; executed = the matmul FLOPs really run (the "
          "fast loss skips the head at unlabelled positions and runs a shared prefix once). 'CPU cores' = process "
          "CPU time / wall time during the timed steps. train loss = mean logged loss of the timed steps)")
    print(f"\nloss per step, script:    {base.get('losses')}")
    print(f"loss per step, workbench: {wb.get('losses')}")
    speed = wb["useful_tok_s"] / base["useful_tok_s"]
    speed_old = wb["useful_tok_s"] / old["useful_tok_s"]
    same = loss_equal(wb.get("eval_loss"), base.get("eval_loss"))
    frac = (wb.get("executed_flop_s") or flops(wb["processed_tok_s"])) / best_peak
    frac_model = flops(wb["processed_tok_s"]) / best_peak
    print(f"\nworkbench vs competent script, useful tokens/s: {speed:.2f}x (goal >= 1.5x: "
          f"{'met' if speed >= 1.5 else 'NOT met'})")
    print(f"  held-out loss after {steps} steps: workbench {_fmt(wb.get('eval_loss'))}, script "
          f"{_fmt(base.get('eval_loss'))}: " + {True: "equal within noise", False: "NOT equal",
                                                   None: "not measured"}[same]
          + f" (tolerance {LOSS_TOL:.0%} or 0.02)")
    print(f"workbench vs old pad-to-longest fp32 baseline: {speed_old:.2f}x")
    print(f"workbench executed {frac:.0%} of the measured matmul peak ({frac_model:.0%} counted as a full model "
          f"forward + backward at every position) (goal >= 50%: {'met' if frac >= 0.5 else 'NOT met'})")
    print(f"load average at start {load:.2f}, at end {os.getloadavg()[0]:.2f}")
    emit({"speedup": speed, "speedup_old": speed_old, "loss_equal": same, "peak_frac": frac,
          "peak_frac_model": frac_model, "peak": peak, "results": results, "load": load, "steps": steps})
    return 0


def _mean(losses, warm: int) -> float:
    xs = (losses or [])[warm:] or (losses or [])
    return sum(xs) / len(xs) if xs else float("nan")


def _fmt(x) -> str:
    return f"{x:.3f}" if isinstance(x, (int, float)) else "-"


def peak_str() -> str:
    import torch
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, 8192^3"
    return f"2048^3, {torch.get_num_threads()} threads"


if __name__ == "__main__":
    raise SystemExit(main())

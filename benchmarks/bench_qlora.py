"""QLoRA vs LoRA on the same run: model memory as loaded, process RSS, and time per step.

Both run the workbench's quick recipe shape on SmolLM2-135M-Instruct / json-format (LoRA r=8 on q_proj,v_proj,
batch 8), each in a fresh process:
  LoRA fp32   presets/recipes/lora-quick.yaml with model.dtype float32 and precision fp32
  QLoRA       presets/recipes/qlora-quick.yaml (NF4 + double quantisation, bf16 compute)

Model memory = bytes of parameters + buffers of the PeftModel as loaded (4-bit weights counted packed) plus
bitsandbytes' quantisation constants (absmax, code). RSS: right after loading (minus the RSS before loading)
and the process peak during training.

    .venv/bin/python benchmarks/bench_qlora.py        # 8 steps each (first 2 not timed)
    BENCH_STEPS=N / BENCH_QUICK=1 (4 steps)
Goal: QLoRA model memory <= 40% of LoRA fp32.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import REPO, emit, env_int, quick, run_child, table, wait_for_quiet  # noqa: E402

RECIPES = REPO / "presets" / "recipes"
CONFIGS = [
    ("LoRA fp32", "lora-quick.yaml", {"model.dtype": "float32", "train.precision": "fp32"}),
    ("QLoRA nf4", "qlora-quick.yaml", {}),
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--opts", default="{}")
    ap.add_argument("--steps", type=int)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    steps = args.steps or env_int("BENCH_STEPS", 4 if quick() else 8)
    warm = env_int("BENCH_WARMUP", 2 if steps > 4 else 1)
    if args.child:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from _train_child import run_workbench
        emit(run_workbench(RECIPES / args.child, steps, warm, json.loads(args.opts)))
        return 0

    load = wait_for_quiet("qlora")
    print(f"{steps} steps per run, first {warm} not timed\n")
    res = []
    for label, recipe, opts in CONFIGS:
        r = run_child(Path(__file__), ["--child", recipe, "--steps", str(steps), "--opts", json.dumps(opts)])
        r["label"] = label
        res.append(r)
        print(f"  {label}: model {r['model_bytes'] / 2**20:.0f} MiB, {r['s_per_step']:.2f} s/step", flush=True)
    lora, q = res
    rows = [[r["label"], r["dtype"], f"{r['params_bytes'] / 2**20:.1f}", f"{r['buffers_bytes'] / 2**20:.1f}",
             f"{r['quant_state_bytes'] / 2**20:.1f}", f"{r['model_bytes'] / 2**20:.1f}",
             f"{r['model_bytes'] / lora['model_bytes']:.0%}",
             f"{r['rss_after_load_mb'] - r['rss_before_load_mb']:.0f}", f"{r['peak_rss_mb']:.0f}",
             f"{r['s_per_step']:.2f}", f"{r['s_per_step'] / lora['s_per_step']:.2f}x", f"{r['final_loss']:.3f}"]
            for r in res]
    print()
    print(table(rows, ["run", "weights", "params MiB", "buffers MiB", "quant consts MiB", "model MiB", "vs LoRA",
                       "RSS +load MiB", "peak RSS MiB", "s/step", "step vs LoRA", "loss"]))
    ratio = q["model_bytes"] / lora["model_bytes"]
    print(f"\nQLoRA model memory = {ratio:.0%} of LoRA fp32 (goal <= 40%: {'met' if ratio <= 0.4 else 'NOT met'}); "
          f"peak RSS {q['peak_rss_mb'] / lora['peak_rss_mb']:.0%}; step time {q['s_per_step'] / lora['s_per_step']:.2f}x")
    print(f"load average at start {load:.2f}, at end {os.getloadavg()[0]:.2f}")
    emit({"ratio": ratio, "results": res, "load": load})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Memory estimate vs measured peak, and the step time, for every shipped recipe: one per method
(core/model/memory_estimate.py applied by core/training/run_memory.py; goal: within 25%).

Each recipe trains 3 steps in a fresh process, one recipe at a time:
``python -m workbench train RECIPE --max-steps 3 --output-dir TMP`` (with ``eval_at_end: false`` and no
checkpoint, so the process's peak is the training peak). The run writes ``est_mem_mb`` when it starts (the
estimate from its tokenized data) and ``peak_mem_mb`` when it ends (peak RSS on CPU, max allocated on CUDA);
this script prints both and their ratio, and the median step time after the first step (from log.jsonl's
``elapsed_s``) with its ratio to lora-quick's in the same invocation (the step-time table of BENCHMARKS.md).

    python benchmarks/bench_memory.py [--recipes lora-quick,qlora-quick] [--steps 3] [--json OUT.json]

Memory is not disturbed by CPU load, so this does not wait for a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPES = tuple(sorted(p.name[:-5] for p in (REPO / "presets" / "recipes").glob("*-quick.yaml")))
"""Every shipped quick recipe: one per registered method (tests/core/test_train.py keeps it so)."""
GOAL = 0.25


def run_recipe(name: str, steps: int, workdir: Path) -> dict:
    import yaml
    cfg = yaml.safe_load((REPO / "presets" / "recipes" / f"{name}.yaml").read_text(encoding="utf-8"))
    cfg["train"].update(eval_at_end=False, save_steps=100000, score_prompts=0, forgetting=False)
    config = workdir / f"{name}.yaml"
    config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    out = workdir / name
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "workbench", "train", str(config), "--max-steps", str(steps),
                           "--output-dir", str(out)], cwd=REPO, env=env, capture_output=True, text=True)
    st = json.loads((out / "status.json").read_text(encoding="utf-8")) if (out / "status.json").is_file() else {}
    est, peak = st.get("est_mem_mb"), st.get("peak_mem_mb")
    log = out / "log.jsonl"
    times = [json.loads(line).get("elapsed_s") for line in log.read_text().splitlines()] if log.is_file() else []
    times = [t for t in times if t is not None]
    steps_s = sorted(b - a for a, b in zip(times, times[1:]))  # after the first step (its warm-up is not a step)
    return {"recipe": name, "method": cfg["adapter"]["method"], "status": st.get("status"), "rc": proc.returncode,
            "device": st.get("device"), "dtype": st.get("dtype"), "trainable": st.get("trainable_params"),
            "step_s": round(steps_s[len(steps_s) // 2], 3) if steps_s else None,
            "est_mem_mb": est, "peak_mem_mb": peak, "ratio": round(est / peak, 3) if est and peak else None,
            "wall_s": round(time.time() - t0, 1), "error": st.get("error") or (proc.stderr[-300:] if proc.returncode
                                                                                else None)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args(argv)
    rows = []
    print(f"{'recipe':26s} {'trainable':>12s} {'step s':>7s} {'est MB':>8s} {'peak MB':>8s} {'est/peak':>8s} "
          f"{'within 25%':>10s} {'wall s':>7s}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        for name in [r.strip() for r in args.recipes.split(",") if r.strip()]:
            row = run_recipe(name, args.steps, Path(tmp))
            rows.append(row)
            ok = row["ratio"] is not None and abs(row["ratio"] - 1) <= GOAL
            print(f"{name:26s} {row['trainable'] or 0:12,d} {row['step_s'] or 0:7.2f} "
                  f"{row['est_mem_mb'] or 0:8.0f} {row['peak_mem_mb'] or 0:8.0f} "
                  f"{row['ratio'] or 0:8.2f} {'yes' if ok else 'NO':>10s} {row['wall_s']:7.0f}"
                  + (f"  ({row['error']})" if row["error"] else ""), flush=True)
    lora = next((r["step_s"] for r in rows if r["recipe"] == "lora-quick"), None)
    for r in rows:
        r["step_vs_lora"] = round(r["step_s"] / lora, 2) if lora and r["step_s"] else None
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0 if all(r["ratio"] is not None and abs(r["ratio"] - 1) <= GOAL for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

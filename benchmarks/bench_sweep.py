"""Sweeps share work: an N-run experiment in one process vs the same N runs started one by one.

The sweep: ``python -m workbench experiment run FILE`` (one process: the base model, tokenizer and tokenized data
are loaded once; each run is trained on a fresh copy of the weights and scored, plus one base-model row).
The baseline does the same work one process at a time: ``python -m workbench train CONFIG`` for each run (the
very config.yaml the sweep trained), then a fresh process that scores that run (``run_score.score_run``, the same
held-out prompts), and one process that scores the base model. Both are timed as whole commands, in the same run,
alternating order is not needed (nothing is cached between processes except the converted model on disk, which
both use).

    .venv/bin/python benchmarks/bench_sweep.py            # r in 1, 4, 8 on lora-quick, 6 steps, 8 eval prompts
    BENCH_QUICK=1 (3 steps, 4 prompts) / BENCH_STEPS=N / BENCH_LIMIT=N / BENCH_RANKS=1,2,4,8
    BENCH_MODEL=DIR (a local checkpoint, e.g. a tiny model, to smoke-test the script)
Goal (issue 12, item 5): sweep wall <= 0.8x the sum of the one-by-one commands.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import PY, REPO, emit, env_int, quick, table, wait_for_quiet  # noqa: E402

GOAL = 0.8


def _timed(args: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(args, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=3600)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:6])} failed (rc {p.returncode}):\n{p.stderr[-3000:]}")
    return dt


def main() -> int:
    import yaml
    steps = env_int("BENCH_STEPS", 3 if quick() else 6)
    limit = env_int("BENCH_LIMIT", 4 if quick() else 8)
    ranks = [int(r) for r in os.environ.get("BENCH_RANKS", "1,4,8").split(",")]
    model = os.environ.get("BENCH_MODEL")
    load = wait_for_quiet("sweep")
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    env = dict(os.environ, WORKBENCH_RUNS_DIR=str(work / "runs"), HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO),
               TRANSFORMERS_VERBOSITY="error")
    base = yaml.safe_load((REPO / "presets" / "recipes" / "lora-quick.yaml").read_text())
    if model:
        base["model"]["name"] = model
    exp = {"name": "bench-sweep", "base": base, "vary": {"adapter.r": ranks}, "max_steps": steps,
           "eval_steps": max(1, steps // 2), "eval_limit": limit}
    exp_file = work / "sweep.yaml"
    exp_file.write_text(yaml.safe_dump(exp))
    print(f"{len(ranks)} runs (r = {', '.join(map(str, ranks))}), {steps} steps each, {limit} held-out prompts "
          f"scored per run + the base; work dir {work}\n", flush=True)
    try:
        # 1. the sweep, one process
        sweep_s = _timed([PY, "-m", "workbench", "experiment", "run", str(exp_file), "--output-dir",
                          str(work / "exp"), "--json"], env)
        (exp_dir,) = list((work / "exp").iterdir())
        manifest = yaml.safe_load((exp_dir / "experiment.yaml").read_text())
        print(f"  sweep (one process): {sweep_s:.1f} s", flush=True)
        # 2. the same runs one by one: the sweep's own config.yaml of each run, then a scoring process each
        parts = []
        for i, run in enumerate(manifest["runs"]):
            cfg = work / "runs" / run["run_id"] / "config.yaml"
            out = work / "single" / f"run{i}"
            t_train = _timed([PY, "-m", "workbench", "train", str(cfg), "--output-dir", str(out)], env)
            t_score = _timed([PY, "-c", "import sys; from workbench.core.training.run_score import score_run; "
                                        f"score_run(sys.argv[1], {limit})", str(out)], env)
            parts.append((run["label"], t_train, t_score))
            print(f"  {run['label']}: workbench train {t_train:.1f} s + scoring process {t_score:.1f} s", flush=True)
        spec_model = base["model"]["name"]
        t_base = _timed([PY, "-c", "import sys; from workbench.core.training.run_score import score_base; "
                                   "from workbench.spec.settings import RunSpec; s = RunSpec.load(sys.argv[1]); "
                                   f"score_base(s.model.name, s.data, {limit})",
                         str(work / "runs" / manifest["runs"][0]["run_id"] / "config.yaml")], env)
        print(f"  base model scoring process: {t_base:.1f} s", flush=True)
        separate = sum(t + s for _, t, s in parts) + t_base
        train_only = sum(t for _, t, _ in parts)
        ratio = sweep_s / separate
        rows = [[label, f"{t:.1f}", f"{s:.1f}"] for label, t, s in parts] + [["base", "-", f"{t_base:.1f}"]]
        print()
        print(table(rows, ["run", "workbench train s", "scoring process s"]))
        print(f"\nsweep {sweep_s:.1f} s vs one by one {separate:.1f} s (train commands alone {train_only:.1f} s): "
              f"ratio {ratio:.2f}x -> goal <= {GOAL}x {'met' if ratio <= GOAL else 'NOT met'} "
              f"(model {spec_model}, load at start {load:.2f})")
        emit({"sweep_s": sweep_s, "separate_s": separate, "train_only_s": train_only, "base_score_s": t_base,
              "ratio": ratio, "runs": len(parts), "steps": steps, "limit": limit, "load": load})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

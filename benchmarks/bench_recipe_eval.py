"""Does the default quick recipe visibly improve the model? Held-out metric before and after training.

Exactly the commands a learner would type (each a fresh process):
  python -m workbench train presets/recipes/lora-quick.yaml --output-dir DIR                        (timed)
  python -m workbench eval --model ... --adapter DIR/adapter --dataset json-format --limit 50 --json
The eval scores the base model (adapter off: "before") and the adapter ("after") on the same prompts.

    .venv/bin/python benchmarks/bench_recipe_eval.py
    BENCH_RECIPE=presets/recipes/other.yaml BENCH_LIMIT=20 BENCH_MAX_STEPS=N ...
Target: a visible improvement of the held-out metric after < ~3 minutes of training on this CPU.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import PY, REPO, emit, env_int, wait_for_quiet  # noqa: E402

from workbench.core.runstore.status import read_status  # noqa: E402

MODEL = "smollm2-135m-instruct"


def wb(*args: str, timeout: float = 900) -> tuple[str, float]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    t0 = time.perf_counter()
    p = subprocess.run([PY, "-m", "workbench", *args], cwd=str(REPO), env=env, capture_output=True, text=True,
                       timeout=timeout)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"workbench {' '.join(args)} failed ({p.returncode}): {p.stderr[-2000:]}")
    return p.stdout, dt


def eval_json(out: str) -> list[dict]:
    return json.loads(out[out.index("["):])


def main() -> int:
    recipe = os.environ.get("BENCH_RECIPE", "presets/recipes/lora-quick.yaml")
    limit = str(env_int("BENCH_LIMIT", 50))
    dataset = os.environ.get("BENCH_DATASET", "json-format")
    load = wait_for_quiet("recipe_eval")
    with tempfile.TemporaryDirectory() as td:
        args = ["train", recipe, "--output-dir", f"{td}/run"]
        if os.environ.get("BENCH_MAX_STEPS"):
            args += ["--max-steps", os.environ["BENCH_MAX_STEPS"]]
        _, t_train = wb(*args)
        status = read_status(Path(f"{td}/run"))
        log = [json.loads(x) for x in Path(f"{td}/run/log.jsonl").read_text().splitlines() if x.strip()]
        out, t_eval = wb("eval", "--model", MODEL, "--adapter", f"{td}/run/adapter", "--dataset", dataset,
                         "--limit", limit, "--json")
        rows = eval_json(out)
        before, after = rows[0], rows[-1]
    train_s = max((r.get("elapsed_s") or 0) for r in log) if log else None
    losses = [(r["step"], r["loss"]) for r in log if "loss" in r]
    marks = sorted({1, 5, 10, 15, 20, 25, 30, losses[-1][0]} & {st for st, _ in losses}) if losses else []
    print("training loss by step: " + ", ".join(f"{st}: {dict(losses)[st]:.3f}" for st in marks))
    print(f"recipe {recipe}: {status.step} steps, wall time of `workbench train` {t_train:.0f} s "
          f"(training loop {train_s:.0f} s; final eval loss {status.eval_loss})")
    print(f"held-out {before['metric']} on {before['n']} examples: before {before['score']:.2f} -> after "
          f"{after['score']:.2f}; perplexity {before['perplexity']:.2f} -> {after['perplexity']:.2f}")
    print(f"eval wall time (base and adapter): {t_eval:.0f} s")
    visible = after["score"] - before["score"] >= 0.2
    print(f"target (visible improvement with < ~3 min of training): "
          f"{'met' if visible and t_train < 200 else 'NOT met'}")
    print(f"load average at start {load:.2f}, at end {os.getloadavg()[0]:.2f}")
    emit({"before": before, "after": after, "train_wall_s": t_train, "train_loop_s": train_s, "losses": losses,
          "steps": status.step, "eval_loss": status.eval_loss, "load": load})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Parameter-count sweep: the workbench's analytic count vs building a PEFT model per point.

9 LoRA ranks x 4 target sets on Llama-3-70B (meta device: no memory, no download). Every point
the PEFT path builds is checked for EXACT equality with the analytic count.

    .venv/bin/python benchmarks/bench_param_sweep.py           # full grid: 36 PEFT builds (~1-3 s each)
    BENCH_QUICK=1 .venv/bin/python benchmarks/bench_param_sweep.py   # PEFT on 3 ranks x 4 sets only
    BENCH_MODEL=SmolLM2-135M ...                                # any preset / config path

Goal: analytic >= 100x faster per point, and the whole 36-point grid in < 50 ms.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from workbench.core.model.loading import build_meta_model, load_config  # noqa: E402
from workbench.core.model.counting import count_with_peft, sweep  # noqa: E402
from workbench.spec.settings import AdapterSpec  # noqa: E402

RANKS = [1, 2, 4, 8, 16, 32, 64, 128, 256]
TARGET_SETS = {
    "q,v": ["q_proj", "v_proj"],
    "q,k,v,o": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "all-linear": "all-linear",
    "mlp": ["gate_proj", "up_proj", "down_proj"],
}


def main() -> int:
    quick = os.environ.get("BENCH_QUICK", "0") not in ("0", "", "false")
    name = os.environ.get("BENCH_MODEL", "Llama-3-70B")
    peft_ranks = [1, 8, 64] if quick else RANKS
    warnings.simplefilter("ignore")

    config = load_config(name)
    t0 = time.perf_counter()
    model = build_meta_model(config)
    print(f"model {name}: meta build {1000 * (time.perf_counter() - t0):.0f} ms")
    sweep(model, AdapterSpec(target_modules="all-linear"), [1])  # warm imports (peft constants, Conv1D)

    # analytic: one sweep per target set covers all 9 ranks; best of 5 repeats of the whole grid
    grids = []
    for _ in range(5):
        t0 = time.perf_counter()
        analytic = {k: sweep(model, AdapterSpec(target_modules=t), RANKS) for k, t in TARGET_SETS.items()}
        grids.append(time.perf_counter() - t0)
    grid_s = min(grids)
    n_points = len(RANKS) * len(TARGET_SETS)
    per_point = grid_s / n_points
    print(f"analytic: {n_points} points in {1000 * grid_s:.1f} ms (best of 5; median "
          f"{1000 * statistics.median(grids):.1f} ms) = {1000 * per_point:.2f} ms/point")

    # PEFT ground truth: get_peft_model on a fresh meta model per point
    print(f"\n{'targets':<11} {'rank':>5} {'trainable':>14} {'total':>16} {'PEFT s':>8}  equal")
    peft_times = []
    for key, targets in TARGET_SETS.items():
        rows = {r.rank: r for r in analytic[key]}
        for r in peft_ranks:
            t0 = time.perf_counter()
            truth = count_with_peft(config, AdapterSpec(target_modules=targets, r=r))
            peft_times.append(time.perf_counter() - t0)
            ours = (rows[r].trainable, rows[r].total)
            assert ours == truth, f"{key} r={r}: analytic {ours} != PEFT {truth}"
            print(f"{key:<11} {r:>5} {ours[0]:>14,} {ours[1]:>16,} {peft_times[-1]:>8.2f}  yes")

    peft_mean = statistics.mean(peft_times)
    speedup = peft_mean / per_point
    print(f"\nPEFT: {len(peft_times)} builds, mean {peft_mean:.2f} s/point "
          f"(full grid would take ~{peft_mean * n_points:.0f} s)")
    print(f"analytic: {1000 * per_point:.2f} ms/point; whole {n_points}-point grid {1000 * grid_s:.1f} ms")
    print(f"speed-up per point: {speedup:,.0f}x   (goal >= 100x: {'met' if speedup >= 100 else 'NOT met'}; "
          f"grid < 50 ms: {'met' if grid_s < 0.05 else 'NOT met'})")
    print("all checked points equal PEFT's get_nb_trainable_parameters()")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

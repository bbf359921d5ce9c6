"""Run every benchmark in sequence and print a summary table (`make bench`).

Each script runs in its own process with its output streamed; a failing script is reported and the rest still
run. Scale knobs pass through the environment (BENCH_QUICK=1, BENCH_STEPS=N, ...); BENCH_ONLY=a,b runs a subset
(names without the bench_ prefix, e.g. BENCH_ONLY=qlora,app).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import PY, REPO, RESULT_TAG, machine, table  # noqa: E402

SCRIPTS = ["room", "param_sweep", "model_load", "train_throughput", "qlora", "compare", "app", "recipe_eval",
           "eval_batched", "compare_load", "sweep"]


def run(name: str) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    p = subprocess.Popen([PY, str(HERE / f"bench_{name}.py")], cwd=str(REPO), env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in p.stdout:
        lines.append(line)
        if not line.startswith(RESULT_TAG):
            print(f"  {line}", end="", flush=True)
    return p.wait(), "".join(lines), time.perf_counter() - t0


def result(out: str) -> dict:
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    return {}


def summary(name: str, out: str) -> list[tuple[str, str, str]]:
    """(figure, value, goal status) rows for one script."""
    r = result(out)
    if name == "param_sweep":
        m = re.search(r"speed-up per point: ([\d,]+)x", out)
        g = re.search(r"whole (\d+)-point grid ([\d.]+) ms", out)
        return [("param sweep: analytic vs PEFT speed-up per point", (m.group(1) + "x") if m else "?",
                 "met (>= 100x)" if m and int(m.group(1).replace(",", "")) >= 100 else "NOT met"),
                ("param sweep: 36-point grid", f"{g.group(2)} ms" if g else "?",
                 "met (< 50 ms)" if g and float(g.group(2)) < 50 else "NOT met")]
    if not r:
        return [(name, "no result", "failed")]
    if name == "model_load":
        return [("model load: first (GGUF conversion)", f"{r['first_s']:.1f} s", ""),
                ("model load: cached, new process", f"{r['cached_s']:.2f} s", "met (< 1 s)" if r["cached_s"] < 1 else "NOT met")]
    if name == "train_throughput":
        wb, base = r["results"][1], r["results"][0]
        return [("train: useful tok/s workbench / baseline",
                 f"{wb['useful_tok_s']:.0f} / {base['useful_tok_s']:.0f} = {r['speedup']:.2f}x",
                 "met (>= 1.5x)" if r["speedup"] >= 1.5 else "NOT met (>= 1.5x)"),
                ("train: workbench FLOP/s vs measured matmul peak", f"{r['peak_frac']:.0%}",
                 "met (>= 50%)" if r["peak_frac"] >= 0.5 else "NOT met (>= 50%)"),
                ("train: s/step workbench / baseline", f"{wb['s_per_step']:.2f} / {base['s_per_step']:.2f}", "")]
    if name == "qlora":
        lo, q = r["results"]
        return [("QLoRA model memory vs LoRA fp32", f"{q['model_bytes'] / 2**20:.0f} / {lo['model_bytes'] / 2**20:.0f} MiB"
                 f" = {r['ratio']:.0%}", "met (<= 40%)" if r["ratio"] <= 0.4 else "NOT met"),
                ("QLoRA s/step vs LoRA fp32", f"{q['s_per_step']:.2f} / {lo['s_per_step']:.2f} s", "")]
    if name == "compare":
        return [("compare: weights VariantModel / 4 copies", f"{r['variant']['param_bytes'] / 2**20:.0f} / "
                 f"{r['copies']['param_bytes'] / 2**20:.0f} MiB = {r['mem_ratio']:.0%} (RSS {r['rss_ratio']:.0%}, "
                 f"PSS {r['pss_ratio']:.0%})", ""),
                ("compare: latency VariantModel / copies", f"{r['lat_ratio']:.2f}x", ""),
                ("compare: unmerged vs merged LoRA, 40 tokens", f"{r['merge']['unmerged_s']:.2f} / "
                 f"{r['merge']['merged_s']:.2f} s ({r['merge_overhead']:+.0%})", ""),
                ("compare: base + 3 LoRA in one batch / base column alone", f"{r['batched_ratio']:.2f}x (one by one "
                 f"{r['one_by_one_ratio']:.2f}x)", "met (<= 1.6x)" if r["batched_ratio"] <= 1.6 else "NOT met (<= 1.6x)")]
    if name == "eval_batched":
        return [("eval: 50 prompts x (base + adapter) batched / plain loop of 12 base prompts, whole commands",
                 f"{r['batched_s']:.0f} / {r['plain_s']:.0f} s = {r['ratio']:.2f}x ({r['per_prompt_speedup']:.1f}x per "
                 "answer)", "met (< 1)" if r["ratio"] < 1 else "NOT met (< 1)")]
    if name == "compare_load":
        return [(f"/compare p95, {r['users']} users: one at a time / batched", f"{r['off']['p95']:.2f} / "
                 f"{r['on']['p95']:.2f} s = {r['ratio']:.2f}x", "met (>= 3x)" if r["ratio"] >= 3 else "NOT met (>= 3x)")]
    if name == "app":
        return [("app: process start -> first page", f"{r['startup_s']:.1f} s", ""),
                ("app: worst endpoint p95 during training", f"{r['worst_p95']:.2f} s",
                 "met (< ~1 s)" if r["worst_p95"] < 1 else "NOT met")]
    if name == "sweep":
        return [(f"sweep: {r['runs']}-run experiment vs the same runs one by one (train + score)",
                 f"{r['sweep_s']:.0f} / {r['separate_s']:.0f} s = {r['ratio']:.2f}x",
                 "met (<= 0.8x)" if r["ratio"] <= 0.8 else "NOT met (<= 0.8x)")]
    if name == "recipe_eval":
        b, a = r["before"], r["after"]
        ok = a["score"] - b["score"] >= 0.2 and r["train_wall_s"] < 200
        return [("lora-quick held-out json_match before -> after", f"{b['score']:.2f} -> {a['score']:.2f}",
                 "met" if ok else "NOT met"),
                ("lora-quick `workbench train` wall time", f"{r['train_wall_s']:.0f} s", "< ~3 min")]
    return []


def main() -> int:
    only = [s.strip() for s in os.environ.get("BENCH_ONLY", "").split(",") if s.strip()]
    names = [n for n in SCRIPTS if not only or n in only]
    info = machine()
    print(f"machine: {info.get('cpu')}, {info.get('cores')} cores, flags: {' '.join(info.get('flags', []))}")
    print("versions: " + ", ".join(f"{k} {info[k]}" for k in ("torch", "transformers", "peft", "bitsandbytes", "gradio")
                                  if k in info))
    rows, failed = [], []
    for name in names:
        print(f"\n=== bench_{name}.py  (load average {os.getloadavg()[0]:.2f})", flush=True)
        rc, out, dt = run(name)
        print(f"=== bench_{name}.py: exit {rc}, {dt:.0f} s", flush=True)
        if rc != 0:
            failed.append(name)
        rows += [(a, b, c) for a, b, c in summary(name, out)]
    print("\nSUMMARY")
    print(table([list(r) for r in rows], ["figure", "value", "goal"]))
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

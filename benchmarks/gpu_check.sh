#!/usr/bin/env bash
# GPU check (issue 12, item 6): on a CUDA machine, in under 8 minutes,
#   1. train every quick recipe (presets/recipes/*.yaml, their own 30 steps) with `python -m workbench train`,
#   2. run the training throughput benchmark (workbench vs the competent script, BENCH_QUICK-sized),
#   3. run the evaluation of the lora-quick adapter: default mode on every held-out prompt, and the default
#      and the exact one-by-one mode (--batch-size 1) on the first 16 (same scores expected),
# and write every figure to one JSON file ($OUT/gpu_check.json, or --out FILE).
#
#   benchmarks/gpu_check.sh                   # needs CUDA; exits 3 with a clear message without it
#   benchmarks/gpu_check.sh --out figs.json   # write the figures there
#   benchmarks/gpu_check.sh --dry-run         # CPU plumbing check: 1 step of lora-quick (no final eval), a
#                                             # 2-step throughput child, a 2-prompt eval (not GPU figures)
# Environment: PYTHON (default .venv/bin/python, else python3), GPU_CHECK_BUDGET_S (default 470, 3600 for
# --dry-run: no step starts or runs past it), WORKDIR (default a fresh temporary folder; runs go there),
# DRY_TIMEOUT_SCALE (default 8: a --dry-run's per-step timeouts are this many times the GPU ones).
# Each step has its own timeout (never past the budget); a failed or timed-out step is recorded in the JSON
# and the check goes on; the exit status is 1 if any step failed, 3 if there is no CUDA device.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DRY=0
OUT_FILE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --out) OUT_FILE="$2"; shift ;;
    --out=*) OUT_FILE="${1#--out=}" ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$OUT_FILE" ]; then
  OUT_FILE="${OUT:-$ROOT/benchmarks/out}/gpu_check.json"
fi
mkdir -p "$(dirname "$OUT_FILE")"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
BUDGET=${GPU_CHECK_BUDGET_S:-$([ "$DRY" -eq 1 ] && echo 3600 || echo 470)}
SCALE=$([ "$DRY" -eq 1 ] && echo "${DRY_TIMEOUT_SCALE:-8}" || echo 1)
WORK=${WORKDIR:-$(mktemp -d -t gpu_check.XXXXXX)}
STEPS_DIR="$WORK/steps"
mkdir -p "$STEPS_DIR"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
export TOKENIZERS_PARALLELISM=false TRANSFORMERS_VERBOSITY=error WORKBENCH_RUNS_DIR="$WORK/runs"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
FAILED=0

log() { echo "[gpu_check $(date -u +%H:%M:%S) +${SECONDS}s] $*"; }

# step NAME TIMEOUT_S CMD...: run CMD with min(TIMEOUT_S, budget left) seconds; stdout+stderr to steps/NAME.log,
# wall time and exit status to steps/NAME.meta (read back into the JSON at the end).
step() {
  local name=$1 limit=$(($2 * SCALE)); shift 2
  local left=$((BUDGET - SECONDS))
  if [ "$left" -lt 15 ]; then
    log "$name: skipped (budget of ${BUDGET}s spent)"
    printf '{"rc": null, "wall_s": 0, "skipped": true, "timeout_s": 0}\n' > "$STEPS_DIR/$name.meta"
    FAILED=1
    return 0
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  log "$name: $* (timeout ${limit}s)"
  local t0=$SECONDS rc=0
  timeout --kill-after=10 "$limit" "$@" > "$STEPS_DIR/$name.log" 2>&1 || rc=$?
  local wall=$((SECONDS - t0))
  printf '{"rc": %d, "wall_s": %d, "skipped": false, "timeout_s": %d}\n' "$rc" "$wall" "$limit" \
    > "$STEPS_DIR/$name.meta"
  if [ "$rc" -ne 0 ]; then
    FAILED=1
    log "$name: FAILED (rc $rc$([ "$rc" -eq 124 ] && echo ', timed out')) after ${wall}s; last lines:"
    tail -n 15 "$STEPS_DIR/$name.log" | sed 's/^/    /'
  else
    log "$name: ok in ${wall}s"
  fi
}

# ------------------------------------------------------------------ 0. device
DEVICE_JSON=$("$PYTHON" - <<'EOF'
import json
try:
    import torch
except Exception as e:  # noqa: BLE001
    print(json.dumps({"error": f"torch does not import: {e}"}))
    raise SystemExit(0)
info = {"torch": torch.__version__, "cuda": torch.cuda.is_available(), "cuda_version": torch.version.cuda,
        "threads": torch.get_num_threads()}
if info["cuda"]:
    p = torch.cuda.get_device_properties(0)
    info.update(device=torch.cuda.get_device_name(0), gpu_memory_gib=round(p.total_memory / 2**30, 1),
                device_count=torch.cuda.device_count(), bf16=torch.cuda.is_bf16_supported())
else:
    info["device"] = "cpu"
print(json.dumps(info))
EOF
)
log "device: $DEVICE_JSON"
case "$DEVICE_JSON" in
  *'"error"'*) echo "gpu_check: $PYTHON cannot import torch; set up the environment first (make setup)." >&2; exit 2 ;;
esac
case "$DEVICE_JSON" in
  *'"cuda": true'*) MODE=gpu ;;
  *) if [ "$DRY" -eq 1 ]; then MODE=dry; else
       echo "gpu_check: no CUDA device visible to torch ($DEVICE_JSON)." >&2
       echo "gpu_check: this check needs a GPU; run with --dry-run to test its plumbing on the CPU." >&2
       exit 3
     fi ;;
esac
[ "$DRY" -eq 1 ] && MODE=dry
log "mode: $MODE, work folder $WORK, figures to $OUT_FILE, budget ${BUDGET}s"

# ------------------------------------------------------------------ 1. quick recipes
if [ "$MODE" = dry ]; then  # lora-quick, 1 step, without its held-out evaluation at the end
  RECIPES="$WORK/lora-quick.yaml"
  sed 's/eval_at_end: true/eval_at_end: false/' presets/recipes/lora-quick.yaml > "$RECIPES"
  STEP_ARGS=(--max-steps 1)
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # a plumbing check must not stall a busy CPU
else
  RECIPES=$(ls presets/recipes/*.yaml)
  STEP_ARGS=()
fi
for recipe in $RECIPES; do
  name=$(basename "$recipe" .yaml)
  step "train-$name" 90 "$PYTHON" -m workbench train "$recipe" --output-dir "$WORK/runs/$name" "${STEP_ARGS[@]}"
done

# ------------------------------------------------------------------ 2. training throughput
if [ "$MODE" = dry ]; then  # one child of the benchmark (its plumbing), 2 steps
  step throughput 60 env BENCH_NO_WAIT=1 "$PYTHON" benchmarks/bench_train_throughput.py --child workbench --steps 2
else
  step throughput 200 env BENCH_QUICK=1 BENCH_NO_WAIT=1 BENCH_STEPS=20 BENCH_ROUNDS=1 \
    "$PYTHON" benchmarks/bench_train_throughput.py
fi

# ------------------------------------------------------------------ 3. evaluation
ADAPTER="$WORK/runs/lora-quick/adapter"
if [ -d "$ADAPTER" ]; then
  if [ "$MODE" = dry ]; then
    step eval-default 60 "$PYTHON" -m workbench eval --model smollm2-135m-instruct --adapter "$ADAPTER" \
      --dataset json-format --limit 2 --max-new-tokens 8 --json
  else
    step eval-default 120 "$PYTHON" -m workbench eval --model smollm2-135m-instruct --adapter "$ADAPTER" \
      --dataset json-format --json
    step eval16-default 60 "$PYTHON" -m workbench eval --model smollm2-135m-instruct --adapter "$ADAPTER" \
      --dataset json-format --limit 16 --json
    step eval16-one-by-one 120 "$PYTHON" -m workbench eval --model smollm2-135m-instruct --adapter "$ADAPTER" \
      --dataset json-format --limit 16 --batch-size 1 --json
  fi
else
  log "evaluation: skipped (no lora-quick adapter at $ADAPTER)"
  FAILED=1
fi

# ------------------------------------------------------------------ figures
"$PYTHON" - "$STEPS_DIR" "$WORK/runs" "$OUT_FILE" "$MODE" "$SECONDS" "$DEVICE_JSON" <<'EOF'
import json
import sys
from pathlib import Path

steps_dir, runs_dir, out_file, mode, total, device = sys.argv[1:7]
steps_dir, runs_dir = Path(steps_dir), Path(runs_dir)
TAG = "BENCH_RESULT "


def meta(name):
    p = steps_dir / f"{name}.meta"
    return json.loads(p.read_text()) if p.is_file() else None


def log_text(name):
    p = steps_dir / f"{name}.log"
    return p.read_text(errors="replace") if p.is_file() else ""


def json_tail(text):
    """The JSON array the eval command prints last."""
    i = text.rfind("\n[")
    i = 0 if text.startswith("[") and i < 0 else i + 1
    try:
        return json.loads(text[i:]) if i >= 0 else None
    except ValueError:
        return None


out = {"mode": mode, "device": json.loads(device), "total_s": int(total), "recipes": {}, "throughput": None,
       "eval": {}}
for m in sorted(steps_dir.glob("train-*.meta")):
    name = m.stem[len("train-"):]
    row = dict(meta(m.stem))
    st = runs_dir / name / "status.json"
    if st.is_file():
        s = json.loads(st.read_text())
        row.update({k: s.get(k) for k in ("status", "step", "train_loss", "last_loss", "eval_loss", "device",
                                           "dtype", "trainable_params", "error")})
    out["recipes"][name] = row
tp = meta("throughput")
if tp is not None:
    res = [json.loads(line[len(TAG):]) for line in log_text("throughput").splitlines() if line.startswith(TAG)]
    r = res[-1] if res else {}
    if "results" in r:
        keep = ("label", "useful_tok_s", "s_per_step", "padding_frac", "eval_loss", "executed_flop_s", "dtype",
                "device", "losses")
        tp.update(speedup=r.get("speedup"), speedup_old=r.get("speedup_old"), loss_equal=r.get("loss_equal"),
                  peak_frac=r.get("peak_frac"), peak=r.get("peak"),
                  results=[{k: x.get(k) for k in keep} for x in r["results"]])
    elif r:
        tp.update(child={k: r.get(k) for k in ("useful_tok_s", "s_per_step", "trainer", "fast_loss", "losses")})
    out["throughput"] = tp
for name in ("eval-default", "eval16-default", "eval16-one-by-one"):
    m = meta(name)
    if m is not None:
        m["rows"] = json_tail(log_text(name))
        out["eval"][name] = m
e16, e1 = out["eval"].get("eval16-default"), out["eval"].get("eval16-one-by-one")
if e16 and e1 and e16.get("rows") and e1.get("rows"):
    out["eval"]["same_scores_first16"] = [a["score"] for a in e16["rows"]] == [b["score"] for b in e1["rows"]]
    out["eval"]["speedup_first16"] = e1["wall_s"] / max(e16["wall_s"], 1)
failed = [k for k, v in [*out["recipes"].items(), ("throughput", tp or {}), *out["eval"].items()]
          if isinstance(v, dict) and v.get("rc") not in (0,)]
out["failed_steps"] = failed
Path(out_file).write_text(json.dumps(out, indent=2))
print(f"[gpu_check] figures written to {out_file}")
for name, r in out["recipes"].items():
    print(f"  train {name}: {r.get('status')} in {r['wall_s']} s, last loss {r.get('last_loss')}, "
          f"held-out loss {r.get('eval_loss')}, {r.get('device')} {r.get('dtype')}")
if tp:
    if "speedup" in tp:
        print(f"  throughput: workbench / competent script {tp['speedup']:.2f}x, equal loss {tp['loss_equal']}, "
              f"{tp['peak_frac']:.0%} of the matmul peak ({tp['wall_s']} s)")
    elif "child" in tp:
        print(f"  throughput child: {tp['child']}")
for name, m in out["eval"].items():
    if isinstance(m, dict):
        print(f"  {name}: rc {m['rc']} in {m['wall_s']} s: {m.get('rows')}")
    else:
        print(f"  {name}: {m}")
if failed:
    print(f"  FAILED steps: {', '.join(failed)}")
EOF
log "done in ${SECONDS}s (budget ${BUDGET}s)"
exit $FAILED

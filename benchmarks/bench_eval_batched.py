"""Batched evaluation vs a plain one-prompt-at-a-time transformers loop, both timed as whole commands.

Goal (issue 12): ``workbench eval`` on 50 held-out prompts x (base + 1 LoRA adapter) takes less time than a plain
transformers greedy loop over 12 prompts of the base alone (>= 8x faster per prompt), in the same run.

  batched   python -m workbench eval --model smollm2-135m-instruct --adapter A --dataset json-format --limit 50
            (the default: every prompt of both variants submitted at once, base and adapter mixed in one batch)
  plain     a short script: AutoModelForCausalLM.from_pretrained + for each of 12 prompts apply_chat_template,
            generate(greedy, same max_new_tokens as eval uses), decode
  one-by-one (only with BENCH_EVAL_ONE_BY_ONE=1) the same eval with --one-by-one, and whether scores agree

The adapter is a LoRA (r=8, q_proj/v_proj) built with PEFT, lora_B drawn from N(0, BENCH_LORA_B_STD=0.02) so it
changes answers a little. Prints the two wall times and the ratio batched / plain (goal < 1).

    .venv/bin/python benchmarks/bench_eval_batched.py     # BENCH_EVAL_PROMPTS=50 BENCH_PLAIN_PROMPTS=12
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
from _common import PY, REPO, emit, env_int, flag, table, wait_for_quiet  # noqa: E402

NAME = "smollm2-135m-instruct"
DATASET = "json-format"

PLAIN = r'''
import json, sys, time, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
model_dir, n, max_new = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
rows = [json.loads(l) for l in open(sys.argv[4]) if l.strip()][:n]
answers = []
for r in rows:
    text = tok.apply_chat_template([{"role": "user", "content": r["prompt"]}], tokenize=False, add_generation_prompt=True)
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new, do_sample=False, pad_token_id=tok.pad_token_id)
    answers.append(tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True))
print(json.dumps({"n": len(answers)}))
'''


def make_adapter(out: Path) -> str:
    code = (
        "import os, sys, torch\n"
        "from peft import LoraConfig, get_peft_model\n"
        "from workbench.core.model.loading import load_model\n"
        f"model, _ = load_model({NAME!r})\n"
        "torch.manual_seed(100)\n"
        "pm = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=['q_proj', 'v_proj'], "
        "task_type='CAUSAL_LM'))\n"
        "with torch.no_grad():\n"
        "    for name, p in pm.named_parameters():\n"
        "        if 'lora_B' in name:\n"
        f"            p.normal_(0, {float(os.environ.get('BENCH_LORA_B_STD', '0.02'))})\n"
        "pm.save_pretrained(sys.argv[1])\n")
    subprocess.run([PY, "-c", code, str(out)], cwd=str(REPO), check=True, capture_output=True)
    return str(out)


def max_new_tokens(limit: int) -> int:
    """What ``workbench eval`` uses by default: the longest reference of the scored prompts + 8 (at most 256)."""
    from workbench.core.evaluation.heldout import heldout, reference
    from workbench.core.model.loading import load_tokenizer
    from workbench.spec.settings import DataSpec
    tok = load_tokenizer(NAME)
    refs = [reference(e) for e in heldout(DataSpec(name=DATASET), limit)]
    return min(256, max(len(tok(r, add_special_tokens=False)["input_ids"]) for r in refs) + 8)


def timed(cmd: list[str]) -> tuple[float, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error", PYTHONWARNINGS="ignore")
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}... failed: {p.stderr[-2000:]}")
    return wall, p.stdout


def main() -> int:
    from workbench.core.model.loading import embedded_checkpoint_dir
    n_eval, n_plain = env_int("BENCH_EVAL_PROMPTS", 50), env_int("BENCH_PLAIN_PROMPTS", 12)
    load = wait_for_quiet("eval-batched")
    model_dir = str(embedded_checkpoint_dir())
    tokens = max_new_tokens(n_eval)
    with tempfile.TemporaryDirectory() as td:
        adapter = make_adapter(Path(td) / "lora")
        test = REPO / f"presets/datasets/{DATASET}/test.jsonl"
        eval_cmd = [PY, "-m", "workbench", "eval", "--model", NAME, "--adapter", adapter, "--dataset", DATASET,
                    "--limit", str(n_eval), "--json"]
        t_plain, _ = timed([PY, "-c", PLAIN, model_dir, str(n_plain), str(tokens), str(test)])
        t_batched, out_b = timed(eval_cmd)
        rows = [[f"workbench eval: {n_eval} prompts x (base + adapter), batched", f"{t_batched:.1f}",
                 f"{t_batched / (2 * n_eval):.2f}"],
                [f"plain transformers loop: {n_plain} prompts, base only", f"{t_plain:.1f}", f"{t_plain / n_plain:.2f}"]]
        result = {"batched_s": t_batched, "plain_s": t_plain, "eval_prompts": n_eval, "plain_prompts": n_plain,
                  "max_new_tokens": tokens, "scores_batched": [r["score"] for r in json.loads(out_b)], "load": load}
        if flag("BENCH_EVAL_ONE_BY_ONE"):
            t_one, out_1 = timed(eval_cmd + ["--one-by-one"])
            rows.append([f"workbench eval --one-by-one: {n_eval} prompts x 2", f"{t_one:.1f}",
                         f"{t_one / (2 * n_eval):.2f}"])
            result.update(one_by_one_s=t_one, scores_one_by_one=[r["score"] for r in json.loads(out_1)])
    print(table(rows, ["whole command", "wall s", "s per prompt and variant"]))
    ratio = t_batched / t_plain
    per_prompt = (t_plain / n_plain) / (t_batched / (2 * n_eval))
    print(f"\nbatched eval of {2 * n_eval} answers / plain loop of {n_plain}: {ratio:.2f}x the time (goal < 1: "
          f"{'met' if ratio < 1 else 'not met'}); {per_prompt:.1f}x faster per answer (goal >= 8x); "
          f"max_new_tokens {tokens}; scores {result['scores_batched']}"
          + (f", one-by-one {result['scores_one_by_one']}" if "scores_one_by_one" in result else ""))
    print(f"load average at start {load:.2f}, at end {os.getloadavg()[0]:.2f}")
    emit({**result, "ratio": ratio, "per_prompt_speedup": per_prompt})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m workbench generate`: answers from the base model and each adapter, side by side.

    python -m workbench generate --model smollm2-135m-instruct --adapter runs/abc/adapter \
        --prompt "Say hi" [--max-new-tokens 64] [--no-chat-template] \
        [--do-sample --temperature 0.7 --top-p 0.9 --seed 0] [--json]

Greedy by default; the base and LoRA adapters answer in ONE batched generation (the same tokens as one at a
time; WORKBENCH_BATCHING=0 runs them one after another). With --json prints [{"variant": "base"|DIR, "text": ..., "tokens": N}, ...].
"""
from __future__ import annotations

import argparse
import json


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("generate", help="generate with the base model and adapters side by side",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model preset, local checkpoint folder or hub id")
    p.add_argument("--adapter", action="append", default=[], metavar="DIR",
                   help="adapter folder (repeat for several; all share one base model)")
    p.add_argument("--prompt", required=True, help="the user message")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--no-chat-template", action="store_true", help="feed the prompt as raw text")
    p.add_argument("--do-sample", action="store_true", help="sample instead of greedy decoding")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--repetition-penalty", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from workbench.core.generation.answers import GenSettings
    from workbench.core.generation.columns import generate_columns
    from workbench.core.generation.variants import get_variants
    settings = GenSettings(max_new_tokens=args.max_new_tokens, do_sample=args.do_sample,
                           temperature=args.temperature, top_p=args.top_p,
                           repetition_penalty=args.repetition_penalty, seed=args.seed,
                           use_chat_template=not args.no_chat_template)
    vm = get_variants(args.model, args.adapter)
    results = generate_columns(vm, args.prompt, vm.variants, settings)  # all columns in one batch
    if args.json:
        out = [{"variant": r.variant, "text": r.text, "tokens": r.tokens} for r in results]
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        for r in results:
            print(f"=== {r.variant} ({r.tokens} tokens)\n{r.text}\n")
    return 0

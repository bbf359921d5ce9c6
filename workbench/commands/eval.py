"""`python -m workbench eval`: held-out metric and perplexity for the base model and each adapter.

    python -m workbench eval --model smollm2-135m-instruct --adapter runs/abc/adapter \
        --dataset json-format [--limit 20] [--batch-size 16 | --one-by-one] [--json]

Answers are generated in batches by default (every prompt of every variant, the base and LoRA adapters mixed in
one batch); --one-by-one (= --batch-size 1) generates one prompt at a time, exactly as the Generate tab.

With --json prints [{"variant", "metric", "score", "perplexity", "n"}, ...].
"""
from __future__ import annotations

import argparse
import json


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("eval", help="score the base model and adapters on a held-out split",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model preset, local checkpoint folder or hub id")
    p.add_argument("--adapter", action="append", default=[], metavar="DIR", help="adapter folder (repeatable)")
    p.add_argument("--dataset", required=True, help="shipped dataset name or a .jsonl/.csv path")
    p.add_argument("--limit", type=int, default=None, help="only the first N held-out examples")
    p.add_argument("--batch-size", type=int, default=None,
                   help="sequences (prompts x variants) generated together (default 16; 1 = one by one)")
    p.add_argument("--one-by-one", action="store_true",
                   help="one prompt at a time, exactly as in the Generate tab (same as --batch-size 1)")
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help="default: the longest reference answer + 8 (at most 256)")
    p.add_argument("--no-chat-template", action="store_true")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from workbench.core.evaluation.heldout import EvalError, evaluate
    from workbench.core.generation.answers import GenSettings
    from workbench.spec.settings import DataSpec
    if args.one_by_one:
        args.batch_size = 1
    if args.batch_size is not None and args.batch_size < 1:
        raise EvalError("cli.flag_min", flag="--batch-size", lo=1, value=args.batch_size)
    spec = DataSpec(name=args.dataset, use_chat_template=not args.no_chat_template)
    settings = None
    if args.max_new_tokens is not None:
        settings = GenSettings(max_new_tokens=args.max_new_tokens, use_chat_template=spec.use_chat_template)
    rows = evaluate(args.model, args.adapter, spec, limit=args.limit, settings=settings, batch_size=args.batch_size)
    out = [{"variant": r.variant, "metric": r.metric, "score": r.score, "perplexity": r.perplexity, "n": r.n}
           for r in rows]
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for r in out:
            print(f"{r['variant']}: {r['metric']} {r['score']:.3f}  perplexity {r['perplexity']:.3f}  (n={r['n']})")
    return 0

"""`python -m workbench params --model M --method lora --ranks 1,4,8 [--json]`: exact trainable-parameter
counts (equal to PEFT's own) from the architecture alone, in milliseconds.

Numbers are read as text and checked here, so any bad value ends in ONE clear line on stderr.
"""
from __future__ import annotations

import json
from dataclasses import asdict

from workbench.spec import methods
from workbench.spec import targets
from workbench.commands.modules import DEFAULT_MODEL, meta_model


def add_parser(sub) -> None:
    """Register the ``params`` command on an argparse sub-parser collection."""
    p = sub.add_parser("params", help="count trainable parameters of a PEFT method (exact, no weights loaded)",
                       description="Count trainable / total parameters exactly as PEFT would, from the config alone.")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help="preset name, local checkpoint dir, config.json path or hub id (default: %(default)s)")
    p.add_argument("--method", default="lora",
                   help=" | ".join(methods.names()))
    p.add_argument("--targets", default=None,
                   help="comma-separated module names (q_proj,v_proj), 'all-linear', or 're:REGEX' "
                        "(full match on whole names); default: PEFT's default for the architecture")
    p.add_argument("--ranks", default="8", help="ranks r, comma-separated (default: 8); LoRA and the methods sized by r")
    p.add_argument("--sizes", default=None,
                   help="values of the method's size knob, comma-separated (its budget_knob: r, n_frequency, "
                        "num_layers ...; 'workbench methods' lists it)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="one of the method's own settings (repeatable), e.g. --option oft_block_size=16")
    p.add_argument("--alpha", default="16", help="LoRA alpha (does not change the count)")
    p.add_argument("--bias", default="none", help="which biases train too: none | all | lora_only")
    p.add_argument("--modules-to-save", default=None, help="comma-separated modules trained in full (e.g. lm_head)")
    p.add_argument("--rslora", action="store_true", help="rank-stabilised scaling (does not change the count)")
    p.add_argument("--virtual-tokens", default="20", help="prompt / prefix / p-tuning: number of virtual tokens")
    p.add_argument("--prefix-projection", action="store_true", help="prefix tuning: learn prefixes through an MLP")
    p.add_argument("--encoder", default="MLP", help="p-tuning prompt encoder: MLP | LSTM")
    p.add_argument("--encoder-hidden", default=None,
                   help="p-tuning encoder / prefix MLP hidden size (default: the model's hidden size)")
    p.add_argument("--json", action="store_true", help="print a stable JSON array instead of a table")
    p.set_defaults(func=run)


def _int(flag: str, text: str, lo: int = 1, hi: int = 1 << 20) -> int:
    from workbench.errors import SpecError
    try:
        v = int(str(text).strip())
    except ValueError:
        raise SpecError(flag, "settings.integer", value=text) from None
    if not lo <= v <= hi:
        raise SpecError(flag, "settings.in_range", range=f"{lo}..{hi}", value=v)
    return v


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [t.strip() for t in text.split(",") if t.strip()] or None


def spec_from_args(args):
    """An AdapterSpec from the command-line values (validation names the bad setting)."""
    from workbench.errors import SpecError
    from workbench.spec.settings import AdapterSpec
    try:
        alpha = float(args.alpha)
    except ValueError:
        raise SpecError("--alpha", "settings.number", value=args.alpha) from None
    hidden = _int("--encoder-hidden", args.encoder_hidden) if args.encoder_hidden is not None else None
    options = {}
    for item in getattr(args, "option", None) or []:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise SpecError("--option", "cli.option_form", value=item)
        import yaml
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            options[key.strip()] = value
    return AdapterSpec(method=args.method, options=options, alpha=alpha, target_modules=targets.parse(args.targets),
                       bias=args.bias, use_rslora=args.rslora, modules_to_save=_names(args.modules_to_save),
                       num_virtual_tokens=_int("--virtual-tokens", args.virtual_tokens, 1, 1024),
                       prefix_projection=args.prefix_projection, encoder_reparameterization_type=args.encoder,
                       encoder_hidden_size=hidden, prefix_hidden_size=hidden)


def counts(args) -> list[dict]:
    """The rows ``params --json`` prints: one per value of ``--sizes`` (the method's size knob) or of ``--ranks``
    (r), else one."""
    spec = spec_from_args(args)  # fail fast, before torch is even imported
    from workbench.errors import SpecError
    record = methods.get(spec.method)
    sizes = getattr(args, "sizes", None)
    if sizes is not None:
        knob = record.budget_knob
        if knob is None:
            raise SpecError("--sizes", "cli.no_size_knob", method=spec.method, knobs=", ".join(record.knobs) or "-")
        values = [_int("--sizes", v, 0, 1 << 30) for v in sizes.split(",") if v.strip()]
        if not values:
            raise SpecError("--sizes", "cli.give_a_rank")
        for v in values:  # each value is a valid setting of the knob (its range), before anything is counted
            spec.with_knob(knob, v)
    else:
        knob = "r" if "r" in record.knobs else record.budget_knob
        values = [_int("--ranks", r, 1, 4096) for r in (args.ranks or "").split(",") if r.strip()]
        if not values:
            raise SpecError("--ranks", "cli.give_a_rank")
        if knob != "r":
            values = [spec.knob(knob)] if knob else [0]
    from workbench.core.model.counting import sweep
    return [asdict(c) for c in sweep(meta_model(args.model), spec, values, knob=knob)]


def run(args) -> int:
    """Print parameter counts for ``args`` (a JSON array with --json)."""
    rows = counts(args)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    head = f"{'method':<16} {'size':>12} {'trainable':>14} {'total':>16} {'percent':>9} {'layers':>7} {'fp32 size':>11}"
    print(f"model: {args.model}\n{head}\n{'-' * len(head)}")
    for r in rows:
        size = f"{r['knob']}={r['size']}" if r.get("knob") else "-"
        print(f"{r['method']:<16} {size:>12} {r['trainable']:>14,} "
              f"{r['total']:>16,} {r['percent']:>8.4f}% {r['layers'] if r['layers'] is not None else '-':>7} "
              f"{r['adapter_bytes_fp32'] / 1e6:>9.2f}MB")
    return 0

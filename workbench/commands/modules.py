"""`python -m workbench modules --model M [--json]`: a model's modules and the layers LoRA can wrap.

Works from the architecture alone (a meta model built from the config): no weights are read.
"""
from __future__ import annotations

import json

DEFAULT_MODEL = "smollm2-135m-instruct"


def add_parser(sub) -> None:
    """Register the ``modules`` command on an argparse sub-parser collection."""
    p = sub.add_parser("modules", help="list a model's modules, grouped by leaf name, and its default targets",
                       description="List a model's modules (built on the meta device: no weights are loaded).")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help="preset name, local checkpoint dir, config.json path or hub id (default: %(default)s)")
    p.add_argument("--method", default="lora", help="method whose default targets to show: lora (default) or ia3")
    p.add_argument("--json", action="store_true", help="print stable JSON instead of a table")
    p.set_defaults(func=run)


def meta_model(name: str):
    """The architecture-only (meta) model for a name, quietly (library warnings would clutter stderr)."""
    import warnings
    from workbench.core.model.loading import MODEL_CACHE
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MODEL_CACHE.meta(name)


def inspect(name: str, method: str = "lora") -> dict:
    """The JSON document ``modules --json`` prints."""
    from workbench.core.model.modules import TargetError, default_targets, list_modules, total_params
    model = meta_model(name)
    try:
        defaults = default_targets(model, method)
    except TargetError:
        defaults = []
    return {
        "model": name,
        "total_params": total_params(model),
        "default_targets": defaults,
        "modules": [{"name": r.name, "type": r.type, "params": r.params,
                     "in_features": r.in_features, "out_features": r.out_features} for r in list_modules(model)],
    }


def _table(name: str, method: str) -> str:
    from workbench.core.model.modules import TargetError, default_targets, group_by_leaf, linear_leaf_names, total_params
    model = meta_model(name)
    try:
        defaults = ", ".join(default_targets(model, method)) or "(none)"
    except TargetError as e:
        defaults = f"(none: {e})"
    lines = [f"model: {name}   total parameters: {total_params(model):,} (tied weights counted once)",
             f"default {method} targets: {defaults}",
             f"layers LoRA can wrap: {', '.join(linear_leaf_names(model))}", ""]
    head = f"{'leaf':<28} {'type':<22} {'count':>5} {'params each':>14} {'in':>8} {'out':>8} {'params total':>15}"
    lines += [head, "-" * len(head)]
    for g in group_by_leaf(model):
        lines.append(f"{g.leaf:<28} {g.type:<22} {g.count:>5} {g.params_each:>14,} {g.in_features or '':>8} "
                     f"{g.out_features or '':>8} {g.count * g.params_each:>15,}")
    from workbench.core.model.modules import list_modules
    for r in list_modules(model):
        if r.tied_to:
            lines.append(f"note: {r.name} shares its weight with {r.tied_to} (tied); the total counts it once")
    return "\n".join(lines)


def run(args) -> int:
    """Print the modules of ``args.model`` (JSON with --json)."""
    from workbench.spec import methods
    names = methods.names()
    if args.method not in names:
        from workbench.errors import SpecError
        raise SpecError("--method", "settings.either", choices=", ".join(names[:-1]), last=names[-1], value=args.method)
    if args.json:
        print(json.dumps(inspect(args.model, args.method), indent=1))
    else:
        print(_table(args.model, args.method))
    return 0

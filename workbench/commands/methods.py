"""`python -m workbench methods [--json]`: every PEFT method the workbench offers, by group (selective,
reparameterized, additive; full fine-tuning is the reference), with its PEFT type, its settings and what sizes it.

Read from the method registry (workbench.spec.methods): a method registered by a family file is listed here too.
"""
from __future__ import annotations

import json

from workbench.messages import LANGUAGES, text
from workbench.spec import methods


def add_parser(sub) -> None:
    """Register the ``methods`` command on an argparse sub-parser collection."""
    p = sub.add_parser("methods", help="list the PEFT methods by group (selective, reparameterized, additive)",
                       description="List every PEFT method the workbench offers, grouped as in Lialin et al. 2023: "
                                   "its PEFT type, its settings (knobs), the one an experiment's budget sizes, "
                                   "and a one-line description.")
    p.add_argument("--json", action="store_true",
                   help="print a stable JSON array (name, group, peft_type, knobs, budget_knob, options, paper, "
                        "description)")
    p.add_argument("--markdown", action="store_true",
                   help="print the README's table of the methods by group (Markdown)")
    p.set_defaults(func=run)


def rows() -> list[dict]:
    """One dict per registered method, group by group (what ``methods --json`` prints)."""
    out = []
    for name in methods.grouped_names():
        m = methods.get(name)
        out.append({"name": m.name, "group": m.group, "peft_type": m.peft_type or None, "knobs": list(m.knobs),
                    "budget_knob": m.budget_knob,
                    "options": {o.name: {"default": o.default, "about": o.doc} for o in m.options},
                    "paper": m.paper or None,
                    "description": {lang.split("-")[0]: m.description(lang) for lang in LANGUAGES}})
    return out


def markdown() -> str:
    """The README's table: one row per method, group by group (README.md holds exactly this text; a test checks)."""
    lines = ["| group | method | PEFT type | size knob | what it trains | from |", "|---|---|---|---|---|---|"]
    for r in rows():
        lines.append(f"| {text(methods.group_id(r['group']))} | `{r['name']}` | {r['peft_type'] or '-'} | "
                     f"{r['budget_knob'] or '-'} | {r['description']['en']} | {r['paper'] or '-'} |")
    return "\n".join(lines)


def run(args) -> int:
    """Print the methods (a JSON array with --json, a Markdown table with --markdown, else a table per group)."""
    listed = rows()
    if args.json:
        print(json.dumps(listed, indent=1))
        return 0
    if getattr(args, "markdown", False):
        print(markdown())
        return 0
    width = max(len(r["name"]) for r in listed)
    for group, names in methods.by_group().items():
        print(f"{text(methods.group_id(group))} ({len(names)})")
        for r in (r for r in listed if r["group"] == group):
            size = f"sized by {r['budget_knob']}" if r["budget_knob"] else "fixed size"
            print(f"  {r['name']:<{width}}  {r['peft_type'] or '-':<14} {size:<28} {r['description']['en']}")
        print()
    return 0

"""`python -m workbench <command>`: the same engine as the page, no UI.

Each command lives in workbench/commands/<name>.py with ``add_parser(sub)`` and ``run(args) -> int``.
Bad input exits non-zero with one clear line on stderr.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("modules", "params", "methods", "train", "generate", "eval", "export", "runs", "experiment", "notebook")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m workbench", description="PEFT Workbench command line")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"workbench.commands.{name}").add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from workbench.errors import user_error_types
    try:
        return int(args.func(args) or 0)
    except user_error_types() as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

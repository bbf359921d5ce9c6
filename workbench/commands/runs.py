"""`python -m workbench runs`: list, inspect and stop training runs.

    python -m workbench runs [list] [--json]
    python -m workbench runs show RUN_ID [--json]
    python -m workbench runs stop RUN_ID

Runs live under WORKBENCH_RUNS_DIR (default <repo>/runs).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("runs", help="list, show or stop training runs", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", nargs="?", default="list", choices=("list", "show", "stop"))
    p.add_argument("run_id", nargs="?", help="the run for show / stop")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
    return p


_ALWAYS_SHOWN = ("name", "owner", "started", "ended", "pid", "error", "train_loss", "eval_loss")
"""Status fields `runs show` prints even when unset; the others only once a run has a value for them."""


def _when(ts) -> str:
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def run(args) -> int:
    from workbench.core.runstore import run_dirs as runs
    from workbench.errors import WorkbenchError

    if args.action in ("show", "stop") and not args.run_id:
        raise WorkbenchError("cli.runs_needs_id", action=args.action)
    if args.action == "list":
        rows = runs.list_runs()
        if args.json:
            print(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
            return 0
        if not rows:
            print(f"no runs in {runs.runs_root()}")
            return 0
        print(f"{'RUN ID':<24} {'STATUS':<9} {'METHOD':<14} {'STEP':>9} {'TRAIN':>8} {'EVAL':>8}  CREATED             NAME")
        for r in rows:
            print(f"{r.run_id:<24} {r.status:<9} {r.method:<14} {f'{r.step}/{r.max_steps}':>9} "
                  f"{_fmt(r.train_loss):>8} {_fmt(r.eval_loss):>8}  {_when(r.created):<19} {r.name or ''}")
        return 0
    if args.action == "show":
        st = runs.run_status(args.run_id).to_dict()
        if not args.json:
            for key in ("traceback", "log_tail", "error_message", "version"):
                st.pop(key, None)
            for key in [k for k, v in st.items() if v is None and k not in _ALWAYS_SHOWN]:
                st.pop(key)
        if args.json:
            print(json.dumps({"status": st, "log": runs.read_log(args.run_id)}, indent=1, default=str))
            return 0
        for k, v in st.items():
            print(f"{k:>18}: {_when(v) if k in ('created', 'started', 'ended', 'updated') else _fmt(v)}")
        print(f"{'log rows':>18}: {len(runs.read_log(args.run_id))}")
        return 0
    st = runs.request_stop(args.run_id)
    print(json.dumps(st.to_dict(), default=str) if args.json else f"{args.run_id}: {st.status}")
    return 0

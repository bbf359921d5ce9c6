"""`python -m workbench experiment`: plan, run, list and show experiments (many runs side by side).

    python -m workbench experiment plan FILE [--json]
    python -m workbench experiment run FILE [--max-steps N] [--limit N] [--output-dir DIR] [--json]
    python -m workbench experiment list [--json]
    python -m workbench experiment show ID [--json]
    python -m workbench experiment show NAME [--json]     (a shipped experiment's recorded result, at once)
    python -m workbench experiment resume ID [--json]     (train what an interrupted experiment left)
    python -m workbench experiment record ID --as NAME    (keep a finished run as NAME's recorded result)

FILE is an experiment YAML (see presets/experiments/) or a shipped name such as rank-sweep. `run` trains every
variant one after another in this process (the base model, tokenizer and tokenized data are loaded once), scores
each on held-out data plus one base-model row, and writes DIR/<experiment id>/ (default: WORKBENCH_EXPERIMENTS_DIR,
else <runs folder>/experiments) with experiment.yaml, results.jsonl, results.csv, report.md and the charts. Each
run is also an ordinary run directory under the runs folder. --limit: held-out prompts the task metric uses.

Recorded results: presets/experiments/recorded/NAME.json (env WORKBENCH_RECORDED_DIR: elsewhere) holds the answer of
a real run of the shipped experiment NAME - its rows, base row, loss curves, run settings and where and when it ran -
so `show NAME` prints it without training (and the Experiments tab opens on it). To refresh one after a real run:

    python -m workbench experiment run full-vs-peft
    python -m workbench experiment record full-vs-peft-20250101-120000-ab12 --as full-vs-peft

`record` takes an experiment id (or its folder; --output-dir: where the id is) that has finished; its runs must be
NAME's runs (the same labels). Record on the machine that ran it: the CPU, versions and commit are taken then.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import sys

from workbench.core.experiments.report import fmt, fmt_signed
from workbench.messages import text


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("experiment", help="plan, run, list or show experiments (many runs side by side)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("plan", "run", "list", "show", "resume", "record"))
    p.add_argument("target", nargs="?", help="experiment file or shipped name (plan/run), experiment id or shipped "
                                             "name (show: a name shows its recorded result), experiment id (record)")
    p.add_argument("--as", dest="as_name", metavar="NAME",
                   help="record: the shipped experiment the run answers "
                        "(writes presets/experiments/recorded/NAME.json)")
    p.add_argument("--max-steps", type=int, help="override the experiment's max_steps for every run")
    p.add_argument("--limit", type=int, help="held-out prompts to score each run on (default: the experiment's)")
    p.add_argument("--output-dir", help="where the experiment folder goes (show / resume: where it is)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
    return p


def _positive(flag: str, value) -> None:
    from workbench.errors import WorkbenchError
    if value is not None and value < 1:
        raise WorkbenchError("experiments.bad_flag", flag=flag, value=value)


def run(args) -> int:
    from workbench.core.experiments import definition as experiments
    from workbench.errors import WorkbenchError

    _positive("--max-steps", args.max_steps)
    _positive("--limit", args.limit)
    if args.action != "list" and not args.target:
        raise WorkbenchError("experiments.needs_argument", action=args.action,
                             argument="ID" if args.action in ("show", "resume", "record") else "FILE")
    if args.action == "record":
        return _record(args)
    if args.action == "show" and args.target in experiments.shipped():
        return _show_recorded(args)
    if args.action == "plan":
        from workbench.core.experiments.plan import expand, plan_rows
        rows = plan_rows(expand(experiments.load(args.target), max_steps=args.max_steps))
        if args.json:
            keys = ("label", "method", "r", "num_virtual_tokens", "target_modules", "trainable", "total", "percent")
            print(json.dumps([{k: getattr(r, k) for k in keys} for r in rows], indent=1))
            return 0
        print(f"{'RUN':<34} {'METHOD':<14} {'R':>4} {'TOKENS':>6} {'TRAINABLE':>11} {'%':>8}  TARGETS / NOTE")
        for r in rows:
            print(f"{r.label[:34]:<34} {r.method:<14} {fmt(r.r):>4} {fmt(r.num_virtual_tokens):>6} "
                  f"{r.trainable:>11,} {r.percent:>8.4f}  {fmt(r.target_modules)}{'  ' + r.note if r.note else ''}")
        return 0
    if args.action in ("run", "resume"):
        return _run(args, experiments.load(args.target) if args.action == "run" else None)
    from workbench.core.experiments import results as experiment_results
    if args.action == "list":
        rows = experiment_results.list_experiments()
        if args.json:
            print(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
            return 0
        if not rows:
            print(f"no experiments in {experiment_results.experiments_root()}")
            return 0
        print(f"{'EXPERIMENT ID':<44} {'RUNS':>4} {'DONE':>4} {'FAILED':>6}  CREATED")
        for r in rows:
            when = datetime.datetime.fromtimestamp(r.created).strftime("%Y-%m-%d %H:%M:%S")
            print(f"{r.experiment_id:<44} {r.runs:>4} {r.done:>4} {r.failed:>6}  {when}")
        return 0
    result = experiment_results.read_experiment(args.target, root=args.output_dir)
    if args.json:
        print(json.dumps({"experiment_id": result.experiment_id, "name": result.name, "status": result.status,
                          "directory": str(result.directory), "runs": [r.to_json() for r in result.rows],
                          "base": result.base.to_json() if result.base else None, "files": result.files}, indent=1))
        return 0
    _print_table(result)
    print(f"folder: {result.directory}")
    return 0


def _run(args, spec) -> int:
    from workbench.core.experiments.runner import run_experiment

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with contextlib.redirect_stdout(sys.stderr):  # Trainer prints its log dicts: stdout stays the results only
        if spec is None:
            from workbench.core.experiments.queue_jobs import work  # continue_experiment holding the runs' writer locks (WorkerLifeline)
            result = work(args.target, root=args.output_dir, progress=progress)
        else:
            result = run_experiment(spec, output_dir=args.output_dir, max_steps=args.max_steps,
                                    eval_limit=args.limit, progress=progress)
    if args.json:
        for row in result.rows:
            print(json.dumps(row.to_json()))
        if result.base is not None:
            print(json.dumps(result.base.to_json()))
        return 0
    _print_table(result)
    print(f"report: {result.directory / 'report.md'}")
    return 0


def _record(args) -> int:
    from workbench.core.experiments import recorded
    from workbench.errors import WorkbenchError
    if not args.as_name:
        raise WorkbenchError("experiments.needs_argument", action="record", argument="--as NAME")
    path = recorded.record(args.target, args.as_name, root=args.output_dir)
    if args.json:
        print(json.dumps({"name": args.as_name, "path": str(path)}))
    else:
        print(text("experiments.recorded_written", "en", name=args.as_name, path=str(path)))
    return 0


def _show_recorded(args) -> int:
    """`show NAME`: the recorded result of a shipped experiment, preceded by where and when it ran."""
    from workbench.core.experiments import recorded
    from workbench.errors import WorkbenchError
    rec = recorded.load(args.target)
    if rec is None:
        raise WorkbenchError("experiments.no_recording", name=args.target)
    result = rec.as_result()
    if args.json:
        print(json.dumps({"experiment_id": result.experiment_id, "name": rec.name, "status": result.status,
                          "recorded": dataclasses.asdict(rec.provenance), "label": rec.label_message().render("en"),
                          "runs": [r.to_json() for r in rec.rows],
                          "base": rec.base.to_json() if rec.base else None, "file": str(rec.path)}, indent=1))
        return 0
    print(rec.label_message().render("en"))
    _print_table(result)
    return 0


def _print_table(result) -> None:
    print(f"{'RUN':<30} {'METHOD':<14} {'TRAINABLE':>11} {'SCORE':>6} {'FORGET':>7} {'EVAL':>7} {'WALL S':>7} "
          f"{'MB':>7}  STATUS")
    for r in result.rows:
        print(f"{r.label[:30]:<30} {r.method:<14} {r.trainable:>11,} {fmt(r.score):>6} {fmt_signed(r.forgetting):>7} "
              f"{fmt(r.eval_loss):>7} {fmt(r.wall_s, 1):>7} {fmt(r.adapter_mb, 2):>7}  "
              f"{r.status}{' (' + r.error + ')' if r.error else ''}")
    if result.base is not None:
        b = result.base
        print(f"{'base':<30} {'-':<14} {'-':>11} {fmt(b.score):>6} {fmt_signed(b.forgetting):>7} "
              f"{fmt(b.eval_loss):>7} {'-':>7} {'-':>7}")
    print(text("cli.forgetting_legend", "en"))

"""`python -m workbench notebook`: a Jupyter notebook that reproduces a run with plain transformers + peft.

    python -m workbench notebook RUN_DIR [--out FILE.ipynb] [--card]

RUN_DIR is a run directory (with config.yaml) or a run id under WORKBENCH_RUNS_DIR. The notebook pins this
environment's versions, holds the seed, the data (shipped datasets inlined), the config, training with Trainer,
the held-out evaluation with the dataset's metric and a base-vs-adapter comparison. Its MAX_STEPS (environment
variable WORKBENCH_NB_MAX_STEPS) makes a quick try cheap. --card also (re)writes the adapter's model card
(adapter/README.md).
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("notebook", help="write a Jupyter notebook that reproduces a run (transformers + peft)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="run directory (or run id under the runs folder)")
    p.add_argument("--out", help="where to write the notebook (default: <run_dir>/reproduce-<run id>.ipynb)")
    p.add_argument("--card", action="store_true", help="also (re)write the model card adapter/README.md")
    p.set_defaults(func=run)
    return p


def run_directory(name: str) -> Path:
    """A run directory from a path or a run id (RunError when neither names a run)."""
    from workbench.core.runstore import run_dirs as runs
    path = Path(name).expanduser()
    if (path / "config.yaml").is_file():
        return path
    return runs.existing_run_dir(name)


def run(args) -> int:
    from workbench.core.export.notebook import write_notebook
    run_dir = run_directory(args.run_dir)
    out = Path(args.out) if args.out else run_dir / f"reproduce-{run_dir.name}.ipynb"
    print(f"notebook: {write_notebook(run_dir, out)}")
    if args.card:
        from workbench.core.export.model_card import write_model_card
        card = write_model_card(run_dir)
        print(f"model card: {card}" if card else "model card: the run has no adapter yet")
    return 0

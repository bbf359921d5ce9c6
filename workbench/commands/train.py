"""`python -m workbench train`: train one run from a config file or a run directory.

    python -m workbench train CONFIG.yaml [--output-dir DIR] [--max-steps N] [--resume]
    python -m workbench train --run-dir DIR [--resume] [--max-steps N]

Also works under `accelerate launch --multi_gpu --num_processes 2 -m workbench train CONFIG.yaml`
and `torchrun --nproc_per_node 2 -m workbench train CONFIG.yaml` (DDP; only rank 0 writes files).
Caps for shared machines: WORKBENCH_MAX_STEPS, WORKBENCH_MAX_WALL_SECONDS (see workbench/core/training/run_limits.py).
"""
from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train an adapter from a config file (or continue a run)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", help="run config YAML (a RunSpec; see presets/recipes/)")
    p.add_argument("--run-dir", help="an existing run directory (with config.yaml) to train or resume")
    p.add_argument("--output-dir", help="where the run directory goes (default: a new run under the runs folder)")
    p.add_argument("--max-steps", type=int, help="override train.max_steps")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from workbench.core.training import trainer as train
    from workbench.core.training.callbacks import dist_info
    from workbench.errors import WorkbenchError

    if bool(args.config) == bool(args.run_dir):
        raise WorkbenchError("cli.config_or_run_dir")
    if args.max_steps is not None and args.max_steps < 1:
        raise WorkbenchError("cli.flag_min_bare", flag="--max-steps", lo=1)
    if args.run_dir:
        from pathlib import Path
        run_dir = Path(args.run_dir)
        if not (run_dir / "config.yaml").is_file():
            raise WorkbenchError("cli.not_a_run_dir", path=str(run_dir))
    else:
        run_dir = train.prepare_run_dir(args.config, args.output_dir, args.max_steps, args.resume)
    rank, _ = dist_info()
    if rank == 0:
        print(f"run directory: {run_dir}", flush=True)
    from contextlib import nullcontext

    from workbench.core.serving.worker_lifetime import WorkerLifeline
    try:  # rank 0 holds the run's writer lock; a server's worker also stops when its server goes (worker_lifetime.py)
        with WorkerLifeline(run_dir) if rank == 0 else nullcontext():
            status = train.run_training(run_dir, resume=args.resume, max_steps_override=args.max_steps)
    finally:
        _shutdown_distributed()
    if rank == 0:
        loss = status.eval_loss
        extra = f", eval loss {loss:.4f}" if loss is not None else ""
        print(f"{status.status} at step {status.step}{extra}. adapter: {status.adapter_dir}", flush=True)
    return 0


def _shutdown_distributed() -> None:
    try:
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    except Exception:  # pragma: no cover - best effort at exit
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: python -m workbench train ...")

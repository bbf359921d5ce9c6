"""Two DDP processes on this CPU (gloo) via `accelerate launch --multi_gpu --num_processes 2`.

Note: `accelerate launch --cpu --num_processes 2` starts only ONE process, so the test asserts the
world size the Trainer saw (recorded in status.json), not just a zero exit code."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.core.runstore import run_dirs as runs
from workbench.spec.settings import RunSpec

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_accelerate_two_processes(tiny_llama_dir, tmp_path):
    accelerate = Path(sys.executable).with_name("accelerate")
    if not accelerate.exists():
        accelerate = shutil.which("accelerate")
    assert accelerate, "accelerate CLI not found next to the interpreter"
    cfg = tmp_path / "ddp.yaml"
    RunSpec.from_dict({
        "model": {"name": tiny_llama_dir},
        "adapter": {"method": "lora", "r": 4, "dropout": 0.0},
        "data": {"name": "json-format", "limit": 4, "max_length": 96, "use_chat_template": False},
        "train": {"max_steps": 5, "learning_rate": 1e-2, "batch_size": 2, "warmup_steps": 0, "save_steps": 2,
                  "eval_at_end": False, "device": "cpu"},
    }).save(cfg)
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
           "-m", "workbench", "train", str(cfg), "--output-dir", str(out), "--max-steps", "3"]
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    st = runs.read_status(out).to_dict()
    assert st["world_size"] == 2, st
    assert st["status"] == "done" and st["step"] == 3 and st["max_steps"] == 3
    assert [r["step"] for r in runs.read_log_dir(out) if "loss" in r] == [1, 2, 3]  # rank 0 only: no duplicates
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert runs.last_checkpoint(out).name == "checkpoint-3"
    assert p.stdout.count("adapter: ") == 1  # one final line, from rank 0

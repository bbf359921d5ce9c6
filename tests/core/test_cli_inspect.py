"""`python -m workbench modules|params`: stable JSON on stdout; bad input -> non-zero exit, ONE stderr line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import main

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "workbench", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def stderr_lines(p: subprocess.CompletedProcess) -> list[str]:
    return [line for line in p.stderr.splitlines() if line.strip()]


# --------------------------------------------------------------------------- subprocess: the real entry point

def test_modules_json_subprocess():
    p = run_cli("modules", "--model", "SmolLM2-135M", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert set(doc) == {"model", "total_params", "default_targets", "modules"}
    assert doc["model"] == "SmolLM2-135M"
    assert doc["total_params"] == 134_515_008
    assert doc["default_targets"] == ["q_proj", "v_proj"]
    rows = {m["name"]: m for m in doc["modules"]}
    assert set(rows["model.layers.0.self_attn.q_proj"]) == {"name", "type", "params", "in_features", "out_features"}
    assert rows["model.layers.0.self_attn.q_proj"] == {"name": "model.layers.0.self_attn.q_proj", "type": "Linear",
                                                       "params": 331_776, "in_features": 576, "out_features": 576}


def test_params_json_subprocess():
    p = run_cli("params", "--model", "SmolLM2-135M", "--method", "lora", "--targets", "q_proj,v_proj",
                "--ranks", "1,4,8,64", "--json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert [r["trainable"] for r in rows] == [57_600, 230_400, 460_800, 3_686_400]
    assert [r["rank"] for r in rows] == [1, 4, 8, 64]
    for r in rows:
        assert {"method", "rank", "trainable", "total", "percent", "layers", "adapter_bytes_fp32",
                "adapter_bytes_bf16"} <= set(r)
        assert r["total"] == 134_515_008 + r["trainable"] and r["method"] == "lora"


def test_bad_method_subprocess():
    p = run_cli("params", "--model", "SmolLM2-135M", "--method", "lorra", "--json")
    assert p.returncode != 0 and p.stdout == ""
    lines = stderr_lines(p)
    assert len(lines) == 1, p.stderr
    assert "adapter.method" in lines[0] and "lorra" in lines[0]


def test_bad_targets_subprocess():
    p = run_cli("params", "--model", "SmolLM2-135M", "--targets", "q_porj,v_proj", "--json")
    assert p.returncode != 0 and p.stdout == ""
    lines = stderr_lines(p)
    assert len(lines) == 1, p.stderr
    assert "'q_porj' matches no module; closest: q_proj" in lines[0]


# --------------------------------------------------------------------------- in-process: the other options

def cli_json(capsys, *args: str):
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def test_params_prompt_methods_have_no_rank(capsys):
    rows = cli_json(capsys, "params", "--model", "t5-small", "--method", "prompt_tuning", "--virtual-tokens", "5",
                    "--ranks", "1,2", "--json")
    assert len(rows) == 1 and rows[0]["rank"] is None
    assert rows[0]["trainable"] == 2 * 5 * 512  # encoder + decoder prompts, d_model 512


def test_params_options_reach_the_spec(capsys):
    base = cli_json(capsys, "params", "--model", "GPT-2", "--ranks", "2", "--json")[0]
    biased = cli_json(capsys, "params", "--model", "GPT-2", "--ranks", "2", "--bias", "lora_only", "--json")[0]
    assert base["trainable"] == 12 * 2 * (768 + 2304)
    assert biased["trainable"] == base["trainable"] + 12 * 2304
    lin = cli_json(capsys, "params", "--model", "GPT-2", "--targets", "all-linear", "--ranks", "1", "--json")[0]
    assert lin["layers"] == 48
    rx = cli_json(capsys, "params", "--model", "GPT-2", "--targets", r"re:.*h\.0\.attn\.c_attn", "--json")[0]
    assert rx["layers"] == 1
    pre = cli_json(capsys, "params", "--model", "GPT-2", "--method", "prefix_tuning", "--prefix-projection",
                   "--virtual-tokens", "10", "--json")[0]
    d, L = 768, 12
    assert pre["trainable"] == 10 * d + (d * d + d) + (d * L * 2 * d + L * 2 * d)
    lstm = cli_json(capsys, "params", "--model", "GPT-2", "--method", "p_tuning", "--encoder", "LSTM", "--json")[0]
    mlp = cli_json(capsys, "params", "--model", "GPT-2", "--method", "p_tuning", "--json")[0]
    assert lstm["trainable"] > mlp["trainable"] > 0


@pytest.mark.parametrize("args,field", [
    (["--bias", "some"], "adapter.bias"),
    (["--ranks", "4,x"], "--ranks"),
    (["--virtual-tokens", "0"], "--virtual-tokens"),
    (["--encoder", "GRU", "--method", "p_tuning"], "encoder_reparameterization_type"),
])
def test_bad_values_are_one_line(capsys, args, field):
    assert main(["params", "--model", "SmolLM2-135M", *args, "--json"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.strip().splitlines()) == 1 and field in out.err


def test_text_tables(capsys):
    assert main(["modules", "--model", "SmolLM2-135M"]) == 0
    out = capsys.readouterr().out
    assert "default lora targets: q_proj, v_proj" in out
    assert any(line.split()[:3] == ["q_proj", "Linear", "30"] and "331,776" in line for line in out.splitlines())
    assert "lm_head shares its weight with model.embed_tokens" in out
    assert main(["params", "--model", "SmolLM2-135M", "--ranks", "1,8"]) == 0
    assert "460,800" in capsys.readouterr().out

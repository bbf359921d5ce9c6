"""Shared fixtures: the embedded model (converted once, cached) and tiny random models built
locally from configs. Nothing here touches the network."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds (real model, training, browser)")


@pytest.fixture(params=[False, True], ids=["cpu-without-native-bf16", "cpu-with-native-bf16"])
def native_bf16(request, monkeypatch):
    """Both kinds of CPU through the one switch, ``WORKBENCH_NATIVE_BF16`` (workbench.core.model.precision): False =
    bf16 emulated (AVX2; precision auto = fp32), True = native (AVX-512 BF16 / AMX; auto = bf16). Subprocesses
    inherit it."""
    from workbench.core.model.precision import NATIVE_BF16_ENV
    monkeypatch.setenv(NATIVE_BF16_ENV, "1" if request.param else "0")
    return request.param


@pytest.fixture(scope="session")
def embedded_dir():
    """Directory of the embedded SmolLM2-135M-Instruct checkpoint (safetensors + tokenizer)."""
    from workbench.core.model.loading import embedded_checkpoint_dir
    return embedded_checkpoint_dir()


@pytest.fixture(scope="session")
def tokenizer(embedded_dir):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(embedded_dir))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def tiny_config(model_type: str = "llama", vocab_size: int = 49152):
    """Tiny configs (2 layers, hidden 64) of real architectures."""
    from transformers import AutoConfig
    common = dict(vocab_size=vocab_size)
    if model_type in ("llama", "mistral"):
        return AutoConfig.for_model(model_type, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                    num_key_value_heads=2, intermediate_size=128, max_position_embeddings=512,
                                    tie_word_embeddings=True, **common)
    if model_type == "qwen2":
        return AutoConfig.for_model("qwen2", hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                    num_key_value_heads=2, intermediate_size=128, max_position_embeddings=512,
                                    tie_word_embeddings=False, **common)
    if model_type == "gpt2":
        return AutoConfig.for_model("gpt2", n_embd=64, n_layer=2, n_head=4, n_positions=512, **common)
    if model_type == "t5":
        return AutoConfig.for_model("t5", d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2,
                                    num_heads=4, **common)
    if model_type == "bart":
        return AutoConfig.for_model("bart", d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                                    decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
                                    max_position_embeddings=512, **common)
    raise ValueError(model_type)


@pytest.fixture(scope="session")
def tiny_config_factory():
    return tiny_config


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, tokenizer):
    """A tiny random Llama (2 layers, hidden 64) saved with the SmolLM2 tokenizer and chat template.

    Usable anywhere a model name is: it is a local checkpoint directory.
    """
    import torch
    from transformers import AutoModelForCausalLM
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("tiny-llama")
    cfg = tiny_config("llama", vocab_size=len(tokenizer))
    cfg.pad_token_id = tokenizer.pad_token_id
    cfg.eos_token_id = tokenizer.eos_token_id
    model = AutoModelForCausalLM.from_config(cfg)
    model.save_pretrained(d)
    tokenizer.save_pretrained(d)
    return str(d)


@pytest.fixture()
def one_thread():
    """One torch thread: on a small shared CPU, 2 threads on tiny matrices are slower, not faster."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture()
def runs_dir(tmp_path, monkeypatch):
    """An isolated runs root for one test."""
    d = tmp_path / "runs"
    d.mkdir()
    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(d))
    return d


# --------------------------------------------------------------------------- the real app in a subprocess

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory, embedded_dir):
    port = _free_port()
    runs = tmp_path_factory.mktemp("server-runs")
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), WORKBENCH_RUNS_DIR=str(runs),
               GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    log = open(runs / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    t0 = time.time()
    while time.time() - t0 < 120:
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.5)
        if proc.poll() is not None:
            raise RuntimeError((runs / "server.log").read_text())
    else:
        proc.kill()
        raise RuntimeError("server did not start: " + (runs / "server.log").read_text()[-2000:])
    yield {"url": url, "runs": runs, "startup_s": time.time() - t0}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()



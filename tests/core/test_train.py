"""Training runs on a tiny random Llama (2 layers, hidden 64, the real SmolLM2 tokenizer).

Every method must lower the loss on a fixed batch, save an adapter that plain
PeftModel.from_pretrained reloads to the same logits, and the run files must tell the truth
through stops, failures, crashes and resumes."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from workbench.cli import main
from workbench.core.runstore import run_dirs as runs
from workbench.core.training import trainer as train
from workbench.spec.settings import RunSpec

METHODS = {  # adapter settings and a learning rate high enough to move a random model in 4 steps
    "lora": ({"method": "lora", "r": 8, "dropout": 0.0}, 5e-2),
    "dora": ({"method": "dora", "r": 8, "dropout": 0.0}, 5e-2),
    "qlora": ({"method": "qlora", "r": 8, "dropout": 0.0}, 2e-2),
    "prompt_tuning": ({"method": "prompt_tuning", "num_virtual_tokens": 8}, 1e-1),
    "p_tuning": ({"method": "p_tuning", "num_virtual_tokens": 8, "encoder_hidden_size": 32}, 3e-2),
    "prefix_tuning": ({"method": "prefix_tuning", "num_virtual_tokens": 8}, 1e-1),
    "ia3": ({"method": "ia3"}, 1e-1),
}


@pytest.fixture(autouse=True)
def fault_hooks(monkeypatch):
    """Runs here load the test-only fault callback (WORKBENCH_FAIL_AT_STEP / WORKBENCH_STEP_DELAY_S)."""
    from tests.support.faults import HOOK
    monkeypatch.setenv("WORKBENCH_EXTRA_CALLBACKS", HOOK)


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_spec(model_dir: str, method: str = "lora", **train_kw) -> RunSpec:
    adapter, lr = METHODS[method]
    t = {"max_steps": 4, "learning_rate": lr, "batch_size": 2, "warmup_steps": 0, "lr_scheduler": "constant",
         "save_steps": 100, "eval_at_end": False, "device": "cpu", "group_by_length": False}
    t.update(train_kw)
    return RunSpec.from_dict({"model": {"name": model_dir}, "adapter": adapter,
                              "data": {"name": "json-format", "limit": 2, "max_length": 96,
                                       "use_chat_template": False}, "train": t})


def new_run(spec: RunSpec) -> Path:
    return runs.safe_run_dir(runs.create_run(spec))


def fixed_batch(spec: RunSpec, tok) -> dict:
    from workbench.core.data import datasets as data
    ds = data.build_datasets(spec.data, tok).train
    return data.make_collator(tok)([ds[i] for i in range(len(ds))])


@torch.no_grad()
def batch_loss(model, batch) -> float:
    model.eval()
    return float(model(**batch).loss)


@torch.no_grad()
def logits(model, batch) -> torch.Tensor:
    model.eval()
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()


def loss_steps(run_dir: Path) -> list[int]:
    return [r["step"] for r in runs.read_log_dir(run_dir) if "loss" in r]


# --------------------------------------------------------------------------- every method

@pytest.mark.parametrize("method", list(METHODS))
def test_method_lowers_loss_and_adapter_reloads(tiny_llama_dir, runs_dir, method):
    from peft import PeftModel

    from workbench.core.model.loading import load_model
    spec = tiny_spec(tiny_llama_dir, method)
    d = new_run(spec)
    from workbench.core.training.model_setup import load_for_training
    fresh, tok = load_for_training(spec, "cpu")  # same seed -> the adapter the run starts from
    batch = fixed_batch(spec, tok)
    before = batch_loss(fresh, batch)
    del fresh

    out = train.execute(d)
    st = out.status
    assert st.status == "done" and st.step == 4 and st.world_size == 1 and st.device == "cpu"
    assert st.trainable_params > 0 and st.total_params > st.trainable_params
    after = batch_loss(out.model, batch)
    assert after < before - 0.01, f"{method}: loss on a fixed batch {before:.4f} -> {after:.4f}"

    rows = runs.read_log_dir(d)
    assert loss_steps(d) == [1, 2, 3, 4]
    assert all(r["tokens_per_s"] and r["tokens_per_s"] > 0 and r["learning_rate"] for r in rows)
    assert rows[-1]["eta_s"] == 0 and rows[-1]["elapsed_s"] > 0

    base, _ = load_model(tiny_llama_dir, quantize_4bit=method == "qlora")
    loaded = PeftModel.from_pretrained(base, str(d / "adapter"))
    expected = logits(out.model, batch)
    got = logits(loaded, batch)
    tol = 1e-3 if method == "qlora" else 1e-5
    assert torch.allclose(got, expected, atol=tol, rtol=tol), (got - expected).abs().max()


def test_qlora_compute_dtype_auto_follows_the_cpu(tiny_llama_dir, native_bf16):
    """auto = bf16 only where the CPU runs it natively; elsewhere fp32 (emulated bf16 made a 4-bit forward 3.7x
    slower). An explicit dtype is kept, and the 4-bit model really computes in the resolved dtype."""
    from workbench.core.model import loading as models
    from workbench.core.model.precision import pick_compute_dtype
    from workbench.errors import SpecError
    want = "bfloat16" if native_bf16 else "float32"
    assert pick_compute_dtype("auto", "cpu") == want
    assert pick_compute_dtype("float16", "cpu") == "float16"
    assert RunSpec.from_dict({"adapter": {"method": "qlora"}}).adapter.bnb_4bit_compute_dtype == "auto"
    with pytest.raises(SpecError, match="bnb_4bit_compute_dtype"):
        RunSpec.from_dict({"adapter": {"method": "qlora", "bnb_4bit_compute_dtype": "int8"}})
    model, _ = models.load_model(tiny_llama_dir, device="cpu", quantize_4bit=True)
    assert model.config.quantization_config.bnb_4bit_compute_dtype == getattr(torch, want)
    assert train._dtype_label(model, tiny_spec(tiny_llama_dir, "qlora")) == f"4-bit nf4 (compute {want})"


# --------------------------------------------------------------------------- stop / fail / resume

def test_stop_file_stops_within_one_step_then_resume_continues(tiny_llama_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("WORKBENCH_STEP_DELAY_S", "0.3")
    d = new_run(tiny_spec(tiny_llama_dir, max_steps=6, save_steps=100))
    seen: list[int] = []

    def stopper():
        while not seen:
            step = runs.read_status(d).step
            if step >= 2:
                seen.append(step)
                runs.request_stop(d.name)
            time.sleep(0.02)

    threading.Thread(target=stopper, daemon=True).start()
    st = train.run_training(d)
    assert st.status == "stopped" and st.stop_reason == "stop requested"
    assert seen and st.step <= seen[0] + 1  # within one optimizer step of the request
    assert st.adapter_step == st.step and (d / "adapter" / "adapter_config.json").is_file()
    assert runs.last_checkpoint(d).name == f"checkpoint-{st.step}"  # saved at exactly the stop step
    assert not (d / "STOP").exists()
    stopped_at = st.step

    monkeypatch.delenv("WORKBENCH_STEP_DELAY_S")
    st = train.run_training(d, resume=True)
    assert st.status == "done" and st.step == 6 and st.resumed_from == f"checkpoint-{stopped_at}"
    assert loss_steps(d) == [1, 2, 3, 4, 5, 6]  # the curve continues


def test_failure_keeps_log_and_checkpoint_then_resume(tiny_llama_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("WORKBENCH_FAIL_AT_STEP", "3")
    d = new_run(tiny_spec(tiny_llama_dir, save_steps=2, eval_at_end=True))
    with pytest.raises(train.TrainingFailed, match="injected failure at step 3"):
        train.run_training(d)
    st = runs.read_status(d)
    assert st.status == "failed" and "injected failure at step 3" in st.error
    assert "Traceback" in st.traceback and st.peak_mem_mb > 0
    assert st.error_message["id"] == "training.exception"  # the page renders it in its own language
    assert runs.last_checkpoint(d).name == "checkpoint-2"
    assert (d / "adapter" / "adapter_model.safetensors").is_file()  # last state saved anyway
    assert loss_steps(d) == [1, 2]

    monkeypatch.delenv("WORKBENCH_FAIL_AT_STEP")
    st = train.run_training(d, resume=True)
    assert st.status == "done" and st.step == 4 and st.error is None and st.error_message is None
    assert st.peak_mem_mb > 0
    assert loss_steps(d) == [1, 2, 3, 4]
    assert st.eval_loss > 0 and any("eval_loss" in r for r in runs.read_log_dir(d))


def test_resume_after_a_step_past_the_checkpoint_drops_those_rows(tiny_llama_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("WORKBENCH_FAIL_AT_STEP", "4")
    d = new_run(tiny_spec(tiny_llama_dir, max_steps=5, save_steps=2))
    with pytest.raises(train.TrainingFailed):
        train.run_training(d)
    assert loss_steps(d) == [1, 2, 3]
    monkeypatch.delenv("WORKBENCH_FAIL_AT_STEP")
    st = train.run_training(d, resume=True)
    assert st.resumed_from == "checkpoint-2" and loss_steps(d) == [1, 2, 3, 4, 5]


def test_wall_clock_cap_and_step_cap(tiny_llama_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("WORKBENCH_MAX_STEPS", "3")
    spec = tiny_spec(tiny_llama_dir, max_steps=50)
    assert train.effective_limits(spec) == (3, None)
    monkeypatch.setenv("WORKBENCH_MAX_WALL_SECONDS", "0.01")
    assert train.effective_limits(spec) == (3, 0.01)
    st = train.run_training(new_run(spec))
    assert st.status == "done" and st.step == 1 and st.stop_reason == "time limit reached"
    assert (Path(st.adapter_dir) / "adapter_config.json").is_file()


@pytest.mark.parametrize("eval_steps, eval_rows", [(2, [2, 4]), (3, [3, 4])])
def test_held_out_loss_at_the_end_is_computed_once(tiny_llama_dir, runs_dir, eval_steps, eval_rows):
    """eval_at_end reuses the held-out loss eval_steps just computed at the last step (no second pass)."""
    st = train.run_training(new_run(tiny_spec(tiny_llama_dir, eval_steps=eval_steps, eval_at_end=True)))
    log = [json.loads(x) for x in (runs_dir / st.run_id / "log.jsonl").read_text().splitlines()]
    evals = [r for r in log if "eval_loss" in r]
    assert [r["step"] for r in evals] == eval_rows
    assert st.status == "done" and st.eval_loss == pytest.approx(evals[-1]["eval_loss"])


def test_describe_error_for_out_of_memory():
    assert "out of memory" in str(train.describe_error(torch.OutOfMemoryError("CUDA out of memory. Tried ...")))
    assert "out of memory" in str(train.describe_error(MemoryError()))
    assert str(train.describe_error(ValueError("bad\nsecond line"))) == "ValueError: bad"
    assert "内存不足" in train.describe_error(MemoryError()).render("zh-CN")


# --------------------------------------------------------------------------- command line

def test_cli_train_and_runs(tiny_llama_dir, runs_dir, tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "run.yaml"
    tiny_spec(tiny_llama_dir, max_steps=4).save(cfg)
    assert main(["train", str(cfg), "--max-steps", "2"]) == 0
    out = capsys.readouterr().out
    (rid,) = [r.run_id for r in runs.list_runs()]
    assert f"adapter: {runs_dir / rid / 'adapter'}" in out.strip().splitlines()[-1]
    assert RunSpec.load(runs_dir / rid / "config.yaml").train.max_steps == 2  # the config says what ran
    assert runs.run_status(rid).step == 2

    assert main(["runs", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["run_id"] == rid and listed[0]["status"] == "done"
    assert main(["runs", "show", rid]) == 0 and "done" in capsys.readouterr().out
    assert main(["runs", "stop", rid]) == 2 and "already done" in capsys.readouterr().err
    assert main(["runs", "show", "../etc"]) == 2 and "run id" in capsys.readouterr().err

    monkeypatch.setenv("WORKBENCH_FAIL_AT_STEP", "1")
    outdir = tmp_path / "failing"
    assert main(["train", str(cfg), "--output-dir", str(outdir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: run failing failed: InjectedFailure")
    assert runs.read_status(outdir).status == "failed"

    monkeypatch.delenv("WORKBENCH_FAIL_AT_STEP")
    assert main(["train", "--run-dir", str(outdir), "--resume"]) == 0
    assert runs.read_status(outdir).status == "done"
    assert main(["train"]) == 2 and "exactly one" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2


# --------------------------------------------------------------------------- worker processes

def _wait_for(pred, timeout=120.0, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_manager_worker_killed_then_resumed_then_stopped(tiny_llama_dir, runs_dir, monkeypatch):
    """A real worker process: kill -9 -> failed (checkpoint kept) -> resume -> stop -> stopped."""
    from workbench.core.serving.run_queue import RunManager
    monkeypatch.setenv("WORKBENCH_STEP_DELAY_S", "0.4")
    monkeypatch.setenv("WORKBENCH_TRAIN_THREADS", "1")
    m = RunManager(max_concurrent=1, poll_interval=0.1, stop_grace_s=60)
    try:
        rid = m.submit(tiny_spec(tiny_llama_dir, max_steps=40, save_steps=1), owner="t")
        d = runs.safe_run_dir(rid)
        _wait_for(lambda: (runs.last_checkpoint(d) and runs.run_status(rid).step >= 2), what="step 2")
        os.kill(runs.run_status(rid).pid, signal.SIGKILL)
        st = m.wait(rid, timeout=30)
        assert st.status == "failed" and "signal 9" in st.error
        ck = runs.last_checkpoint(d)
        assert ck is not None
        ck_step = int(ck.name.split("-")[1])

        m.resume(rid, owner="t")
        _wait_for(lambda: runs.run_status(rid).step >= ck_step + 2, what="resumed steps")
        assert runs.run_status(rid).resumed_from == ck.name
        m.stop(rid)
        st = m.wait(rid, timeout=60)
        assert st.status == "stopped" and st.stop_reason == "stop requested"
        assert st.adapter_step == st.step < 40
        steps = loss_steps(d)
        assert steps == list(range(1, st.step + 1))  # one continuous curve across kill and resume
        assert "Traceback" not in (d / "train.log").read_text()
    finally:
        m.shutdown()


# --------------------------------------------------------------------------- recipes and the real model

RECIPES = sorted((Path(__file__).resolve().parents[2] / "presets" / "recipes").glob("*-quick.yaml"))


def test_every_method_has_a_quick_recipe():
    from workbench.spec import methods as registry
    methods = {RunSpec.load(p).adapter.method for p in RECIPES}
    assert methods == set(registry.names())
    for p in RECIPES:
        spec = RunSpec.load(p)
        assert p.read_text().startswith("# "), f"{p.name}: explain the recipe in a header comment"
        assert spec.model.name == "smollm2-135m-instruct" and spec.data.name == "json-format"
        assert spec.train.max_steps <= 40


@pytest.mark.slow
def test_lora_quick_recipe_on_the_embedded_model(embedded_dir, runs_dir, capsys):
    recipe = [p for p in RECIPES if p.name == "lora-quick.yaml"][0]
    assert main(["train", str(recipe), "--max-steps", "2"]) == 0
    assert "adapter: " in capsys.readouterr().out
    (info,) = runs.list_runs()
    st = runs.run_status(info.run_id)
    assert st.status == "done" and st.step == 2 and st.device == "cpu"
    assert st.trainable_params == 460_800  # r=8 on q_proj, v_proj of SmolLM2-135M
    losses = [r["loss"] for r in runs.read_log(info.run_id) if "loss" in r]
    assert len(losses) == 2 and all(0 < x < 5 for x in losses)  # an instruct model already knows some JSON
    assert 0 < st.eval_loss < 5

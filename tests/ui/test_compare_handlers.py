"""Compare-tab handlers called directly: ownership, one base model, analysis and export."""
import sys
import zipfile
from pathlib import Path

import gradio as gr
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from adapter_factory import make_adapter  # noqa: E402

from workbench.core.runstore import run_dirs as R
from workbench.errors import WorkbenchError  # noqa: E402
from workbench.spec.settings import RunSpec  # noqa: E402
from workbench.ui.handlers import compare as CH  # noqa: E402


@pytest.fixture()
def owned_adapter(runs_dir, tiny_llama_dir):
    spec = RunSpec()
    spec.model.name = tiny_llama_dir
    rid = R.create_run(spec, owner="alice")
    make_adapter(tiny_llama_dir, R.safe_run_dir(rid) / "adapter", kind="lora")
    R.update_status(R.safe_run_dir(rid), status="done", trainable_params=1234)
    return rid, str(R.safe_run_dir(rid) / "adapter")


def test_only_own_adapters_are_listed_and_usable(owned_adapter, tiny_llama_dir):
    rid, adir = owned_adapter
    assert [d for _l, d in CH.adapter_choices("alice")] == [adir]
    assert CH.adapter_choices("bob") == []
    with pytest.raises(gr.Error, match="not one of this session"):
        CH.compare(tiny_llama_dir, [adir], "hi", "bob", max_new_tokens=4)
    with pytest.raises(gr.Error, match="not one of this session"):
        CH.compare(tiny_llama_dir, ["/etc"], "hi", "alice", max_new_tokens=4)


def test_compare_base_and_adapter_differ(owned_adapter, tiny_llama_dir):
    rid, adir = owned_adapter
    out = CH.compare(tiny_llama_dir, [adir], "Maria, 34, lives in Lisbon.", "alice", max_new_tokens=6)
    assert [o["variant"] for o in out] == ["base", rid]
    assert out[0]["text"] != out[1]["text"]
    streamed = list(CH.compare_stream(tiny_llama_dir, [adir], "Maria, 34, lives in Lisbon.", "alice", 6))
    assert streamed[-1] == [o["text"] for o in out]  # streaming ends where the plain call does
    assert "ADAPTER ON" in CH.adapter_badge(adir, "alice") and "1,234" in CH.adapter_badge(adir, "alice")
    with pytest.raises(WorkbenchError, match="not one of this session"):
        CH.adapter_badge(adir, "bob")


def test_token_view_scores_in_range(owned_adapter, tiny_llama_dir):
    _rid, adir = owned_adapter
    pairs = CH.token_view(tiny_llama_dir, adir, "hello", "some answer", "alice")
    assert pairs and all(-1 <= s <= 1 for _t, s in pairs)
    assert any(s != 0 for _t, s in pairs)


def test_analysis_and_zip(owned_adapter, tiny_llama_dir):
    _rid, adir = owned_adapter
    heat, spec, md = CH.analysis_view(tiny_llama_dir, adir, "alice")
    assert heat is not None and "effective rank" in md
    z = CH.export_zip(adir, "alice")
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(Path(n).name for n in zipfile.ZipFile(z).namelist())


def test_push_needs_a_token_and_never_echoes_it(owned_adapter, monkeypatch):
    _rid, adir = owned_adapter
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(gr.Error, match="token is needed"):
        CH.push(adir, "me/x", "", "alice")
    with pytest.raises(gr.Error) as e:
        CH.push(adir, "me/x", "hf_SECRET123", "alice")
    assert "hf_SECRET123" not in str(e.value)


def test_session_leaving_frees_its_adapter_copy(owned_adapter, tiny_llama_dir):
    """The Compare tab records who loaded an adapter set; when that owner's last tab closes it is dropped."""
    from workbench.core.generation import variants as G
    from workbench.core.serving.sessions import SESSIONS, session_left
    _rid, adir = owned_adapter
    G.clear_variants()
    CH.compare(tiny_llama_dir, [adir], "hi", "alice", max_new_tokens=2)
    assert any(k[1] for k in G.cached_variant_keys())
    SESSIONS.join("alice-tab", "alice")
    assert session_left("alice-tab") == 1
    assert not any(k[1] for k in G.cached_variant_keys())


def test_a_runs_adapter_shows_its_score_forgetting_and_size(owned_adapter):
    from workbench.core.model.adapter_files import adapter_mb
    _rid, adir = owned_adapter
    size = adapter_mb(adir)
    assert size > 0 and CH.adapter_info(adir, "alice") == f"{size:.2f} MB"  # not scored yet: only its size
    R.update_status(Path(adir).parent, metric="json_match", score=0.625, forgetting=0.0412, adapter_mb=1.84)
    info = CH.adapter_info(adir, "alice")
    assert info.startswith("held-out json_match 0.62 · forgetting +0.041 (") and info.endswith(" · 1.84 MB")
    assert "general text" in info  # what forgetting means, said where it is shown
    with pytest.raises(WorkbenchError, match="not one of this session"):
        CH.adapter_info(adir, "bob")

"""Sessions leaving free their adapters; old uploads are pruned unless a run still names them."""
from __future__ import annotations

import gc
import os
import time
import weakref

import pytest
import yaml

from tests.core.adapter_factory import make_adapter
from workbench.core.generation import answers as A
from workbench.core.generation import variants as G
from workbench.core.serving.sessions import Janitor, SessionRegistry, prune_uploads, referenced_by_runs


def test_registry_releases_owner_only_when_its_last_tab_leaves():
    reg = SessionRegistry()
    reg.join("tab1", "alice")
    reg.join("tab2", "alice")
    reg.join("tab3", "bob")
    assert reg.leave("tab1") is None          # alice still has tab2 open
    assert reg.leave("tab2") == "alice"
    assert reg.leave("tab2") is None          # unknown session: nothing to free
    assert reg.leave("tab3") == "bob"
    assert reg.live() == 0


@pytest.fixture()
def two_adapters(tiny_llama_dir, tmp_path):
    return (make_adapter(tiny_llama_dir, tmp_path / "a1", "lora", seed=1),
            make_adapter(tiny_llama_dir, tmp_path / "a2", "lora", seed=2))


def test_release_user_frees_adapter_copies_no_one_else_uses(tiny_llama_dir, two_adapters, monkeypatch):
    monkeypatch.setattr(G, "MAX_VARIANT_MODELS", 4)  # no LRU eviction in this test
    G.clear_variants()
    a1, a2 = two_adapters
    vm_alice = G.get_variants(tiny_llama_dir, [a1], user="alice")
    vm_shared = G.get_variants(tiny_llama_dir, [a2], user="alice")
    assert G.get_variants(tiny_llama_dir, [a2], user="bob") is vm_shared
    base_only = G.get_variants(tiny_llama_dir, [], user="alice")
    ref = weakref.ref(vm_alice)
    del vm_alice
    keys_before = len(G.cached_variant_keys())

    assert G.release_user("alice") == 1                 # a1's set; a2 is still bob's; base-only is shared
    gc.collect()
    assert ref() is None, "the released VariantModel (and its base copy) is still referenced somewhere"
    assert len(G.cached_variant_keys()) == keys_before - 1
    assert G.get_variants(tiny_llama_dir, [a2]) is vm_shared
    assert G.get_variants(tiny_llama_dir, []) is base_only

    assert G.release_user("bob") == 1
    assert all(not k[1] for k in G.cached_variant_keys())
    # Only a cache: asking again loads again.
    vm = G.get_variants(tiny_llama_dir, [a1], user="carol")
    assert A.generate(vm, "hi", vm.variants[-1], A.GenSettings(max_new_tokens=2)).text is not None
    G.clear_variants()


def _write(p, text="x", age_s=0.0):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    t = time.time() - age_s
    os.utime(p, (t, t))
    return p


def test_prune_uploads_keeps_recent_and_run_referenced_files(tmp_path):
    uploads, runs = tmp_path / "uploads", tmp_path / "runs"
    day = 24 * 3600
    old = _write(uploads / "alice" / "old.jsonl", age_s=2 * day)
    fresh = _write(uploads / "alice" / "fresh.jsonl", age_s=60)
    used = _write(uploads / "bob" / "used.jsonl", age_s=3 * day)
    old_adapter = _write(uploads / "bob" / "adapters" / "lora1" / "adapter_config.json", age_s=2 * day)
    os.utime(old_adapter.parent, (time.time() - 2 * day,) * 2)
    gone_dir = _write(uploads / "carol" / "x.csv", age_s=5 * day).parent
    (runs / "run-1").mkdir(parents=True)
    (runs / "run-1" / "config.yaml").write_text(yaml.safe_dump({"data": {"name": str(used)}}))
    (runs / "run-2").mkdir()
    (runs / "run-2" / "config.yaml").write_text(": not yaml : [")   # a broken config never stops pruning

    assert referenced_by_runs(runs) == {used.resolve()}
    gone = prune_uploads(uploads, runs, ttl_s=day)
    assert set(gone) == {old, old_adapter.parent, gone_dir / "x.csv"}
    assert fresh.exists() and used.exists()
    assert not old.exists() and not old_adapter.parent.exists()
    assert not gone_dir.exists(), "an emptied session folder should go too"
    assert (uploads / "bob").is_dir()


def test_janitor_thread_prunes_and_stops(tmp_path):
    uploads, runs = tmp_path / "uploads", tmp_path / "runs"
    old = _write(uploads / "s" / "old.jsonl", age_s=10 * 24 * 3600)
    j = Janitor(uploads, runs, interval_s=0.05)
    j.start()
    deadline = time.time() + 10
    while old.exists() and time.time() < deadline:
        time.sleep(0.05)
    j.stop()
    j.join(5)
    assert not old.exists()
    assert not j.is_alive()

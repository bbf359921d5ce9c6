"""Held-out evaluation: scores and perplexities checked against values computed independently."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings

import pytest
import torch

from adapter_factory import make_adapter
from workbench.core.evaluation import heldout as E
from workbench.core.generation.answers import GenResult
from workbench.spec.settings import DataSpec

ROWS = [("Capital of France?", "Paris"), ("2 + 2 =", "4"), ("Colour of the sky?", "Blue")]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    d = tmp_path_factory.mktemp("hand-made")
    (d / "train.jsonl").write_text(json.dumps({"prompt": "x", "response": "y"}) + "\n")
    (d / "test.jsonl").write_text("".join(json.dumps({"prompt": p, "response": r}) + "\n" for p, r in ROWS))
    (d / "meta.yaml").write_text("metric: exact_match\n")
    return str(d)


@pytest.fixture(scope="module")
def lora(tiny_llama_dir, tmp_path_factory):
    return make_adapter(tiny_llama_dir, tmp_path_factory.mktemp("ev") / "lora", "lora")


def _independent_ppl(model, tok) -> float:
    """exp(mean NLL) over the answer tokens (answer + end of turn), computed from the chat template directly."""
    nll, n = 0.0, 0
    for p, r in ROWS:
        msgs = [{"role": "user", "content": p}, {"role": "assistant", "content": r}]
        full = tok(tok.apply_chat_template(msgs, tokenize=False), add_special_tokens=False)["input_ids"]
        prompt = tok(tok.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True),
                     add_special_tokens=False)["input_ids"]
        assert full[: len(prompt)] == prompt
        ids = torch.tensor([full])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), -1)
        for t in range(len(prompt), len(full)):
            nll -= float(logp[t - 1, full[t]])
            n += 1
    return math.exp(nll / n)


def test_scores_and_perplexity_by_hand(tiny_llama_dir, lora, dataset, monkeypatch):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    answers = {"base": ["Paris", "5", "blue"], lora: ["Paris", " 4 ", "Blue"]}  # exact match: 1/3 and 3/3

    def fake_answer(vm, texts, variants, settings, batch_size, score_ids=None):
        assert len(texts) == 3 and all(t.endswith("<|im_start|>assistant\n") for t in texts)
        assert variants == ["base", lora] and batch_size is None  # answer sizes the default batch
        assert score_ids and all(score_ids)  # every reference answer can be scored in its prompt's prefill
        return {v: [GenResult(v, a, 1) for a in answers[v]] for v in variants}  # not scored: a perplexity pass
    monkeypatch.setattr(E, "answer", fake_answer)
    rows = E.evaluate(tiny_llama_dir, [lora], dataset)
    assert [(r.variant, r.metric, r.n) for r in rows] == [("base", "exact_match", 3), (lora, "exact_match", 3)]
    assert rows[0].score == pytest.approx(1 / 3) and rows[1].score == pytest.approx(1.0)
    assert rows[1].predictions == answers[lora]
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    assert rows[0].perplexity == pytest.approx(_independent_ppl(base, tok), rel=1e-5)
    pm = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), lora).eval()
    assert rows[1].perplexity == pytest.approx(_independent_ppl(pm, tok), rel=1e-5)
    assert rows[0].perplexity != pytest.approx(rows[1].perplexity, rel=1e-3)


def test_real_generation_limit_and_batching(tiny_llama_dir, lora, dataset, monkeypatch):
    spec = DataSpec(name=dataset)
    one = E.evaluate(tiny_llama_dir, [lora], spec, limit=2, batch_size=1)
    assert [r.n for r in one] == [2, 2] and all(0 <= r.score <= 1 and r.perplexity > 1 for r in one)
    calls = []
    real = E.generate_texts
    monkeypatch.setattr(E, "generate_texts", lambda *a, **k: calls.append(1) or real(*a, **k))
    batched = E.evaluate(tiny_llama_dir, [lora], spec)  # the default: batched, base and adapter mixed
    assert not calls
    assert [r.predictions[:2] for r in batched] == [r.predictions for r in one]
    passes = []
    real_nll = E.nll_sum
    monkeypatch.setattr(E, "nll_sum", lambda *a, **k: passes.append(1) or real_nll(*a, **k))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        scored = E.evaluate(tiny_llama_dir, [lora], spec, limit=2)
        base_only = E.evaluate(tiny_llama_dir, [], spec, limit=2)  # the shared base copy's weights require grad
    assert [r.perplexity for r in scored] == pytest.approx([r.perplexity for r in one], rel=1e-5)
    assert not passes  # batched: the reference answers were scored in the prompts' prefill, no second pass
    assert not [w for w in seen if "requires_grad" in str(w.message)]  # scoring builds no autograd graph
    assert base_only[0].perplexity == pytest.approx(scored[0].perplexity, rel=1e-5)


def test_batched_rows_share_batches_and_match_one_by_one(tiny_llama_dir, lora, tmp_path):
    from workbench.core.generation import scheduler
    from workbench.core.generation.answers import GenSettings
    from workbench.core.generation.variants import get_variants
    pt = make_adapter(tiny_llama_dir, tmp_path / "pt", "prompt_tuning")
    vm = get_variants(tiny_llama_dir, [lora, pt])
    texts = [vm.render(p) for p in ("Hi", "A much longer prompt about the colour of the evening sky", "2 + 2 =")]
    s = GenSettings(max_new_tokens=6)
    sched = scheduler.scheduler_for(vm)
    sched.batch_sizes.clear()
    batched = E.predict(vm, texts, vm.variants, s, batch_size=16)
    assert sorted(sched.batch_sizes) == [3, 6]  # base + LoRA mixed; prompt tuning in its own batch
    assert batched == E.predict(vm, texts, vm.variants, s, batch_size=1)
    sched.batch_sizes.clear()
    E.predict(vm, texts, vm.variants, s, batch_size=2)
    assert max(sched.batch_sizes) == 2


def test_prompt_tuning_perplexity(tiny_llama_dir, dataset, tmp_path, monkeypatch):
    """Prompt-tuning logits include the virtual tokens; the answer tokens must still line up."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    d = make_adapter(tiny_llama_dir, tmp_path / "pt", "prompt_tuning")
    monkeypatch.setattr(E, "answer", lambda vm, texts, variants, s, b, ids=None: {v: [GenResult(v, "", 0)] * 3
                                                                                  for v in variants})
    rows = E.evaluate(tiny_llama_dir, [d], dataset)
    pm = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), d).eval()
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    nll, n = 0.0, 0
    for p, r in ROWS:  # PEFT's own loss for prompt tuning: labels on the answer tokens only
        msgs = [{"role": "user", "content": p}, {"role": "assistant", "content": r}]
        full = tok(tok.apply_chat_template(msgs, tokenize=False), add_special_tokens=False)["input_ids"]
        k = len(tok(tok.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True),
                    add_special_tokens=False)["input_ids"])
        labels = torch.tensor([[-100] * k + full[k:]])
        with torch.no_grad():
            loss = pm(input_ids=torch.tensor([full]), labels=labels).loss
        nll += float(loss) * (len(full) - k)
        n += len(full) - k
    assert rows[1].perplexity == pytest.approx(math.exp(nll / n), rel=1e-4)


def test_shipped_dataset_uses_its_metric(tiny_llama_dir, monkeypatch):
    monkeypatch.setattr(E, "predict", lambda vm, texts, variants, s, b: {v: ["{}"] * len(texts) for v in variants})
    rows = E.evaluate(tiny_llama_dir, [], "json-format", limit=2)
    assert len(rows) == 1 and rows[0].metric == "json_match" and rows[0].n == 2 and rows[0].score == 0.0


def test_bad_inputs(tiny_llama_dir, tmp_path):
    text_only = tmp_path / "text"
    text_only.mkdir()
    (text_only / "train.jsonl").write_text('{"text": "a"}\n')
    (text_only / "test.jsonl").write_text('{"text": "b"}\n')
    with pytest.raises(E.EvalError, match="no held-out prompt/response"):
        E.evaluate(tiny_llama_dir, [], str(text_only))
    with pytest.raises(E.EvalError, match="limit"):
        E.evaluate(tiny_llama_dir, [], "json-format", limit=0)
    with pytest.raises(E.EvalError, match="No dataset"):
        E.evaluate(tiny_llama_dir, [], "  ")


def test_cli_eval_json(tiny_llama_dir, lora, dataset):
    p = subprocess.run([sys.executable, "-m", "workbench", "eval", "--model", tiny_llama_dir, "--adapter", lora,
                        "--dataset", dataset, "--limit", "1", "--max-new-tokens", "4", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert [r["variant"] for r in out] == ["base", lora]
    assert all(set(r) == {"variant", "metric", "score", "perplexity", "n"} and r["n"] == 1 for r in out)
    one = subprocess.run([sys.executable, "-m", "workbench", "eval", "--model", tiny_llama_dir, "--adapter", lora,
                          "--dataset", dataset, "--limit", "1", "--max-new-tokens", "4", "--json", "--one-by-one"],
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    assert [r["score"] for r in json.loads(one.stdout)] == [r["score"] for r in out]
    bad = subprocess.run([sys.executable, "-m", "workbench", "eval", "--model", tiny_llama_dir,
                          "--dataset", "no-such-dataset.jsonl", "--json"], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and bad.stdout == ""
    assert bad.stderr.strip().splitlines()[-1].startswith("error: ") and "not found" in bad.stderr


@pytest.fixture(scope="module")
def smol_lora(embedded_dir, tmp_path_factory):
    return make_adapter(str(embedded_dir), tmp_path_factory.mktemp("smol") / "smol-lora", "lora", scale=0.05)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["json-format", "date-normalize", "sentiment-label"])
def test_batched_and_one_by_one_give_the_same_scores_on_shipped_datasets(smol_lora, name):
    """First 16 held-out prompts, embedded model, base + a LoRA adapter with random but nonzero weights (task
    scores only: the perplexity pass is the same code in both modes)."""
    from pathlib import Path
    shipped = sorted(p.name for p in (Path(__file__).resolve().parents[2] / "presets/datasets").iterdir() if p.is_dir())
    assert name in shipped
    one = E.evaluate("smollm2-135m-instruct", [smol_lora], name, limit=16, batch_size=1, with_perplexity=False)
    batched = E.evaluate("smollm2-135m-instruct", [smol_lora], name, limit=16, with_perplexity=False)
    flips = [(r.variant, i, a, b) for r, q in zip(one, batched) for i, (a, b) in
             enumerate(zip(r.predictions, q.predictions)) if a != b]
    print(f"{name}: {len(flips)} of {2 * 16} answers differ between batched and one-by-one: {flips}")
    assert [r.score for r in batched] == [r.score for r in one], flips
    assert one[0].predictions != one[1].predictions  # the adapter changes answers


def test_default_batch_keeps_the_kv_cache_in_budget():
    """Small models get DEFAULT_BATCH rows; a model whose KV cache per row is large gets fewer, never 0."""
    import types

    import torch

    def vm_of(**cfg):
        model = torch.nn.Linear(2, 2)
        model.config = types.SimpleNamespace(**cfg)
        return types.SimpleNamespace(base_models=lambda: [model])
    small = vm_of(num_attention_heads=9, num_key_value_heads=3, hidden_size=576, num_hidden_layers=30)
    assert E.default_batch(small, 100) == E.DEFAULT_BATCH  # 46 KB per position: 4.6 MB per row
    big = vm_of(num_attention_heads=32, num_key_value_heads=32, hidden_size=2048, num_hidden_layers=24)
    per_row = 2 * 24 * 32 * 64 * 4 * 512
    assert E.default_batch(big, 512) == E.KV_BUDGET_MB * 2**20 // per_row == 5
    assert E.default_batch(big, 10**6) == 1


def test_perplexity_of_an_architecture_without_the_fast_loss(tmp_path, tokenizer, dataset, monkeypatch):
    """GPT-2 is not a plain-head type for selected_loss: perplexity takes the full forward and is still exact."""
    from transformers import AutoModelForCausalLM

    from tests.conftest import tiny_config
    from workbench.core.kernels.selected_loss import unsupported_reason
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny_config("gpt2", vocab_size=len(tokenizer))).eval()
    assert unsupported_reason(model) is not None
    model.save_pretrained(tmp_path / "gpt2")
    tokenizer.save_pretrained(tmp_path / "gpt2")
    monkeypatch.setattr(E, "predict", lambda vm, texts, variants, settings, batch_size: {v: [""] * 3 for v in variants})
    (row,) = E.evaluate(str(tmp_path / "gpt2"), [], dataset)
    assert row.perplexity == pytest.approx(_independent_ppl(model, tokenizer), rel=1e-5)

"""Adapter analysis: LoRA update statistics against dense linear algebra; virtual-token neighbours."""
from __future__ import annotations

import math

import pytest
import torch

from adapter_factory import make_adapter
from workbench.core.evaluation import adapter_analysis as analysis
from workbench.core.evaluation.adapter_analysis import AnalysisError


def _dense_updates(adapter_dir, model_dir):
    """dW per module from a real PeftModel (get_delta_weight), the ground truth."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    pm = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), adapter_dir)
    out = {}
    for name, mod in pm.base_model.model.named_modules():
        if hasattr(mod, "get_delta_weight") and "default" in getattr(mod, "lora_A", {}):
            out[name] = mod.get_delta_weight("default").detach().double()
    return out


@pytest.mark.parametrize("overrides", [dict(), dict(use_rslora=True, r=8, lora_alpha=4),
                                       dict(rank_pattern={"v_proj": 2}, alpha_pattern={"v_proj": 6})])
def test_lora_stats_match_dense(tiny_llama_dir, tmp_path, overrides):
    d = make_adapter(tiny_llama_dir, tmp_path / "lora", "lora", **overrides)
    stats = analysis.lora_update_stats(d)
    dense = _dense_updates(d, tiny_llama_dir)
    assert len(stats) == len(dense) == 4  # 2 layers x q_proj, v_proj
    assert [(s.layer, s.module) for s in stats] == [(0, "q_proj"), (0, "v_proj"), (1, "q_proj"), (1, "v_proj")]
    for s in stats:
        dw = dense[s.name]
        assert s.norm == pytest.approx(float(torch.linalg.norm(dw)), rel=1e-6)
        want = torch.linalg.svdvals(dw)[: len(s.singular_values)]
        assert torch.allclose(torch.tensor(s.singular_values, dtype=torch.float64), want, rtol=1e-6, atol=1e-9)
        assert len(s.singular_values) == s.r
        assert 1.0 <= s.effective_rank <= s.r + 1e-9
    v = next(s for s in stats if s.module == "v_proj")
    if "rank_pattern" in overrides:
        assert v.r == 2 and v.scaling == pytest.approx(3.0)
    elif overrides.get("use_rslora"):
        assert v.scaling == pytest.approx(4 / math.sqrt(8))


def test_effective_rank_definition():
    assert analysis.effective_rank([1.0, 0, 0]) == pytest.approx(1.0)
    assert analysis.effective_rank([2.0, 2.0, 2.0, 2.0]) == pytest.approx(4.0)
    assert analysis.effective_rank([0.0, 0.0]) == 0.0
    p = [3 / 4, 1 / 4]
    assert analysis.effective_rank([3.0, 1.0]) == pytest.approx(math.exp(-sum(x * math.log(x) for x in p)))


def test_zero_init_lora_has_zero_update(tiny_llama_dir, tmp_path):
    d = make_adapter(tiny_llama_dir, tmp_path / "zero", "lora", perturb=False)
    stats = analysis.lora_update_stats(d)
    assert all(s.norm == 0 and s.effective_rank == 0 for s in stats)


def test_dora_reports_directional_update(tiny_llama_dir, tmp_path):
    d = make_adapter(tiny_llama_dir, tmp_path / "dora", "dora")
    stats = analysis.lora_update_stats(d)
    assert len(stats) == 4 and all(s.norm > 0 for s in stats)


def test_wrong_method_for_update_stats(tiny_llama_dir, tmp_path):
    d = make_adapter(tiny_llama_dir, tmp_path / "ia3", "ia3")
    with pytest.raises(AnalysisError, match="needs a LoRA"):
        analysis.lora_update_stats(d)


@pytest.mark.parametrize("kind", ["prompt_tuning", "p_tuning"])
def test_virtual_token_neighbours(tiny_llama_dir, tmp_path, kind):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    if kind == "prompt_tuning":
        # initialise from real words and do not perturb: each virtual token's nearest word is itself (cosine 1)
        d = make_adapter(tiny_llama_dir, tmp_path / kind, kind, perturb=False, prompt_tuning_init="TEXT",
                         prompt_tuning_init_text="the blue sea", tokenizer_name_or_path=tiny_llama_dir)
    else:
        d = make_adapter(tiny_llama_dir, tmp_path / kind, kind)
    out = analysis.virtual_token_neighbours(d, tiny_llama_dir, k=3)
    assert [i for i, _ in out] == [0, 1, 2, 3]
    assert all(len(n) == 3 and n[0][1] >= n[1][1] >= n[2][1] for _, n in out)
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    if kind == "prompt_tuning":
        ids = tok("the blue sea", add_special_tokens=False)["input_ids"]
        words = [tok.decode([i]) for i in (ids * 4)[:4]]  # PEFT repeats the init text to fill the tokens
        assert [n[0][0] for _, n in out] == words
        assert all(n[0][1] == pytest.approx(1.0, abs=1e-5) for _, n in out)
    else:
        # the saved tensor is the encoder output: check one cosine by hand
        from safetensors.torch import load_file
        p = load_file(f"{d}/adapter_model.safetensors")["prompt_embeddings"][0]
        emb = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).get_input_embeddings().weight
        cos = torch.nn.functional.cosine_similarity(p[None], emb.detach(), dim=-1)
        assert out[0][1][0][1] == pytest.approx(float(cos.max()), abs=1e-5)


def test_p_tuning_saves_encoder_output(tiny_llama_dir, tmp_path):
    """PEFT saves P-tuning's prompt *encoder output*, so reading prompt_embeddings needs no encoder."""
    from peft import get_peft_model
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM
    from adapter_factory import peft_config
    pm = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), peft_config("p_tuning"))
    pm.save_pretrained(tmp_path / "pt")
    saved = load_file(f"{tmp_path}/pt/adapter_model.safetensors")["prompt_embeddings"]
    assert torch.allclose(saved, pm.get_prompt_embedding_to_save("default"))
    assert not torch.allclose(saved, pm.prompt_encoder["default"].embedding.weight.detach())


def test_prefix_tuning_has_no_neighbours(tiny_llama_dir, tmp_path):
    d = make_adapter(tiny_llama_dir, tmp_path / "prefix", "prefix_tuning")
    with pytest.raises(AnalysisError, match="keys and values"):
        analysis.virtual_token_neighbours(d, tiny_llama_dir)
    lora = make_adapter(tiny_llama_dir, tmp_path / "lora", "lora")
    with pytest.raises(AnalysisError, match="prompt-tuning"):
        analysis.virtual_token_neighbours(lora, tiny_llama_dir)

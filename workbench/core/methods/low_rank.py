"""LoRA's kin: methods that learn a small factorized update of each wrapped layer (reparameterized), each with its own
factorization. PEFT counts them (``peft_counted``): LoHa (Hadamard product of two low-rank pairs), LoKr (Kronecker
product), VeRA and PVeRA (frozen shared random matrices, trained scaling vectors), AdaLoRA (SVD-form LoRA whose
rank budget moves between layers during training), RandLoRA, DeLoRA, GraLoRA, HiRA, Lily, TinyLoRA, UniLoRA,
VB-LoRA, DEFT, GLoRA, PEANuT and MiSS. The rank ``r`` is the size knob of each; other settings are options.
"""
from __future__ import annotations

from typing import Any

from workbench.core.methods.peft_counted import register
from workbench.spec.methods import Option

RANK_AND_ALPHA = {"r": "r", "alpha": "alpha"}


def adalora_bind(adapter, train) -> dict[str, Any]:
    """AdaLoRA's schedule spans the run: ``total_step`` is the run's steps, the rank stays at ``init_r`` for the
    first tenth and settles at ``r`` for the last fifth."""
    steps = max(int(train.max_steps), 3)
    return {"total_step": steps, "tinit": steps // 10, "tfinal": steps // 5}


def adalora_callback(model):
    """Moves AdaLoRA's rank budget after each optimizer step (PEFT's ``update_and_allocate``, which needs the step's
    gradients: transformers calls ``on_optimizer_step`` before it zeroes them)."""
    from transformers import TrainerCallback

    class RankAllocation(TrainerCallback):
        def on_optimizer_step(self, args, state, control, **kwargs):
            model.base_model.update_and_allocate(state.global_step)

    return RankAllocation()


def adalora_kwargs(spec, config, task_type: str) -> dict[str, Any]:
    opts = spec.peft_options()
    init_r = opts.pop("init_r") or (3 * spec.r + 1) // 2  # PEFT's default ratio: 12 -> 8
    if not opts["total_step"]:  # a count or 'show code' outside a run: any schedule that PEFT accepts
        opts["total_step"] = opts["tinit"] + opts["tfinal"] + 1000
    return dict(task_type=task_type, target_modules=spec.target_modules, target_r=spec.r, init_r=init_r,
                lora_alpha=spec.alpha, lora_dropout=spec.dropout, **opts)


register("loha", "low_rank", "LoHaConfig", "LOHA", shared={**RANK_AND_ALPHA, "dropout": "rank_dropout"},
         budget_knob="r", paper="Hyeon-Woo et al. 2022 (FedPara)")
register("lokr", "low_rank", "LoKrConfig", "LOKR", shared={**RANK_AND_ALPHA, "dropout": "rank_dropout"},
         paper="Yeh et al. 2024 (LyCORIS)",
         options=(Option("decompose_factor", -1, "Kronecker factor size (-1: as square as the layer allows)", -1, 4096),))
register("vera", "low_rank", "VeraConfig", "VERA", shared={"r": "r", "dropout": "vera_dropout"}, budget_knob="r",
         paper="Kopiczko et al. 2024")
register("pvera", "low_rank", "PveraConfig", "PVERA", shared={"r": "r", "dropout": "pvera_dropout"},
         budget_knob="r", paper="PVeRA, 2025 (arXiv 2512.07703)")
register("adalora", "low_rank", "AdaLoraConfig", "ADALORA", shared={"r": "target_r", "alpha": "lora_alpha",
         "dropout": "lora_dropout"}, budget_knob="r", paper="Zhang et al. 2023",
         options=(Option("init_r", 0, "rank every layer starts with (0: 1.5 r, PEFT's 12 -> 8); the budget then shrinks "
                         "to r", 0, 4096),
                  Option("total_step", 0, "steps of the rank schedule (0: the run's steps)", 0, 10**7),
                  Option("tinit", 0, "steps at the start with the full init_r budget", 0, 10**7),
                  Option("tfinal", 0, "steps at the end with the final budget", 0, 10**7)),
         config_kwargs=adalora_kwargs, bind_run=adalora_bind, train_callback=adalora_callback)
register("randlora", "low_rank", "RandLoraConfig", "RANDLORA", shared={"r": "r", "dropout": "randlora_dropout"},
         paper="Albert et al. 2025")  # no size knob: a larger r means fewer random bases, so fewer trained scalings
register("delora", "low_rank", "DeloraConfig", "DELORA", shared={"r": "r", "dropout": "module_dropout"},
         budget_knob="r", paper="Bini et al. 2025")
register("gralora", "low_rank", "GraloraConfig", "GRALORA", shared={**RANK_AND_ALPHA, "dropout": "gralora_dropout"},
         budget_knob="r", paper="Jung et al. 2025",
         options=(Option("gralora_k", 2, "sub-blocks per side: r must divide by it", 1, 64),))
register("hira", "low_rank", "HiraConfig", "HIRA", shared={"r": "r", "dropout": "hira_dropout"}, budget_knob="r",
         paper="Huang et al. 2025")
register("lily", "low_rank", "LilyConfig", "LILY", shared={"r": "r"}, budget_knob="r", paper="Zhong et al. 2024",
         options=(Option("num_B", 2, "shared up-projections (experts) the layers pick from", 1, 4096),
                  Option("stride_A", 1, "consecutive layers that share one down-projection", 1, 4096)))
register("tinylora", "low_rank", "TinyLoraConfig", "TINYLORA", shared={"r": "r", "dropout": "tinylora_dropout"},
         budget_knob="u", paper="TinyLoRA, 2026 (arXiv 2602.04118)",
         options=(Option("u", 64, "length of the trained vector each layer's update is projected from", 1, 65536),))
register("unilora", "low_rank", "UniLoraConfig", "UNILORA", shared={"r": "r", "dropout": "unilora_dropout"},
         budget_knob="theta_d_length", on_meta=False, paper="Uni-LoRA, 2025 (arXiv 2506.00799)",
         options=(Option("theta_d_length", 256, "length of the one trained vector every layer indexes into",
                         1, 10**7),))
register("vblora", "low_rank", "VBLoRAConfig", "VBLORA", shared={"r": "r", "dropout": "vblora_dropout"},
         budget_knob="num_vectors", paper="Li et al. 2024",
         options=(Option("num_vectors", 256, "vectors in the shared bank", 1, 65536),
                  Option("vector_length", 64, "length of each bank vector (must divide the layer widths; PEFT's "
                         "default 256 does not divide the embedded model's 576)", 1, 65536)))
register("deft", "low_rank", "DeftConfig", "DEFT", shared={"r": "r", "dropout": "deft_dropout"}, budget_knob="r",
         paper="DEFT (PEFT docs)")
register("glora", "low_rank", "GloraConfig", "GLORA", shared={"r": "r"}, budget_knob="r", paper="Chavan et al. 2023")
register("peanut", "low_rank", "PeanutConfig", "PEANUT", shared={"r": "r"}, budget_knob="r", paper="PEANuT (PEFT docs)",
         options=(Option("depth", 0, "extra nonlinear layers between the two projections", 0, 16),))
register("miss", "low_rank", "MissConfig", "MISS", shared={"r": "r", "dropout": "miss_dropout"}, budget_knob="r",
         paper="Kang et al. 2024 (Bone / MiSS)")

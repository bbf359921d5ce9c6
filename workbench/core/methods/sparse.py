"""Sparse methods: a few entries of each wrapped weight train and every other stays frozen (selective: they pick the
model's own parameters). SHiRA (a fixed random sparse mask per weight, built from weight values, so it is counted on
real uninitialised weights) and Super-Tuning (a sparse support chosen per weight). PEFT counts them
(``peft_counted``). BEFT trains a bias vector on each wrapped layer's output (BitFit's idea: the bias terms are
the selected parameters; a layer without a bias gets one).
"""
from __future__ import annotations

from workbench.core.methods.peft_counted import register
from workbench.spec.methods import Option

register("shira", "sparse", "ShiraConfig", "SHIRA", shared={"r": "r"}, budget_knob="r", on_meta=False,
         paper="Bhardwaj et al. 2024",
         options=(Option("mask_type", "random", "which entries train: random", choices=("random",)),))
register("supertuning", "sparse", "SupertuningConfig", "SUPERTUNING", paper="Super-Tuning, 2026 (arXiv 2607.09287)",
         options=(Option("sparsity", 0.99, "share of each weight kept frozen", 0.0, 1.0),))
register("beft", "sparse", "BeftConfig", "BEFT", paper="BEFT (PEFT docs; after BitFit, Ben Zaken et al. 2022)")

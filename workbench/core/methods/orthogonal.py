"""Orthogonal methods: each wrapped weight is multiplied by a trained rotation (or reflection), which keeps the angles
between its neurons (reparameterized). OFT (block-diagonal orthogonal matrices), BOFT (butterfly products of them),
HRA (a chain of Householder reflections), PSOFT (a rotation inside the principal subspace), RoAd (2-D rotations of
output pairs) and OSF (updates kept orthogonal to the weight's top singular directions). PEFT counts them
(``peft_counted``); BOFT reads weight values while it builds, so it is counted on real (uninitialised) weights.
"""
from __future__ import annotations

from workbench.core.methods.peft_counted import register
from workbench.spec.methods import Option

register("oft", "orthogonal", "OFTConfig", "OFT", shared={"dropout": "module_dropout"}, budget_knob="oft_block_size",
         paper="Qiu et al. 2023",
         options=(Option("oft_block_size", 32, "size of each orthogonal block (must divide the layer's input width)",
                         1, 16384),))
register("boft", "orthogonal", "BOFTConfig", "BOFT", shared={"dropout": "boft_dropout"}, on_meta=False,
         budget_knob="boft_block_size", paper="Liu et al. 2024",
         options=(Option("boft_block_size", 4, "size of each butterfly block (must divide the input width)", 1, 4096),
                  Option("boft_n_butterfly_factor", 1, "butterfly factors (1: plain block-diagonal OFT)", 1, 16)))
register("hra", "orthogonal", "HRAConfig", "HRA", shared={"r": "r"}, budget_knob="r", paper="Yuan et al. 2024",
         options=(Option("apply_GS", False, "Gram-Schmidt orthogonalize the reflections"),))
register("psoft", "orthogonal", "PsoftConfig", "PSOFT", shared={"r": "r", "dropout": "psoft_dropout"},
         budget_knob="r", paper="PSOFT (PEFT docs)")
register("road", "orthogonal", "RoadConfig", "ROAD", paper="Liao et al. 2024",
         options=(Option("variant", "road_1", "road_1: one angle and scale per pair; road_2 / road_4: more per pair",
                         choices=("road_1", "road_2", "road_4")),
                  Option("group_size", 64, "outputs per rotation group (must divide each layer's output width)",
                         2, 4096)))
register("osf", "orthogonal", "OSFConfig", "OSF", paper="Nayak et al. 2025",
         options=(Option("effective_rank", None, "top singular directions kept frozen (null: half of each layer's "
                         "rank); more kept frozen trains fewer", 1, 16384),))

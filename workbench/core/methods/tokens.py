"""Trainable tokens (selective): only the embedding rows of chosen token ids train (PEFT's ``TrainableTokensConfig``,
the way to teach a model new or special tokens without training the whole embedding). PEFT counts it
(``peft_counted``); with tied embeddings the output rows follow the input rows.
"""
from __future__ import annotations

from workbench.core.methods.peft_counted import register
from workbench.spec.methods import Option

register("trainable_tokens", "tokens", "TrainableTokensConfig", "TRAINABLE_TOKENS", wraps=False,
         paper="PEFT (trainable tokens)",
         options=(Option("token_indices", [0, 1, 2], "token ids whose embedding rows train (SmolLM2: 0-2 are "
                         "<|endoftext|>, <|im_start|>, <|im_end|>)"),))

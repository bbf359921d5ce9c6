"""Small CPU kernels for the hot paths: the selected-position loss, batched decoding linears, mixed-adapter LoRA."""

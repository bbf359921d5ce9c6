"""Generation on one base model: variant models, direct answers, mixed batches, continuous decoding, the scheduler."""

"""Training one run: the Trainer and its callbacks, the loss trainer, and a run's own score."""

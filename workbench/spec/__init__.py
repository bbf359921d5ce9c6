"""The run schema in plain Python (no torch at import): run settings, the method registry and the target grammar."""

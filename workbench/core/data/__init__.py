"""Datasets: shipped presets, uploaded files and hub datasets, encoding, and task metrics."""

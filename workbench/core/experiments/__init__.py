"""Experiments: file -> plan -> runs -> results -> report, and driving the run queue."""

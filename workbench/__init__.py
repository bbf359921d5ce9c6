"""PEFT Workbench: inspect, count, train and compare parameter-efficient fine-tuning adapters."""
__version__ = "0.1.0"

"""PEFT Workbench: inspect, count, train and compare parameter-efficient fine-tuning adapters."""
__version__ = "0.1.0"

# The method families register themselves into the registry (workbench.spec.methods) when the engine's methods
# package is imported, as `import peft` registers its tuners: whatever part of the workbench is imported first,
# settings validation then knows every method. The families import nothing heavy at import time.
import workbench.core.methods  # noqa: E402,F401

"""The model side's one error type (``ModelError``), below loading and precision so both can raise it."""
from __future__ import annotations

from workbench.errors import WorkbenchError


class ModelError(WorkbenchError):
    """A model could not be resolved or loaded; the message says why and what to do."""

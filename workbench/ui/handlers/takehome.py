"""Take it home: the "Download notebook" buttons of the Train and Compare tabs.

Both write a Jupyter notebook that reproduces a run with plain transformers + peft (``core/export/notebook.py``) into a
fresh temporary folder and hand its path to the ``gr.DownloadButton``. Only the session's own runs / adapters
(``Workspace``) can be taken; an uploaded adapter has no run behind it, so it has no notebook.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from workbench.core.runstore import run_dirs as runs
from workbench.core.export.notebook import write_notebook
from workbench.core.serving.workspace import Workspace
from workbench.errors import WorkbenchError
from workbench.ui.handlers.common import user_errors


def _write(run_dir: Path) -> str:
    out = Path(tempfile.mkdtemp(prefix="notebook-")) / f"reproduce-{run_dir.name}.ipynb"
    return str(write_notebook(run_dir, out))


@user_errors
def run_notebook(run_id: str, owner: str) -> str:
    """Train tab: the notebook of the run being watched (one of this session's runs)."""
    Workspace(owner or None).run(run_id)
    return _write(runs.existing_run_dir(run_id))


@user_errors
def adapter_notebook(adapter: str, owner: str) -> str:
    """Compare tab: the notebook of the run that trained ``adapter`` (one of this session's adapters)."""
    if not adapter:
        raise WorkbenchError("ui.notebook_pick_adapter")
    Workspace(owner or None).check_adapter(adapter)
    run_dir = Path(adapter).parent
    if not (run_dir / "config.yaml").is_file():
        raise WorkbenchError("ui.notebook_no_run", path=Path(adapter).name)
    return _write(run_dir)

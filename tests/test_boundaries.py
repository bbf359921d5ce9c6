"""Architecture rules, checked by parsing imports (not by convention)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "workbench"
HEAVY = {"torch", "transformers", "peft", "bitsandbytes", "accelerate", "datasets"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_core_never_imports_gradio():
    files = list((ROOT / "core").rglob("*.py"))
    assert files
    bad = {str(f.relative_to(ROOT)): _imports(f) & {"gradio", "gradio_client"} for f in files}
    assert not {k: v for k, v in bad.items() if v}


def test_ui_never_imports_torch():
    files = list((ROOT / "ui").rglob("*.py"))
    assert files
    bad = {str(f.relative_to(ROOT)): _imports(f) & HEAVY for f in files}
    assert not {k: v for k, v in bad.items() if v}


def test_plots_are_plain():
    assert not _imports(ROOT / "plots.py") & (HEAVY | {"gradio"})


def test_the_check_can_fail(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("import torch.nn as nn\nfrom gradio import Blocks\n")
    assert _imports(f) == {"torch", "gradio"}

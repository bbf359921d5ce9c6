"""Architecture rules, checked by parsing imports (not by convention).

Every import counts, a function-level one included; only the body of ``if TYPE_CHECKING:`` is exempt (type names,
never run). ``LAYERS`` is the allowed order, lowest first: a module may import from its own layer or a lower one,
never a higher one, and the files import each other in no circle (docs/ARCHITECTURE.md draws it).
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "workbench"
HEAVY = {"torch", "transformers", "peft", "bitsandbytes", "accelerate", "datasets"}

LAYERS = (
    ("workbench.messages",),
    ("workbench.errors",),
    ("workbench.spec",),
    ("workbench.plots", "workbench.plots_experiments"),  # plotly figures from plain rows: no engine, no gradio
    ("workbench.core.env", "workbench.core.paths", "workbench.core"),
    ("workbench.core.model",),
    ("workbench.core.methods",),
    ("workbench.core.kernels",),
    ("workbench.core.data",),
    ("workbench.core.runstore",),
    ("workbench.core.export",),
    ("workbench.core.generation",),
    ("workbench.core.evaluation",),
    ("workbench.core.training",),
    ("workbench.core.serving",),
    ("workbench.core.experiments",),
    ("workbench.commands",),
    ("workbench.ui",),
    ("workbench.cli", "workbench.__main__", "workbench"),  # `import workbench` registers the method families
)
"""The layers, lowest first. A module belongs to the layer of the longest name that it equals or lies under."""


def _imports(path: Path) -> set[str]:
    """Top-level package names a file imports (any depth in the file)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def _modules(root: Path) -> dict[str, Path]:
    return {".".join(f.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__"): f
            for f in sorted(root.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
           (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _internal_imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported workbench module, line) for every import in the file, function-level ones included."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: list[tuple[str, int]] = []

    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rsplit(".", 1)[0] if "." in dotted else ""
        return dotted or None

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for c in child.orelse:
                    walk(c)
                continue
            if isinstance(child, ast.Import):
                found.extend((t, child.lineno) for a in child.names if (t := resolve(a.name)))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                for a in child.names:  # `from pkg import module` imports the module; `from mod import name` the mod
                    t = resolve(f"{base}.{a.name}")
                    if t:
                        found.append((t, child.lineno))
            walk(child)

    walk(ast.parse(path.read_text(encoding="utf-8")))
    return [(t, line) for t, line in found if t != name and t != "workbench"]


def _layer(module: str) -> int:
    best, best_len = None, -1
    for i, names in enumerate(LAYERS):
        for n in names:
            if (module == n or module.startswith(n + ".")) and len(n) > best_len:
                best, best_len = i, len(n)
    if best is None:
        raise AssertionError(f"{module} is in no layer of tests/test_boundaries.py: add it to LAYERS")
    return best


def wrong_way_imports(root: Path = ROOT) -> list[str]:
    """Every import that goes up the layer order, as 'file:line: a (layer) imports b (layer)'."""
    modules = _modules(root)
    bad = []
    for name, path in modules.items():
        here = _layer(name)
        for target, line in _internal_imports(name, path, modules):
            if _layer(target) > here:
                bad.append(f"{path.relative_to(root.parent)}:{line}: {name} (layer {here}) imports {target} "
                           f"(layer {_layer(target)})")
    return bad


def import_circles(root: Path = ROOT) -> list[list[str]]:
    """Files that import each other in a loop (package __init__ files that only hand names on excepted)."""
    modules = _modules(root)
    graph = {n: {t for t, _ in _internal_imports(n, p, modules) if not n.startswith(t + ".")}
             for n, p in modules.items()}
    circles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [])
    return circles


def test_imports_follow_the_layer_order():
    assert wrong_way_imports() == []


def test_no_import_circles():
    assert import_circles() == []


def test_spec_has_no_heavy_import_and_no_engine_import():
    """The run schema is plain Python: no torch at import, and nothing of the engine even inside a function."""
    files = list((ROOT / "spec").rglob("*.py"))
    assert files
    for f in files:
        tree = ast.parse(f.read_text(encoding="utf-8"))
        top = {a.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import) for a in n.names}
        top |= {n.module.split(".")[0] for n in tree.body if isinstance(n, ast.ImportFrom) and n.module and not n.level}
        assert not top & HEAVY, f
        assert not [t for t, _ in _internal_imports(".".join(f.relative_to(ROOT.parent).with_suffix("").parts)
                                                    .removesuffix(".__init__"), f, _modules(ROOT))
                    if t.startswith("workbench.core")], f


def test_core_subpackages_say_what_they_do():
    """Every folder of the engine has a one-line docstring naming its job."""
    for init in (ROOT / "core").glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and doc.strip(), init


@pytest.mark.parametrize("where, wrong", [
    ("core/model/bad.py", "from workbench.core.training import trainer\n"),               # module level, upward
    ("core/runstore/bad.py", "def f():\n    from workbench.core.serving import run_queue\n"),  # inside a function
    ("spec/bad.py", "from workbench.ui import app\n"),
])
def test_the_layer_check_fails_on_a_wrong_way_import(tmp_path, where, wrong):
    import shutil
    copy = tmp_path / "workbench"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / where).write_text(wrong, encoding="utf-8")
    bad = wrong_way_imports(copy)
    assert len(bad) == 1 and where.replace("/", ".").removesuffix(".py") in bad[0], bad


def test_the_circle_check_fails_on_a_circle(tmp_path):
    import shutil
    copy = tmp_path / "workbench"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "core" / "paths.py").write_text(
        (copy / "core" / "paths.py").read_text() + "\n\ndef _x():\n    from workbench.core import env\n")
    (copy / "core" / "env.py").write_text(
        (copy / "core" / "env.py").read_text() + "\n\ndef _y():\n    from workbench.core.paths import REPO_ROOT\n")
    assert any({"workbench.core.env", "workbench.core.paths"} <= set(c) for c in import_circles(copy))


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

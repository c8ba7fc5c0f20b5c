"""The modules of ``models/`` import each other along a DAG: no cycle, not even one hidden under
``TYPE_CHECKING`` or inside a function, so that each module can be read (and imported) after the
ones it names."""
from __future__ import annotations

import ast
from pathlib import Path

import models

PACKAGE = Path(models.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """The ``models.*`` modules a source file names in any import statement."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == "models":
            found.update(f"models.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("models."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("models."))
    return found


def test_models_import_graph_has_no_cycle():
    modules = {f"models.{p.stem}": p for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    graph = {name: imported_modules(path) & modules.keys() for name, path in modules.items()}
    assert graph["models.deferred"] == {"models.backend", "models.params"}  # the cycle with mlp is gone
    order: list[str] = []
    while len(order) < len(graph):  # Kahn's algorithm: take a module whose imports are all taken
        ready = sorted(name for name, needs in graph.items() if name not in order and needs <= set(order))
        assert ready, f"import cycle among {sorted(set(graph) - set(order))}: {graph}"
        order.append(ready[0])
    assert graph["models.stepper"] == set()  # the steps match its Protocol without importing it
    assert order.index("models.params") < order.index("models.mlp") < order.index("models.mlp_jobman")


def test_public_api_is_what_all_names():
    """``models.__all__`` names only what the package has; the array backend's error is not called
    ``BackendError`` (that is the scheduler's, in ``backends``)."""
    assert all(hasattr(models, name) for name in models.__all__)
    assert "ArrayBackendError" in models.__all__ and issubclass(models.ArrayBackendError, models.ModelsError)
    assert not hasattr(models, "BackendError") and "BackendError" not in models.__all__

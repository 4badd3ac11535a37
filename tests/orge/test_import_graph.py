"""No import circle inside the engine or inside the components straightened so far.

Every import counts: at module level, inside a function (a lazy import holds a circle
open just the same) and under `if TYPE_CHECKING:`. A submodule importing its own
package's `__init__` counts too (the package imports the submodule when it sets up).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Folders whose modules must not import one another in a loop.
ACYCLIC = (
    "orge",
    "components/http",
    "components/recorder",
    "components/esp32",
    "components/timer",
    "components/script",
    "components/template",
    "components/mqtt",
    "components/ngrok",
    "components/demo_csms",
)


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """The known modules `path` imports, anywhere in it."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # `from . import queries` names a submodule, `from . import DOMAIN` the package.
            names = [
                f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in known else prefix
                for alias in node.names
            ]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def _circles(root: Path, folder: str) -> list[list[str]]:
    """Each import circle among the modules under `root/folder`, as sorted module names."""
    paths = sorted((root / folder).rglob("*.py"))
    modules = {_module_name(root, path): path for path in paths}
    known = set(modules)
    graph = {module: _imports(path, module, known) for module, path in modules.items()}
    # Tarjan's strongly connected components: each with more than one module is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    return sorted(circles)


@pytest.mark.parametrize("folder", ACYCLIC)
def test_no_import_circle(folder: str) -> None:
    assert _circles(ROOT, folder) == []


def test_a_circle_is_found(tmp_path: Path) -> None:
    """The check itself: a package face with a lazy import, and an import under
    TYPE_CHECKING, each close a circle; a plain one-way import does not."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        "DOMAIN = 'pkg'\n\n\nasync def setup():\n    from .runtime import run\n"
    )
    (package / "runtime.py").write_text("from . import DOMAIN\nfrom .leaf import X\n")
    (package / "leaf.py").write_text("X = 1\n")
    (package / "a.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from .b import B\n"
    )
    (package / "b.py").write_text("from pkg.a import A\n")
    assert _circles(tmp_path, "pkg") == [["pkg", "pkg.runtime"], ["pkg.a", "pkg.b"]]

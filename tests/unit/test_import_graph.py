"""The import graph of prism's own packages has no cycle, and built-in plugins stand alone.

The graph is built from the source with ``ast``: every ``import`` of one of our modules,
at module level and inside functions (a function-local import that dodges a cycle is
still a cycle), plus the lazy re-exports of ``prism_core.plugin_api``. Imports under
``if TYPE_CHECKING:`` are annotations only and are left out.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("prism_core", "prism_plugins", "prism_sandbox")


def _modules() -> dict[str, tuple[Path, bool]]:
    """module name -> (file, is a package's ``__init__``)."""
    found: dict[str, tuple[Path, bool]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module of ours that ``name`` (a module or a name in one) belongs to."""
    if name.split(".")[0] not in PACKAGES:
        return None
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(sub) for stmt in node.body for sub in ast.walk(stmt))
    return skipped


def _targets(node: ast.AST, package: str) -> list[str]:
    """The modules an import statement names (``from pkg import mod`` names ``pkg.mod``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = package.split(".")
        base = base[: len(base) - (node.level - 1)]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    return [
        f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module
        for alias in node.names
    ]


def _lazy_exports(tree: ast.AST) -> list[str]:
    """Module names in an ``_EXPORTS`` table (``plugin_api``'s lazy re-exports)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if ast.unparse(target) == "_EXPORTS" and isinstance(node.value, ast.Dict):
                names += [v.value for v in node.value.values if isinstance(v, ast.Constant)]
    return names


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported module of ours -> line of the first such import}."""
    graph: dict[str, dict[str, int]] = {}
    for name, (path, is_package) in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        package = name if is_package else name.rpartition(".")[0]
        skipped = _type_checking_nodes(tree)
        edges = graph.setdefault(name, {})
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            for target in _targets(node, package):
                resolved = _resolve(target)
                if resolved and resolved != name:
                    edges.setdefault(resolved, node.lineno)
        for target in _lazy_exports(tree):
            resolved = _resolve(target)
            if resolved and resolved != name:
                edges.setdefault(resolved, 0)
    return graph


def test_the_graph_sees_local_and_lazy_imports():
    graph = import_graph()
    # a function-local import (the pipeline defers removing a failed image)
    assert "prism_core.save.images" in graph["prism_core.save.pipeline"]
    # plugin_api's lazy re-exports
    assert "prism_core.save.context" in graph["prism_core.plugin_api"]
    assert len(graph) > 50


def test_no_import_cycle_among_our_modules():
    graph = import_graph()
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        cycle = exc.args[1]
        if cycle[1] not in graph[cycle[0]]:  # graphlib lists it in either direction
            cycle = cycle[::-1]
        steps = [f"{a} -> {b} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False)]
        raise AssertionError("import cycle: " + "; ".join(steps)) from None


def _imports_between(importer: str, imported: str) -> list[str]:
    """Imports of a module under ``imported`` by a module under ``importer``."""
    return [
        f"{module} imports {target} (line {line})"
        for module, edges in import_graph().items()
        if module.startswith(importer)
        for target, line in edges.items()
        if target.startswith(imported)
    ]


def test_built_in_plugins_never_import_a_sibling_plugin():
    assert _imports_between("prism_plugins.", "prism_plugins") == []


def test_the_core_imports_no_built_in_plugin():
    """The core loads built-in plugins by name (the plugin manager), never by import."""
    assert _imports_between("prism_core", "prism_plugins") == []

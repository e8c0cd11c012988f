"""The package's dependencies point one way: cli -> pipelines -> domain packages -> lakehouse.

Every ``import`` of a fraudspark module (module level or inside a function) is an edge. An edge
may not go to a higher layer, and the packages may not form a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "fraudspark"

# Lower number = lower layer. A module may import its own layer or lower ones.
LAYERS: dict[str, int] = {
    "fraudspark": 0,  # the package's __init__
    "config": 0,
    "errors": 0,
    "lakehouse": 0,
    "class_sharing": 0,
    "session": 1,
    "notebooks": 1,
    "simulate": 2,
    "ingest": 2,
    "features": 2,
    "models": 3,
    "oversampling": 4,
    "evaluation": 5,
    "monitoring": 5,
    "registry": 5,
    "pipelines": 6,
    "cli": 7,
}


def _unit(module: str) -> str:
    """``fraudspark.features.store`` -> ``features``; ``fraudspark`` -> ``fraudspark``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE_ROOT.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_edges(root: Path = PACKAGE_ROOT) -> list[tuple[str, str, int]]:
    """(importing module, imported fraudspark module, line) for every import in the package."""
    edges = []
    for path in sorted(root.rglob("*.py")):
        source = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
            edges += [(source, t, node.lineno) for t in targets if t.split(".")[0] == "fraudspark"]
    return edges


def test_every_package_has_a_layer() -> None:
    units = {_unit(source) for source, _, _ in import_edges()}
    assert units <= set(LAYERS), f"give these a layer: {sorted(units - set(LAYERS))}"


def test_no_import_goes_up_a_layer() -> None:
    upward = [
        f"{source}:{line} imports {target}"
        for source, target, line in import_edges()
        if LAYERS[_unit(target)] > LAYERS[_unit(source)]
    ]
    assert upward == []


def _package_cycles(edges: list[tuple[str, str]]) -> list[list[str]]:
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        if source != target:
            graph.setdefault(source, set()).add(target)
    cycles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_packages_form_no_cycle() -> None:
    edges = [(_unit(source), _unit(target)) for source, target, _ in import_edges()]
    assert _package_cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _package_cycles([("a", "b"), ("b", "c"), ("c", "a")]) == [["a", "b", "c", "a"]]
    assert _package_cycles([("a", "b"), ("b", "c")]) == []


def test_only_pipelines_write_tables() -> None:
    """Table writes (the lakehouse's write functions) are called from pipelines only."""
    writers = {"merge_insert_new", "upsert", "replace_partitions", "overwrite_table"}
    calls = []
    for path in PACKAGE_ROOT.rglob("*.py"):
        module = _module_name(path)
        if _unit(module) in {"pipelines", "lakehouse"}:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in writers:
                calls.append(f"{module}:{node.lineno}")
    assert calls == []


def test_only_the_cli_prints() -> None:
    prints = []
    for path in PACKAGE_ROOT.rglob("*.py"):
        module = _module_name(path)
        # The notebook runner shows a %sql cell's result, as a notebook does.
        if _unit(module) in {"cli", "notebooks"}:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                prints.append(f"{module}:{node.lineno}")
    assert prints == []

"""Imports point down: no cycle among the package's modules or its subpackages, the library never imports kfp, and
the stages never import the built-in world (a user's data has no rule engine; they load plugins by name)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "relevance_distill"
BUILTIN_WORLD = "relevance_distill.builtin_world"
WORLD_FREE = ("teacher", "annotate", "student", "evaluation", "serving", "llm")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module PATH imports, at the top or inside a function (a lazy import is still an arrow)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {target for target in imported_modules(path) if target in modules and target != name}
            for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def unit(module: str) -> str:
    """A subpackage (``relevance_distill.teacher``) or a top-level module (``relevance_distill.config``)."""
    return ".".join(module.split(".")[:2])


def test_no_import_cycle_among_modules():
    assert cycles(graph()) == []


def test_no_import_cycle_among_subpackages_and_top_level_modules():
    units: dict[str, set[str]] = {}
    for source, targets in graph().items():
        units.setdefault(unit(source), set()).update(unit(t) for t in targets if unit(t) != unit(source))
    found = cycles(units)
    arrows = {f"{s} -> {t}": sorted(m for m in graph() if unit(m) == s and any(unit(x) == t for x in graph()[m]))
              for component in found for s in component for t in units[s] if t in component}
    assert found == [], f"imports that point back up: {arrows}"


@pytest.mark.parametrize("stage", WORLD_FREE)
def test_stages_never_import_the_builtin_world(stage):
    offenders = {module_name(path): sorted(t for t in imported_modules(path) if t.startswith(BUILTIN_WORLD))
                 for path in (PACKAGE / stage).rglob("*.py")}
    assert {name: targets for name, targets in offenders.items() if targets} == {}


def test_the_library_never_imports_kfp():
    """Only the CLI's run, compile and submit load the pipelines (and kfp), inside their functions."""
    offenders = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
        top_level |= {node.module or "" for node in tree.body if isinstance(node, ast.ImportFrom)}
        if any(t == "kfp" or t.startswith("kfp.") for t in top_level):
            offenders.add(module_name(path))
        elif module_name(path) != "relevance_distill.cli.pipeline" and any(
                t == "kfp" or t.startswith("kfp.") for t in imported_modules(path)):
            offenders.add(module_name(path))
    assert offenders == set()


def test_the_checks_see_a_cycle_and_a_world_import(tmp_path):
    """The checks can fail: a two-module cycle is found and the stages' import of the world is named."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    module = PACKAGE / "teacher" / "sft.py"
    assert any(t.startswith("relevance_distill.plugins") for t in imported_modules(module))

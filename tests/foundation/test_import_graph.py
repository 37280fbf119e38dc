"""Arrows point down, never in a circle: the import graph of ``shared/sgrule`` and of ``localcloud``, read from
the source (every import counts: at the top, inside a function, or under ``TYPE_CHECKING``)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def module_graph(package_dir: Path) -> dict[str, set[str]]:
    """Each module of the package -> the modules of the package it imports. Importing a submodule of a package
    runs its parents first, so ``from pkg import sub`` points at ``pkg.sub`` and nobody points at its own
    parent packages."""
    files = {}
    for path in package_dir.rglob("*.py"):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        files[name] = (path, is_package)
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, (path, is_package) in files.items():
        here = name.split(".") if is_package else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in files and t != name and not name.startswith(t + "."))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_a_cycle_hidden_behind_type_checking(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import B\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import A\n")
    (pkg / "c.py").write_text("def f():\n    from . import a\n")
    assert cycles(module_graph(pkg)) == [["pkg.a", "pkg.b"]]


def test_no_import_cycle_in_sgrule() -> None:
    assert cycles(module_graph(ROOT / "shared" / "sgrule")) == []


def test_no_import_cycle_in_localcloud() -> None:
    assert cycles(module_graph(ROOT / "localcloud")) == []


def test_a_rule_chain_knows_neither_the_batch_nor_a_store_backend() -> None:
    graph = module_graph(ROOT / "shared" / "sgrule")
    for module in ("sgrule.apply.chain", "sgrule.apply.plan", "sgrule.apply.decide", "sgrule.apply.context"):
        assert not graph[module] & {"sgrule.apply.batch", "sgrule.apply.handler", "sgrule.store.sqlite",
                                    "sgrule.store.redis"}, module


def imported_packages(path: Path) -> set[str]:
    """The top-level packages a file imports (absolute imports only; relative ones stay inside)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_sgrules_cli_imports_localcloud() -> None:
    base = ROOT / "shared" / "sgrule"
    importers = {p.relative_to(base).parts[0] for p in base.rglob("*.py") if "localcloud" in imported_packages(p)}
    assert importers <= {"cli"}


def test_localcloud_never_imports_sgrule() -> None:
    base = ROOT / "localcloud"
    assert [p.name for p in base.rglob("*.py") if "sgrule" in imported_packages(p)] == []

"""What a function's code can import, found by following its imports (tooling: packaging and the tests).

Start at the function's files (``functions/<folder>/*.py``); follow every ``import`` / ``from ... import`` of
an ``sgrule`` module, wherever it is written (lazy imports inside functions included), to the set of modules
the function can load (:func:`closure`). What those modules import from outside sgrule and the standard
library (:func:`external_imports`) is what the function's zip must carry.
"""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2]  # shared/ (the folder holding the sgrule package)


@dataclass
class Module:
    name: str
    tree: ast.Module
    imports: set[str] = field(default_factory=set)               # sgrule modules it imports
    names_from: dict[str, set[str]] = field(default_factory=dict)  # module -> names imported from it
    aliases: dict[str, str] = field(default_factory=dict)          # local name -> module it stands for
    external: set[str] = field(default_factory=set)              # top-level names of other absolute imports


def module_path(module: str, shared: Path = SHARED) -> Path | None:
    base = shared / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _resolve(current: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    parts = current.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def parse(name: str, path: Path, shared: Path = SHARED) -> Module:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    mod = Module(name, tree)
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        # ``importlib.util.find_spec("x")`` with a literal name loads ``x`` without an import statement (the CEL
        # seam loads its library's compiled module that way): it is an import the zip must carry all the same.
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "find_spec"
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            mod.external.add(node.args[0].value.split(".")[0])
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sgrule":
                    mod.imports.add(alias.name)
                    if alias.asname:
                        mod.aliases[alias.asname] = alias.name
                else:
                    mod.external.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(name, is_package, node.level, node.module)
            if source.split(".")[0] != "sgrule":
                if node.level == 0 and source:
                    mod.external.add(source.split(".")[0])
                continue
            mod.imports.add(source)
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if module_path(sub, shared):  # `from ..clients import ecs`: a module
                    mod.imports.add(sub)
                    mod.aliases[alias.asname or alias.name] = sub
                else:
                    mod.names_from.setdefault(source, set()).add(alias.name)
    return mod


def closure(*entries: Path, shared: Path = SHARED) -> dict[str, Module]:
    """Every sgrule module the entry files can load (parents of a package included: importing one runs them);
    the entries themselves as ``index`` (the first) and their file stems."""
    seen: dict[str, Module] = {}
    todo: list[str] = []
    for i, entry in enumerate(entries):
        mod = parse("index" if i == 0 else entry.stem, entry, shared)
        seen[mod.name] = mod
        todo.extend(mod.imports)
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in seen:
                continue
            path = module_path(prefix, shared)
            if path is None:
                continue
            seen[prefix] = mod = parse(prefix, path, shared)
            todo.extend(mod.imports)
    return seen


def external_imports(modules: dict[str, Module]) -> set[str]:
    """Top-level names the modules import from neither sgrule nor the standard library (``pydantic``, ...),
    the entry folder's own modules aside."""
    local = {m.name for m in modules.values() if "." not in m.name}
    names = set().union(*(m.external for m in modules.values())) if modules else set()
    return {n for n in names if n not in sys.stdlib_module_names and n not in local and n != "__future__"}


def function_modules(folder: Path, shared: Path = SHARED) -> dict[str, Module]:
    """:func:`closure` of a function folder's Python files (``index.py`` first)."""
    files = sorted(folder.glob("*.py"), key=lambda p: (p.name != "index.py", p.name))
    return closure(*files, shared=shared)

"""Which cloud API actions a function's code can call, found by following its imports (no hand-kept table).

Start at ``functions/<folder>/index.py``; follow every ``import`` / ``from ... import`` of an ``sgrule`` module,
wherever it is written (lazy imports inside functions included), to the set of modules the function can
load. An SDK call site -- ``client.<method>(`` / ``client.<method>_with_options(`` in the ECS and EventBridge
client modules, ``queue.<method>(`` in the MNS one -- counts for a function when the top-level definition
around it is *used*: imported by name (``from ..clients.ecs import modify``) or read as ``module.name`` by a
module the function loads, or named by another used definition of the same module (``make_publisher`` ->
``EventBridgePublisher``). Function-level, not module-level: the normaliser loads ``sgrule.clients.ecs`` but
never ``modify``, so it gets no ``ModifySecurityGroupEgressRule``.
"""
from __future__ import annotations

import ast
from pathlib import Path

from sgrule.cli.imports import Module, closure, module_path

ROOT = Path(__file__).resolve().parents[2]

# SDK client module -> (receiver name at its call sites, RAM service prefix).
SDK_MODULES = {"sgrule.clients.ecs": ("client", "ecs"), "sgrule.clients.eventbridge": ("client", "eventbridge"),
               "sgrule.clients.mns": ("queue", "mns")}
# MNS authorizes message operations by these actions. MNS's RAM table maps BatchSendMessage to mns:SendMessage,
# its newer API reference names mns:BatchSendMessage: until one is confirmed, a batch send needs both.
MNS_ACTIONS = {"BatchSendMessage": ("SendMessage", "BatchSendMessage"), "SendMessage": ("SendMessage",),
               "BatchReceiveMessage": ("ReceiveMessage",), "ReceiveMessage": ("ReceiveMessage",),
               "BatchDeleteMessage": ("DeleteMessage",), "DeleteMessage": ("DeleteMessage",)}


def _top_level_defs(tree: ast.Module) -> dict[str, ast.AST]:
    return {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _is_receiver(node: ast.AST, receiver: str) -> bool:
    """``client`` or ``self.client`` (any ``<x>.client``)."""
    return (isinstance(node, ast.Name) and node.id == receiver) or \
        (isinstance(node, ast.Attribute) and node.attr == receiver)


def _sdk_calls(node: ast.AST, receiver: str) -> set[str]:
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and _is_receiver(n.func.value, receiver):
            method = n.func.attr.removesuffix("_with_options")
            out.add("".join(p.capitalize() for p in method.split("_")))
    return out


def used_definitions(modules: dict[str, Module], target: str) -> set[str]:
    """Top-level definitions of ``target`` that the other loaded modules use, and what those use in turn."""
    defs = _top_level_defs(modules[target].tree)
    used: set[str] = set()
    for name, mod in modules.items():
        if name == target:
            continue
        used |= mod.names_from.get(target, set()) & set(defs)
        local = {alias for alias, module in mod.aliases.items() if module == target}
        for n in ast.walk(mod.tree):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in local:
                if n.attr in defs:
                    used.add(n.attr)
    todo = list(used)
    while todo:
        for name in _names_in(defs[todo.pop()]) & set(defs):
            if name not in used:
                used.add(name)
                todo.append(name)
    return used


def api_actions(folder: str) -> set[str]:
    """RAM actions (``ecs:DescribeSecurityGroupAttribute``, ...) the code of ``functions/<folder>`` can call."""
    modules = closure(ROOT / "functions" / folder / "index.py")
    actions: set[str] = set()
    for target, (receiver, service) in SDK_MODULES.items():
        if target not in modules:
            continue
        defs = _top_level_defs(modules[target].tree)
        for name in used_definitions(modules, target):
            for call in _sdk_calls(defs[name], receiver):
                names = MNS_ACTIONS.get(call, (call,)) if service == "mns" else (call,)
                actions |= {f"{service}:{n}" for n in names}
    return actions


def all_sdk_call_sites() -> dict[str, set[str]]:
    """Every SDK call in each client module, used or not (so a call no function reaches is noticed too)."""
    out = {}
    for target, (receiver, _service) in SDK_MODULES.items():
        path = module_path(target)
        assert path is not None, target
        out[target] = _sdk_calls(ast.parse(path.read_text(encoding="utf-8")), receiver)
    return out

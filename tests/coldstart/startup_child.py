"""A cold FC instance of one function, for test_startup_imports.py (not collected: no ``test_`` prefix).

    python startup_child.py FUNCTION EVENT_FILE

Loads ``functions/FUNCTION/index.py`` from its file as FC does, runs ``initialize``, notes the modules loaded
(start-up), invokes ``handler`` once with the bytes of EVENT_FILE and notes them again (the whole cold start).
Deferred modules whose code has not run are not "loaded". Prints one JSON line.
"""
from __future__ import annotations

import importlib.util
import json
import re
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def loaded() -> list[str]:
    return sorted(name for name, module in list(sys.modules.items())
                  if isinstance(module, types.ModuleType) and type(module).__name__ != "DeferredModule")


def lazy_packages() -> dict[str, bool]:
    """Each product SDK's ``models`` package in sys.modules (alibabacloud_ecs20140526.models ...): is it
    sgrule's on-demand one?"""
    return {name: bool(getattr(module, "__sgrule_lazy__", False)) for name, module in list(sys.modules.items())
            if re.fullmatch(r"alibabacloud_[a-z]+\d{8}\.models", name)}


class _Function:
    def __init__(self, name: str) -> None:
        self.name, self.memory, self.timeout = name, 512, 60


class _Context:
    def __init__(self, name: str) -> None:
        self.request_id = "startup-imports"
        self.function = _Function(name)


def main() -> None:
    name, event = sys.argv[1], Path(sys.argv[2]).read_bytes()
    spec = importlib.util.spec_from_file_location("index", ROOT / "functions" / name / "index.py")
    assert spec is not None and spec.loader is not None
    index = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(index)
    context = _Context(name)
    index.initialize(context)
    startup = loaded()
    result = index.handler(event, context)
    print(json.dumps({"startup": startup, "cold": loaded(), "lazy_models": lazy_packages(),
                      "result": json.loads(result) if isinstance(result, (str, bytes)) else result}))


if __name__ == "__main__":
    main()

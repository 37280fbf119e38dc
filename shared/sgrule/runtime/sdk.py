"""Start-up cost of the official SDKs, kept to what a call needs.

Each Alibaba SDK's ``models`` package imports every model module on import (ECS: ~1,150 modules,
~0.25 s; EventBridge: ~400, ~0.1 s) although a function uses a handful. :func:`lazy_models` installs, in
place of that package, a module that imports a model's own file on first use (PEP 562 ``__getattr__``).
Nothing of the SDK is changed or wrapped: the official client gets the official classes. If the package's
layout is not the one expected, nothing is installed and the normal import happens.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import types

_LINE = re.compile(r"^from \.(\w+) import (\w+)\s*$", re.M)


def lazy_models(package: str) -> bool:
    """Make ``<package>.models`` load model modules on demand; True if installed (or already lazy)."""
    name = f"{package}.models"
    if name in sys.modules:
        return getattr(sys.modules[name], "__sgrule_lazy__", False)
    if os.environ.get("SGRULE_LAZY_SDK_MODELS", "1") == "0":
        return False
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or not spec.submodule_search_locations:
        return False
    with open(spec.origin, encoding="utf-8") as fh:
        where = {cls: sub for sub, cls in _LINE.findall(fh.read())}
    if not where:
        return False
    module = types.ModuleType(name)
    module.__file__ = spec.origin
    module.__path__ = list(spec.submodule_search_locations)
    module.__spec__ = spec
    module.__package__ = name
    module.__all__ = sorted(where)  # type: ignore[attr-defined]
    module.__sgrule_lazy__ = True  # type: ignore[attr-defined]

    def __getattr__(attr: str) -> object:
        sub = where.get(attr)
        if sub is None:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        value = getattr(importlib.import_module(f"{name}.{sub}"), attr)
        setattr(module, attr, value)
        return value

    module.__getattr__ = __getattr__  # type: ignore[attr-defined]
    parent = importlib.import_module(package)
    sys.modules[name] = module
    setattr(parent, "models", module)
    return True

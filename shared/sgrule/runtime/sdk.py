"""Start-up cost of the official SDKs, kept to what a call needs.

Each Alibaba SDK's ``models`` package imports every model module on import (ECS: ~1,150 modules,
~0.25 s; EventBridge: ~400, ~0.1 s) although a function uses a handful. :func:`lazy_models` installs, in
place of that package, a module that imports a model's own file on first use (PEP 562 ``__getattr__``).
Nothing of the SDK is changed or wrapped: the official client gets the official classes. If the package's
layout is not the one expected, nothing is installed and the normal import happens.

The SDKs' shared core (``Tea.core``, ``darabonba.core``) also imports ``aiohttp`` for the ``*_async``
methods only (with asyncio and the SSL context it builds at import, a third of what ``import pydantic,
alibabacloud_ecs20140526.client`` costs); sgrule never calls them. :func:`defer_async_transport` defers it
(:mod:`sgrule.runtime.lazy`): it loads the first time something touches it, so the async methods still work.

``SGRULE_LAZY_SDK_MODELS=0`` turns both off (the SDKs then load exactly as they would on their own).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import types

from . import lazy

_LINE = re.compile(r"^from \.(\w+) import (\w+)\s*$", re.M)
# The SDK modules that read aiohttp's names at import time, only to annotate with them.
_AIOHTTP_ANNOTATIONS = {"darabonba.response": ("ClientResponse",),
                        "darabonba.utils.stream": ("ClientSession", "ClientResponse")}


def enabled() -> bool:
    return os.environ.get("SGRULE_LAZY_SDK_MODELS", "1") != "0"


def defer_async_transport() -> bool:
    """Defer ``aiohttp`` (the SDKs' async transport) until something uses it; True if it is deferred.

    Call before the first SDK import (``sgrule.clients`` does); a no-op once aiohttp is imported."""
    if not enabled():
        return False
    return lazy.defer("aiohttp", annotations=_AIOHTTP_ANNOTATIONS)


def lazy_models(package: str) -> bool:
    """Make ``<package>.models`` load model modules on demand; True if installed (or already lazy)."""
    name = f"{package}.models"
    if name in sys.modules:
        return getattr(sys.modules[name], "__sgrule_lazy__", False)
    if not enabled():
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
    module.__all__ = sorted(where)  # type: ignore[attr-defined]  # a module object built here
    module.__sgrule_lazy__ = True  # type: ignore[attr-defined]  # (the same)

    def __getattr__(attr: str) -> object:
        sub = where.get(attr)
        if sub is None:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        value = getattr(importlib.import_module(f"{name}.{sub}"), attr)
        setattr(module, attr, value)
        return value

    setattr(module, "__getattr__", __getattr__)  # noqa: B010 - a module's __getattr__: mypy calls it a method
    parent = importlib.import_module(package)
    sys.modules[name] = module
    setattr(parent, "models", module)  # noqa: B010 - mypy knows no `models` on a module object
    return True

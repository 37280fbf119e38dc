"""Modules that load on first use: what start-up imports but a synchronous call never runs.

The official SDKs import ``aiohttp`` for their ``*_async`` methods whether or not a caller ever awaits
anything; sgrule's calls are all synchronous. :func:`defer` puts a *deferred* module in ``sys.modules`` in
place of such a module: ``import aiohttp`` binds it without running aiohttp's code, and the first use of any
of its attributes (``aiohttp.ClientSession(...)``, ``from aiohttp import X``) runs the real module, in place,
once (whichever thread comes first; the others wait), and from then on it is the real module. Nothing
installed is edited or wrapped: the SDKs' own code runs unchanged, and the async path still works (it loads
aiohttp when it first touches it).

This is :class:`importlib.util.LazyLoader`'s idea. LazyLoader itself cannot be used here, on any Python from
3.10 to 3.13: every later ``import aiohttp`` statement reads the module's ``__spec__`` (the import system
checks ``__spec__._initializing``), and a LazyLoader module loads on any attribute read. A deferred
module answers ``__spec__``, ``__name__`` and the other attributes its spec sets without loading.

Only a module that is imported with ``import x`` (or whose names are used as annotations, below) can be
deferred: ``from x import f`` needs ``f`` at once, so it loads ``x``.

Some modules use a deferred module's attributes at import time only as type annotations: darabonba's
``from aiohttp import ClientResponse`` and ``def __init__(self, session: aiohttp.ClientSession, ...)``. For
such modules, named in ``annotations``, the listed attributes are :class:`typing.ForwardRef` values *while
that module's own code runs* (an import hook on ``sys.meta_path`` marks the window); at any other time the
same attribute loads the real module. A forward reference in an annotation is exactly what the annotation
would be under ``from __future__ import annotations``: the functions behave the same.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import threading
import types
import typing
from typing import Any, Mapping, Sequence

# What the import system (and tools that scan sys.modules) read from a module: set from its spec before
# its code runs, so answered without loading. Not ``__path__``: importing a submodule must run the package.
_METADATA = frozenset({"__spec__", "__name__", "__class__", "__dict__", "__file__", "__cached__", "__loader__",
                       "__package__"})

_lock = threading.RLock()
_loading: dict[int, int] = {}  # id(module) -> the thread running its code (which sees a plain module)
_annotating: dict[str, dict[str, tuple[str, ...]]] = {}  # importer module -> {deferred module: names}
_local = threading.local()  # .open: deferred module -> names served as forward references in this thread


def _open() -> dict[str, set[str]]:
    if not hasattr(_local, "open"):
        _local.open = {}
    opened: dict[str, set[str]] = _local.open
    return opened


class DeferredModule(types.ModuleType):
    """A module whose code has not run yet; any attribute use but its metadata runs it (see module doc)."""

    def __getattribute__(self, attr: str) -> Any:
        if attr in _METADATA or _loading.get(id(self)) == threading.get_ident():
            return types.ModuleType.__getattribute__(self, attr)
        name = types.ModuleType.__getattribute__(self, "__name__")
        window = _open().get(name)
        if window and attr in window:
            return typing.ForwardRef(f"{name}.{attr}")
        if window and attr == "__path__":  # `from <deferred> import X` inside the window
            return types.ModuleType.__getattribute__(self, attr)
        _load(self)
        return getattr(self, attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        if _loading.get(id(self)) == threading.get_ident():  # its own code, or the import system binding
            types.ModuleType.__setattr__(self, attr, value)  # one of its submodules while it runs
            return
        _load(self)
        setattr(self, attr, value)

    def __delattr__(self, attr: str) -> None:
        _load(self)
        delattr(self, attr)

    def __dir__(self) -> list[str]:
        _load(self)
        return dir(self)

    def __repr__(self) -> str:
        return f"<deferred module {types.ModuleType.__getattribute__(self, '__name__')!r}>"


def _load(module: types.ModuleType) -> None:
    """Run the real module's code in ``module``: once, in whichever thread gets here first; the others wait
    here until it has run (they never see it half done)."""
    with _lock:
        if type(module) is not DeferredModule or _loading.get(id(module)) == threading.get_ident():
            return
        spec = types.ModuleType.__getattribute__(module, "__spec__")
        _loading[id(module)] = threading.get_ident()
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(spec.name, None)  # as a failed import would
            raise
        finally:
            del _loading[id(module)]
            object.__setattr__(module, "__class__", types.ModuleType)  # from here on an ordinary module


def is_deferred(name: str) -> bool:
    """True while ``name`` is in sys.modules as a deferred module whose code has not run."""
    return type(sys.modules.get(name)) is DeferredModule


def defer(name: str, annotations: Mapping[str, Sequence[str]] | None = None) -> bool:
    """Put a deferred ``name`` in sys.modules, so importing it costs nothing until it is used.

    ``annotations``: importer module -> attributes of ``name`` it reads at import time only to annotate.
    Returns True if ``name`` is deferred now (or already was); False if it is already imported (nothing to
    save), cannot be found, or is a submodule whose package is not imported yet (deferring it would mean
    importing the package). Never runs ``name``'s code.
    """
    with _lock:
        if name in sys.modules:
            return is_deferred(name)
        parent_name, _, child = name.rpartition(".")
        parent = sys.modules.get(parent_name) if parent_name else None
        if parent_name:
            if parent is None or is_deferred(parent_name) or not hasattr(parent, "__path__"):
                return False
            spec = importlib.machinery.PathFinder.find_spec(name, list(parent.__path__))
        else:
            spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return False
        module = importlib.util.module_from_spec(spec)
        object.__setattr__(module, "__class__", DeferredModule)
        sys.modules[name] = module
        if parent is not None:
            setattr(parent, child, module)  # what the import system does for a submodule it imports
        for importer, attrs in (annotations or {}).items():
            _annotating.setdefault(importer, {})[name] = tuple(attrs)
        if _annotating and not any(isinstance(f, _AnnotationWindow) for f in sys.meta_path):
            sys.meta_path.insert(0, _AnnotationWindow())
        return True


class _AnnotationWindow:
    """Import hook: while a module named in ``defer(..., annotations=)`` runs its code, the attributes it
    annotates with are forward references; the window closes when its code has run. The hook takes itself
    off ``sys.meta_path`` once every such module has been found."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in _annotating:
            return None
        with _lock:
            wanted = _annotating.pop(fullname, None)
            if not _annotating and self in sys.meta_path:
                sys.meta_path.remove(self)
        if not wanted:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _WindowLoader(spec.loader, wanted)  # type: ignore[assignment]  # a loader in all but name
                return spec
        return None


class _WindowLoader:
    def __init__(self, loader: Any, wanted: dict[str, tuple[str, ...]]) -> None:
        self.loader, self.wanted = loader, wanted

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        assert module.__spec__ is not None  # a module being loaded has its spec
        module.__loader__ = module.__spec__.loader = self.loader  # the real loader, as if never wrapped
        with _Window(self.wanted):
            self.loader.exec_module(module)

    def __getattr__(self, attr: str) -> Any:  # get_code, get_source, is_package ... of the real loader
        return getattr(self.loader, attr)


class _Window:
    def __init__(self, wanted: dict[str, tuple[str, ...]]) -> None:
        self.wanted = {name: attrs for name, attrs in wanted.items() if is_deferred(name)}
        self.added: dict[str, set[str]] = {}

    def __enter__(self) -> None:
        opened = _open()
        for name, attrs in self.wanted.items():
            new = set(attrs) - opened.setdefault(name, set())
            opened[name] |= new
            self.added[name] = new

    def __exit__(self, *exc: Any) -> None:
        opened = _open()
        for name, attrs in self.added.items():
            opened[name] -= attrs


def deferred_now() -> list[str]:
    """Names of the modules still deferred (not used yet) in this process."""
    return sorted(name for name, module in list(sys.modules.items()) if type(module) is DeferredModule)

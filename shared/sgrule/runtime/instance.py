"""The FC instance: what one instance builds once and shares between its invocations, and the deadline.

FC keeps a Python instance alive between invocations (module state survives) and calls ``initialize`` once
per instance. Each function keeps its dependencies (clients, store, thread pool) here under its own name, as
one typed object with a ``close()``, built on first use; its ``reset()`` closes and forgets that function's
alone (tests, ``sgrule local invoke`` with a new environment).
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Protocol, TypeVar


class Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closable)

_lock = threading.Lock()
_state: dict[str, Closable] = {}


def shared(name: str, build: Callable[[], C], kind: type[C]) -> C:
    """The instance's ``name`` dependencies (a ``kind``), built once by ``build`` (thread-safe)."""
    with _lock:
        if name not in _state:
            _state[name] = build()
        value = _state[name]
    assert isinstance(value, kind)
    return value


def reset(name: str | None = None) -> None:
    """Close and forget what this instance built for function ``name`` (None: for every function)."""
    with _lock:
        names = [name] if name is not None else list(_state)
        built = [_state.pop(n) for n in names if n in _state]
    for value in built:
        value.close()


def deadline_for(context: Any, default_timeout_s: float, reserve_s: float) -> float:
    """time.monotonic() by which the work must be done, leaving ``reserve_s`` of the FC timeout."""
    timeout = getattr(getattr(context, "function", None), "timeout", None) or default_timeout_s
    return time.monotonic() + float(timeout) - reserve_s

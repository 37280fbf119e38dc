"""The FC instance: what one instance builds once and shares between its invocations, and the deadline.

FC keeps a Python instance alive between invocations (module state survives) and calls ``initialize`` once
per instance. Each function keeps its dependencies (clients, store, thread pool) here under its own name,
built on first use; :func:`reset` forgets them (tests, ``sgrule local invoke`` with a new environment).
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_state: dict[str, Any] = {}
_closers: dict[str, Callable[[Any], None]] = {}


def shared(name: str, build: Callable[[], T], close: Callable[[T], None] | None = None) -> T:
    """The instance's ``name`` dependencies, built once by ``build`` (thread-safe)."""
    with _lock:
        if name not in _state:
            _state[name] = build()
            if close is not None:
                _closers[name] = close  # type: ignore[assignment]
        return _state[name]  # type: ignore[no-any-return]


def reset() -> None:
    """Close and forget everything this instance built."""
    with _lock:
        items = list(_state.items())
        _state.clear()
        closers = dict(_closers)
        _closers.clear()
    for name, value in items:
        if name in closers:
            closers[name](value)


def deadline_for(context: Any, default_timeout_s: float, reserve_s: float) -> float:
    """time.monotonic() by which the work must be done, leaving ``reserve_s`` of the FC timeout."""
    timeout = getattr(getattr(context, "function", None), "timeout", None) or default_timeout_s
    return time.monotonic() + float(timeout) - reserve_s

"""The call log: every API call the server answered (or dropped), in arrival order."""
from __future__ import annotations

import builtins  # CallLog.list shadows the name in annotations

import copy
import threading
import time
from typing import Any


class CallLog:
    def __init__(self) -> None:
        self._lock = threading.Condition(threading.Lock())
        self._calls: list[dict[str, Any]] = []
        self._seq = 0

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            entry = {"seq": self._seq, "time": round(time.time(), 6), **entry}
            self._calls.append(entry)
            self._lock.notify_all()

    def list(self, action: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return self._matching(action)

    def wait(self, action: str | None, count: int, timeout: float) -> builtins.list[dict[str, Any]] | None:
        """Block until at least ``count`` calls (of ``action``) are logged; None when ``timeout`` s pass
        first. Tests wait on this instead of polling the log in a sleep loop."""
        with self._lock:
            if self._lock.wait_for(lambda: self._count(action) >= count, timeout):
                return self._matching(action)
            return None

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def _count(self, action: str | None) -> int:
        return sum(1 for c in self._calls if action is None or c.get("action") == action)

    def _matching(self, action: str | None) -> builtins.list[dict[str, Any]]:
        return [copy.deepcopy(c) for c in self._calls if action is None or c.get("action") == action]

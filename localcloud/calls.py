"""The call log: every API call the server answered (or dropped), in arrival order."""
from __future__ import annotations

import copy
import threading
import time
from typing import Any


class CallLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[dict[str, Any]] = []
        self._seq = 0

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            entry = {"seq": self._seq, "time": round(time.time(), 6), **entry}
            self._calls.append(entry)

    def list(self, action: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls if action is None or c.get("action") == action]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

"""A pass that outlives one invocation: its state in the idempotency store, under the scope's key.

State (JSON): ``{"v": 1, "status": "scanning" | "complete" | "reported", "done": {region: [group ids]},
"report": {...}}`` -- the report holds the scan id and time, so a resumed pass sends the very same events.
A group is in ``done`` only once it is counted in the report and (on a real run) its changes are enqueued,
both in the same write; a crash before that write re-reads the group next time and re-sends the same ids,
which the apply function takes once.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..store import KeyValue

VERSION = 1


@dataclass
class PassState:
    report: dict[str, Any]
    done: dict[str, set[str]] = field(default_factory=dict)
    status: str = "scanning"  # scanning -> complete (report final, maybe not yet published) -> reported

    def is_done(self, region: str, group_id: str) -> bool:
        return group_id in self.done.get(region, ())

    def mark_done(self, region: str, group_id: str) -> None:
        self.done.setdefault(region, set()).add(group_id)

    def dumps(self) -> str:
        return json.dumps({"v": VERSION, "status": self.status, "report": self.report,
                           "done": {r: sorted(g) for r, g in self.done.items()}},
                          ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str) -> PassState | None:
        try:
            doc = json.loads(text)
            if doc.get("v") != VERSION:
                return None
            return cls(doc["report"], {r: set(g) for r, g in doc["done"].items()}, doc["status"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # unreadable (another version): start a new pass rather than fail every night


class Cursor:
    """Load and save one pass's state (``store`` None: nothing is kept, e.g. a terminal run)."""

    def __init__(self, store: KeyValue | None, key: str, ttl_s: float) -> None:
        self.store, self.key, self.ttl_s = store, key, ttl_s

    def load(self) -> PassState | None:
        if self.store is None:
            return None
        text = self.store.get_value(self.key)
        return PassState.loads(text) if text else None

    def save(self, state: PassState) -> None:
        if self.store is not None:
            self.store.put_value(self.key, state.dumps(), self.ttl_s)

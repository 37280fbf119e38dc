"""The ECS call budget on SQLite (one machine): each ask and each pause is one ``BEGIN IMMEDIATE`` transaction.

SQLite takes the file's write lock before the transaction reads anything, so two processes can never read
the same ``tat`` and both reserve the slot after it; the clock is read inside the transaction, so the times
the processes see follow the order they held the lock in. Table ``budget``: (namespace, region/API) ->
``tat`` and ``pause`` in epoch seconds of this machine's clock.
"""
from __future__ import annotations

import sqlite3
import time

from .budget import Decision, Rate, budget_key, check_ask
from .sqlite_file import Transactions

_SCHEMA = """CREATE TABLE IF NOT EXISTS budget (
    ns TEXT NOT NULL, key TEXT NOT NULL, tat REAL NOT NULL, pause REAL NOT NULL, PRIMARY KEY (ns, key))"""


class SqliteBudget(Transactions):
    def __init__(self, path: str, *, namespace: str = "sgrule", busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self.namespace = namespace
        Transactions.__init__(self, path, busy_timeout_s)  # the idempotency store's file, opened the same way
        with self._tx() as c:
            c.execute(_SCHEMA)

    def _read(self, c: sqlite3.Connection, key: str) -> tuple[float, float]:
        row = c.execute("SELECT tat, pause FROM budget WHERE ns=? AND key=?", (self.namespace, key)).fetchone()
        return (row[0], row[1]) if row else (0.0, 0.0)

    def _write(self, c: sqlite3.Connection, key: str, tat: float, pause: float) -> None:
        c.execute("INSERT OR REPLACE INTO budget (ns, key, tat, pause) VALUES (?,?,?,?)",
                  (self.namespace, key, tat, pause))

    def acquire(self, region: str, api: str, rate: Rate, max_wait_s: float) -> Decision:
        max_wait_s = check_ask(max_wait_s)
        key = budget_key(region, api)
        with self._tx() as c:
            now = time.time()  # inside the write lock: every process's asks are timed in lock order
            tat, pause = self._read(c, key)
            slot = max(tat - rate.tolerance_s, now, pause)
            if slot - now > max_wait_s:
                return Decision(False, slot - now, slot)
            self._write(c, key, max(tat, slot) + rate.interval_s, pause)
        return Decision(True, slot - now, slot)

    def pause(self, region: str, api: str, seconds: float) -> float:
        seconds = check_ask(seconds, "seconds")
        key = budget_key(region, api)
        with self._tx() as c:
            now = time.time()
            tat, pause = self._read(c, key)
            pause = max(pause, now + seconds)
            self._write(c, key, tat, pause)
        return pause - now

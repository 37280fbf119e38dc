"""The ECS call budget on SQLite (one machine): each ask and each pause is one ``BEGIN IMMEDIATE`` transaction.

SQLite takes the file's write lock before the transaction reads anything, so two processes can never read
the same ``tat`` and both reserve the slot after it; the clock is read inside the transaction, so the times
the processes see follow the order they held the lock in. Table ``budget``: (namespace, region/API) ->
``tat`` and ``pause`` in epoch seconds of this machine's clock.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .budget import Decision, Rate, budget_key, check_ask

_SCHEMA = """CREATE TABLE IF NOT EXISTS budget (
    ns TEXT NOT NULL, key TEXT NOT NULL, tat REAL NOT NULL, pause REAL NOT NULL, PRIMARY KEY (ns, key))"""


class SqliteBudget:
    def __init__(self, path: str, *, namespace: str = "sgrule", busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self.namespace = namespace
        self._lock = threading.Lock()  # one connection per budget, used by one thread at a time
        self._conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        with _setup_lock(path):
            # Switching a new file to WAL is not covered by busy_timeout: processes opening the same new file
            # at once take turns here. WAL: readers never block the writer.
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            with self._tx() as c:
                c.execute(_SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

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

    def close(self) -> None:
        with self._lock:
            self._conn.close()


@contextmanager
def _setup_lock(path: str) -> Iterator[None]:
    """An exclusive lock on ``<path>.lock`` (POSIX) while a connection sets the file up."""
    if path == ":memory:" or os.name != "posix":
        yield
        return
    import fcntl

    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock

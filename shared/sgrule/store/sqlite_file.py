"""One SQLite file, shared by the stores that live in it (the idempotency store, the ECS call budget): how a
connection to it is opened and how a transaction runs, written once so every table in the file gets the same
answers to the same locking questions."""
from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


def connect(path: str, busy_timeout_s: float) -> sqlite3.Connection:
    """A connection in WAL mode (readers never block the writer; processes share the file safely) with NORMAL
    sync (crash-safe for the application: only an OS crash can lose the last commits). ``isolation_level=None``:
    transactions are begun by :class:`Transactions`; ``check_same_thread=False``: its lock guards the
    connection."""
    conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    enter_wal(conn, busy_timeout_s)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def enter_wal(conn: sqlite3.Connection, wait_s: float) -> None:
    """Switch the file to WAL, waiting up to ``wait_s`` for the lock the switch needs.

    SQLite does not call the busy handler for that lock: when several connections open a new file at once
    (function instances starting on a new store, or a store and a budget in the same file), all but one may get
    "database is locked" at once, whatever ``busy_timeout`` says. The mode is kept in the file, so once one
    switch succeeds the others' are no-ops; retrying with a short back-off is the documented way through.
    """
    deadline = time.monotonic() + wait_s
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


class Transactions:
    """A connection used by one thread at a time, each use one ``BEGIN IMMEDIATE`` transaction: SQLite takes
    the file's write lock before the transaction reads anything, so no two writers act on the same read."""

    def __init__(self, path: str, busy_timeout_s: float) -> None:
        self._lock = threading.Lock()
        self._conn = connect(path, busy_timeout_s)

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

    def close(self) -> None:
        with self._lock:
            self._conn.close()

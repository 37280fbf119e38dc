"""SQLite backend: one file, shared by the threads of a process and by processes on one machine.

Every read-modify-write runs in a ``BEGIN IMMEDIATE`` transaction: SQLite takes the file's write lock up
front, so two processes can never both see a key as free (the claim is atomic across processes), and
``busy_timeout`` makes the loser wait instead of failing. Within a process, one connection is shared under
a lock (``sqlite3`` connections must not be used by two threads at once; it also makes ``:memory:`` work).
Leases use this machine's clock (every process on it reads the same one); the sequence is a counter in the
file. Expired rows are ignored on read and purged every so often.

Journal entries are opened many at a time (``open_entries``: a batch's first requests, before its chains
start) in a few statements whatever their number, and completions fold their checks into their writes:
``sqlite3`` lets go of the GIL for every statement it steps, and in a busy batch taking it back means waiting
behind the other threads -- while this store's lock is held, so every statement saved is a wait saved for
all of them.
"""
from __future__ import annotations

import sqlite3
import time

from .base import (DEFAULT_RETENTION_S, LEASE_MARGIN_S, Claim, ClaimStatus, Completion, LeaseLost,
                   Record, RuleState, SingleFromMany, check_positive, dumps, loads)
from .sqlite_file import Transactions
from .records import (JournalEntry, SentRequest, Settlement, sent_from_json, sent_to_json, settlement_from_json,
                      settlement_to_json)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idem (
    ns TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL,
    deliveries INTEGER NOT NULL, owner TEXT, lease_expires_at REAL NOT NULL,
    sent_request TEXT, outcome TEXT, expires_at REAL NOT NULL, settled TEXT,
    PRIMARY KEY (ns, key));
CREATE INDEX IF NOT EXISTS idem_expiry ON idem (expires_at);
CREATE TABLE IF NOT EXISTS rule_lock (
    ns TEXT NOT NULL, rule_key TEXT NOT NULL, owner TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (ns, rule_key));
CREATE TABLE IF NOT EXISTS rule_state (
    ns TEXT NOT NULL, rule_key TEXT NOT NULL, marks TEXT NOT NULL, version INTEGER NOT NULL,
    expires_at REAL NOT NULL, PRIMARY KEY (ns, rule_key));
CREATE TABLE IF NOT EXISTS journal (
    ns TEXT NOT NULL, rule_key TEXT NOT NULL, token TEXT NOT NULL, entry TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (ns, rule_key, token));
CREATE TABLE IF NOT EXISTS seq (ns TEXT NOT NULL PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kv (
    ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (ns, key));
"""
_COLUMNS = "key, fingerprint, status, deliveries, owner, lease_expires_at, sent_request, outcome, expires_at, settled"
_PURGE_EVERY = 256  # writes between opportunistic purges of expired rows
_RETURNING = sqlite3.sqlite_version_info >= (3, 35)  # older SQLite (upserts need 3.24): a SELECT after


def _sent(sent: SentRequest | None) -> str | None:
    return None if sent is None else dumps(sent_to_json(sent))


class SqliteStore(Transactions, SingleFromMany):
    def __init__(self, path: str, *, namespace: str = "sgrule",
                 retention_s: float = DEFAULT_RETENTION_S, busy_timeout_s: float = 30.0) -> None:
        check_positive("retention_s", retention_s)
        self.path = path
        self.namespace = namespace
        self.retention_s = retention_s
        self._writes = 0
        Transactions.__init__(self, path, busy_timeout_s)
        with self._tx() as c:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    c.execute(stmt)
            if "settled" not in {row[1] for row in c.execute("PRAGMA table_info(idem)")}:
                c.execute("ALTER TABLE idem ADD COLUMN settled TEXT")  # a file from an older version

    # --- plumbing ---------------------------------------------------------------------------------
    def _maybe_purge(self, c: sqlite3.Connection, now: float) -> None:
        self._writes += 1
        if self._writes % _PURGE_EVERY == 0:
            for table in ("idem", "rule_lock", "rule_state", "kv"):
                c.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,))

    def _row(self, c: sqlite3.Connection, key: str, now: float) -> Record | None:
        row = c.execute(f"SELECT {_COLUMNS} FROM idem WHERE ns=? AND key=? AND expires_at > ?",
                        (self.namespace, key, now)).fetchone()
        if row is None:
            return None
        return Record(key=row[0], fingerprint=row[1], status=row[2], deliveries=row[3], owner=row[4],
                      lease_expires_at=row[5], sent_request=sent_from_json(loads(row[6])), outcome=loads(row[7]),
                      expires_at=row[8], settled=settlement_from_json(loads(row[9])))

    def _put(self, c: sqlite3.Connection, r: Record) -> None:
        c.execute(f"INSERT OR REPLACE INTO idem (ns, {_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                  (self.namespace, r.key, r.fingerprint, r.status, r.deliveries, r.owner, r.lease_expires_at,
                   _sent(r.sent_request), dumps(r.outcome), r.expires_at,
                   None if r.settled is None else dumps(settlement_to_json(r.settled))))

    def _state(self, c: sqlite3.Connection, key: str, now: float) -> tuple[str, str | None] | None:
        """(status, owner) of a live record: all a write needs to check, without decoding its JSON."""
        row: tuple[str, str | None] | None = c.execute(
            "SELECT status, owner FROM idem WHERE ns=? AND key=? AND expires_at > ?",
            (self.namespace, key, now)).fetchone()
        return row

    def _owned(self, c: sqlite3.Connection, key: str, owner: str, now: float) -> bool:
        row = c.execute("SELECT 1 FROM idem WHERE ns=? AND key=? AND expires_at > ? AND status='in_progress' "
                        "AND owner=? AND lease_expires_at > ?", (self.namespace, key, now, owner, now)).fetchone()
        return row is not None

    # --- claims -----------------------------------------------------------------------------------
    def claim(self, key: str, fingerprint: str, owner: str, lease_s: float) -> Claim:
        return self.claim_many([(key, fingerprint)], owner, lease_s)[0]

    def claim_many(self, items: list[tuple[str, str]], owner: str, lease_s: float) -> list[Claim]:
        check_positive("lease_s", lease_s)
        with self._tx() as c:
            now = time.time()
            return [self._claim(c, key, fingerprint, owner, lease_s, now) for key, fingerprint in items]

    def _claim(self, c: sqlite3.Connection, key: str, fingerprint: str, owner: str, lease_s: float,
               now: float) -> Claim:
        keep_until = now + max(lease_s + LEASE_MARGIN_S, self.retention_s)
        r = self._row(c, key, now)
        if r is None:
            r = Record(key=key, fingerprint=fingerprint, status="in_progress", deliveries=1,
                       owner=owner, lease_expires_at=now + lease_s, expires_at=keep_until)
            self._put(c, r)
            self._maybe_purge(c, now)
            return Claim(ClaimStatus.ACQUIRED, r)
        if r.fingerprint != fingerprint:
            return Claim(ClaimStatus.MISMATCH, r)
        if r.status == "completed":
            return Claim(ClaimStatus.COMPLETED, r)
        if r.owner is not None and r.owner != owner and r.lease_expires_at > now:
            return Claim(ClaimStatus.IN_PROGRESS, r)
        # Expired lease (a crash), released, or our own: take over; sent_request stays for reconciling.
        r.deliveries += 1
        r.owner = owner
        r.lease_expires_at = now + lease_s
        r.expires_at = max(r.expires_at or 0.0, keep_until)
        self._put(c, r)
        return Claim(ClaimStatus.ACQUIRED, r)

    def complete_many(self, items: list[Completion], owner: str, ttl_s: float) -> list[bool]:
        check_positive("ttl_s", ttl_s)
        with self._tx() as c:
            now = time.time()
            done = [self._complete(c, item, owner, ttl_s, now) for item in items]
            self._maybe_purge(c, now)
            return done

    def _complete(self, c: sqlite3.Connection, item: Completion, owner: str, ttl_s: float, now: float) -> bool:
        cur = c.execute("UPDATE idem SET status='completed', outcome=?, expires_at=? WHERE ns=? AND key=? "
                        "AND expires_at > ? AND status='in_progress' AND owner=?",
                        (dumps(item.outcome), now + ttl_s, self.namespace, item.key, now, owner))
        if cur.rowcount == 0:
            # A repeated complete (our retry): the first outcome stands. Anything else: not ours any more.
            return self._state(c, item.key, now) == ("completed", owner)
        if item.rule_key is not None:
            self._write_rule(c, item.rule_key, item.field_times or {}, item.entry, ttl_s, now)
            if item.release_rule:
                self._unlock(c, item.rule_key, owner)
        return True

    def release(self, key: str, owner: str, sent: SentRequest | None = None, *, uncount: bool = False) -> None:
        with self._tx() as c:
            now = time.time()
            if self._state(c, key, now) == ("in_progress", owner):
                c.execute("UPDATE idem SET owner=NULL, lease_expires_at=?, sent_request=COALESCE(?, sent_request), "
                          "deliveries=MAX(deliveries - ?, 0) WHERE ns=? AND key=?",
                          (now, _sent(sent), int(uncount), self.namespace, key))

    def get(self, key: str) -> Record | None:
        with self._lock:
            return self._row(self._conn, key, time.time())

    # --- leases -----------------------------------------------------------------------------------
    def renew(self, keys: list[str], rule_keys: list[str], owner: str, lease_s: float) -> set[str]:
        check_positive("lease_s", lease_s)
        lost: set[str] = set()
        with self._tx() as c:
            now = time.time()
            for key in keys:
                if not self._owned(c, key, owner, now):
                    lost.add(key)
                else:
                    c.execute("UPDATE idem SET lease_expires_at=? WHERE ns=? AND key=?",
                              (now + lease_s, self.namespace, key))
            for rule in rule_keys:
                cur = c.execute("UPDATE rule_lock SET expires_at=? WHERE ns=? AND rule_key=? AND owner=? "
                                "AND expires_at > ?", (now + lease_s, self.namespace, rule, owner, now))
                if cur.rowcount == 0:
                    lost.add(rule)
        return lost

    # --- rules ------------------------------------------------------------------------------------
    def sequence(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT value FROM seq WHERE ns=?", (self.namespace,)).fetchone()
        return row[0] if row else 0

    def _next(self, c: sqlite3.Connection, by: int = 1) -> int:
        """Move the sequence on by ``by``; its new value."""
        bump = "INSERT INTO seq (ns, value) VALUES (?1, ?2) ON CONFLICT(ns) DO UPDATE SET value = value + ?2"
        if _RETURNING:
            return int(c.execute(bump + " RETURNING value", (self.namespace, by)).fetchone()[0])
        c.execute(bump, (self.namespace, by))
        return int(c.execute("SELECT value FROM seq WHERE ns=?", (self.namespace,)).fetchone()[0])

    def lock_rules(self, rule_keys: list[str], owner: str, lease_s: float) -> dict[str, RuleState | None]:
        check_positive("lease_s", lease_s)
        with self._tx() as c:
            now = time.time()
            out = {rule: self._read_rule(c, rule, now) if self._lock_rule(c, rule, owner, lease_s, now) else None
                   for rule in rule_keys}
            self._maybe_purge(c, now)
            return out

    def _lock_rule(self, c: sqlite3.Connection, rule_key: str, owner: str, lease_s: float, now: float) -> bool:
        row = c.execute("SELECT owner FROM rule_lock WHERE ns=? AND rule_key=? AND expires_at > ?",
                        (self.namespace, rule_key, now)).fetchone()
        if row is not None and row[0] != owner:
            return False
        c.execute("INSERT OR REPLACE INTO rule_lock (ns, rule_key, owner, expires_at) VALUES (?,?,?,?)",
                  (self.namespace, rule_key, owner, now + lease_s))
        return True

    def _holds(self, c: sqlite3.Connection, rule_key: str, owner: str, now: float) -> bool:
        return c.execute("SELECT 1 FROM rule_lock WHERE ns=? AND rule_key=? AND owner=? AND expires_at > ?",
                         (self.namespace, rule_key, owner, now)).fetchone() is not None

    def release_rule_lock(self, rule_key: str, owner: str) -> None:
        with self._tx() as c:
            self._unlock(c, rule_key, owner)

    def _unlock(self, c: sqlite3.Connection, rule_key: str, owner: str) -> None:
        c.execute("DELETE FROM rule_lock WHERE ns=? AND rule_key=? AND owner=?", (self.namespace, rule_key, owner))

    def _read_rule(self, c: sqlite3.Connection, rule_key: str, now: float) -> RuleState:
        row = c.execute("SELECT marks, version FROM rule_state WHERE ns=? AND rule_key=? AND expires_at > ?",
                        (self.namespace, rule_key, now)).fetchone()
        entries = [JournalEntry.from_json(loads(text), seq) for text, seq in c.execute(
            "SELECT entry, seq FROM journal WHERE ns=? AND rule_key=? ORDER BY seq", (self.namespace, rule_key))]
        if row is None:
            return RuleState(journal=entries)
        return RuleState({k: int(v) for k, v in loads(row[0]).items()}, row[1], entries)

    def _write_rule(self, c: sqlite3.Connection, rule_key: str, times: dict[str, int], close: str | None,
                    ttl_s: float, now: float) -> int | None:
        """Max-merge watermarks; close a journal entry (a new version). Returns the new version, if any."""
        row = c.execute("SELECT marks, version, expires_at FROM rule_state WHERE ns=? AND rule_key=? "
                        "AND expires_at > ?", (self.namespace, rule_key, now)).fetchone()
        marks: dict[str, int] = {} if row is None else loads(row[0])
        for name, t in times.items():
            marks[name] = max(int(t), int(marks.get(name, t)))
        version = row[1] if row else 0
        if close is not None:
            c.execute("DELETE FROM journal WHERE ns=? AND rule_key=? AND token=?", (self.namespace, rule_key, close))
            version = self._next(c)
        # Like a Redis hash's TTL: the rule's state lives on while it is written.
        expires_at = max(row[2] if row else 0.0, now + ttl_s)
        c.execute("INSERT OR REPLACE INTO rule_state (ns, rule_key, marks, version, expires_at) VALUES (?,?,?,?,?)",
                  (self.namespace, rule_key, dumps(marks), version, expires_at))
        return version

    def open_entries(self, items: list[tuple[str, str, str, JournalEntry]]) -> list[int | LeaseLost]:
        """``items`` in transactions of a few statements each (whatever their number), 250 items apiece."""
        return [r for i in range(0, len(items), 250) for r in self._open_chunk(items[i:i + 250])]

    def _open_chunk(self, items: list[tuple[str, str, str, JournalEntry]]) -> list[int | LeaseLost]:
        ns = self.namespace
        out: list[int | LeaseLost] = []
        with self._tx() as c:
            now = time.time()
            checks = c.execute(
                f"WITH r(i, key, owner, rule_key) AS (VALUES {', '.join(['(?, ?, ?, ?)'] * len(items))}) "
                "SELECT r.i, EXISTS (SELECT 1 FROM idem WHERE ns=? AND key=r.key AND expires_at > ? "
                "AND status='in_progress' AND owner=r.owner AND lease_expires_at > ?), "
                "EXISTS (SELECT 1 FROM rule_lock WHERE ns=? AND rule_key=r.rule_key AND owner=r.owner "
                "AND expires_at > ?) FROM r ORDER BY r.i",
                [v for i, (key, owner, rule_key, _) in enumerate(items) for v in (i, key, owner, rule_key)]
                + [ns, now, now, ns, now]).fetchall()
            ok = []
            for (key, owner, rule_key, entry), (_, owned, holds) in zip(items, checks):
                if not owned:
                    out.append(LeaseLost(key, owner))
                elif not holds:
                    out.append(LeaseLost(rule_key, owner))
                else:
                    out.append(0)
                    ok.append((len(out) - 1, key, rule_key, entry))
            if not ok:
                return out
            # The sequence moves by one per entry; the entries take its values in order.
            last = self._next(c, by=len(ok))
            seqs = range(last - len(ok) + 1, last + 1)
            c.executemany("UPDATE idem SET sent_request=? WHERE ns=? AND key=?",
                          [(_sent(e.sent), ns, key) for _, key, _, e in ok])
            fives = ", ".join(["(?, ?, ?, ?, ?)"] * len(ok))
            c.execute(f"INSERT OR REPLACE INTO journal (ns, rule_key, token, entry, seq) VALUES {fives}",
                      [v for (_, _, rule_key, e), seq in zip(ok, seqs)
                       for v in (ns, rule_key, e.token, dumps(e.to_json()), seq)])
            # Each rule's version is its entry's sequence; its watermarks stay (an expired row's are gone).
            c.execute(f"INSERT INTO rule_state (ns, rule_key, marks, version, expires_at) VALUES {fives} "
                      "ON CONFLICT (ns, rule_key) DO UPDATE SET version = excluded.version, "
                      "marks = CASE WHEN rule_state.expires_at > ? THEN rule_state.marks ELSE '{}' END, "
                      "expires_at = max(rule_state.expires_at, excluded.expires_at)",
                      [v for (_, _, rule_key, _), seq in zip(ok, seqs)
                       for v in (ns, rule_key, "{}", seq, now + self.retention_s)] + [now])
            for (i, *_), seq in zip(ok, seqs):
                out[i] = seq
        return out

    def settle(self, rule_key: str, owner: str, entry: JournalEntry, settled: Settlement,
               field_times: dict[str, int] | None, ttl_s: float) -> int:
        check_positive("ttl_s", ttl_s)
        with self._tx() as c:
            now = time.time()
            if not self._holds(c, rule_key, owner, now):
                raise LeaseLost(rule_key, owner)
            version = self._write_rule(c, rule_key, field_times or {}, entry.token, ttl_s, now)
            c.execute("UPDATE idem SET settled=? WHERE ns=? AND key=? AND status='in_progress' AND expires_at > ?",
                      (dumps(settlement_to_json(settled)), self.namespace, entry.change_key, now))
            assert version is not None  # closing an entry moves the version on
            return version

    def rule_state(self, rule_key: str) -> RuleState:
        with self._lock:
            return self._read_rule(self._conn, rule_key, time.time())

    # --- small values (their own table) -----------------------------------------------------------
    def get_value(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM kv WHERE ns=? AND key=? AND expires_at > ?",
                                     (self.namespace, key, time.time())).fetchone()
        return None if row is None else row[0]

    def put_value(self, key: str, value: str, ttl_s: float) -> None:
        check_positive("ttl_s", ttl_s)
        with self._tx() as c:
            now = time.time()
            c.execute("INSERT OR REPLACE INTO kv (ns, key, value, expires_at) VALUES (?,?,?,?)",
                      (self.namespace, key, value, now + ttl_s))
            self._maybe_purge(c, now)


"""open_store URL parsing, and the cold-start import rule."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sgrule.store import DEFAULT_SQLITE_PATH, open_store
from sgrule.store.base import IdempotencyStore


@pytest.mark.parametrize("url", [None, "", "  "])
def test_default_is_sqlite_in_tempdir(url: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sgrule.store as idem
    import tempfile
    # The default path is <tempdir>/sgrule-idempotency.sqlite3; point it at tmp_path so the test leaves no file.
    assert DEFAULT_SQLITE_PATH == str(Path(tempfile.gettempdir()) / "sgrule-idempotency.sqlite3")
    monkeypatch.setattr(idem, "DEFAULT_SQLITE_PATH", str(tmp_path / "default.sqlite3"))
    s = open_store(url)
    try:
        from sgrule.store.sqlite import SqliteStore
        assert isinstance(s, SqliteStore) and s.path == str(tmp_path / "default.sqlite3")
        assert isinstance(s, IdempotencyStore)
    finally:
        s.close()


def test_sqlite_file_url(tmp_path: Path) -> None:
    path = tmp_path / "sub.sqlite3"
    s = open_store(f"sqlite://{path}", namespace="n1")
    try:
        assert s.path == str(path) and s.namespace == "n1"
        s.claim("k", "fp", "a", 10)
    finally:
        s.close()
    s = open_store(f"sqlite://{path}", namespace="n1")  # a second open (another process) sees the claim
    try:
        assert s.get("k").owner == "a"
    finally:
        s.close()


def test_sqlite_memory_url() -> None:
    s = open_store("sqlite:///:memory:")
    try:
        assert s.path == ":memory:"
        assert s.claim("k", "fp", "a", 10).status.value == "acquired"
    finally:
        s.close()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/15", "rediss://user:pw@cache.example:6380/0",
                                 "REDIS://localhost"])
def test_redis_urls_build_a_redis_store(url: str) -> None:
    from sgrule.store.redis import RedisStore
    s = open_store(url, namespace="ns")  # connects lazily: no server needed to build it
    try:
        assert isinstance(s, RedisStore) and isinstance(s, IdempotencyStore)
        assert s._k("idem", "x") == "ns:idem:x"
        assert s._k("lock", "r") == "ns:lock:r" and s._k("fields", "r") == "ns:fields:r"
    finally:
        s.close()


@pytest.mark.parametrize("url, message", [
    ("postgres://u:secret@db/x", "unsupported idempotency store URL (scheme 'postgres')"),
    ("/tmp/idem.sqlite3", "scheme 'missing'"),
    ("memory", "scheme 'missing'"),
    ("sqlite://relative/path", "SQLite needs an absolute path"),
    ("sqlite://", "SQLite needs an absolute path"),
    ("sqlite:///", "SQLite needs an absolute path"),
    ("redis://", "without a host"),
])
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        open_store(url)
    assert message in str(err.value)
    assert "secret" not in str(err.value)  # never echo credentials


def test_empty_namespace_is_refused() -> None:
    with pytest.raises(ValueError, match="namespace"):
        open_store("sqlite:///:memory:", namespace="")


def test_import_does_not_load_backends() -> None:
    code = ("import sys, sgrule.store\n"
            "bad = [m for m in ('redis', 'sgrule.store.redis', 'sgrule.store.sqlite', 'sqlite3')"
            " if m in sys.modules]\n"
            "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_a_redis_store_names_the_version_redis_py_would_look_up(redis_url: str) -> None:
    """The store passes redis-py its own version (no metadata scan per new connection on a cold start); the
    server is told what redis-py would have found in the installed package's metadata."""
    import importlib.metadata

    s = open_store(redis_url, namespace="version-check")
    try:
        info = s._r.connection_pool.connection_kwargs["driver_info"]  # type: ignore[attr-defined]
        assert (info.formatted_name, info.lib_version) == ("redis-py", importlib.metadata.version("redis"))
        assert s._r.ping()  # type: ignore[attr-defined]
    finally:
        s.close()


@pytest.mark.parametrize("kinds", [("store", "store", "store"), ("store", "budget", "store")],
                         ids=["three stores", "stores and the ECS call budget"])
def test_many_stores_opened_at_once_on_a_new_file(tmp_path: Path, kinds: tuple[str, ...]) -> None:
    """Function instances starting together on a new store file all open it (apply's budget lives in the same
    file as its idempotency store). Switching a new file to WAL takes a lock SQLite does not wait for
    (busy_timeout does not apply): without waiting for it ourselves, about one round in ten failed with
    "database is locked". 100 rounds of 3 at once catch that with near certainty (a 7% fault passes all of
    them 0.07% of the time)."""
    import threading

    from sgrule.store.budget_sqlite import SqliteBudget
    from sgrule.store.sqlite import SqliteStore

    openers = {"store": SqliteStore, "budget": SqliteBudget}
    for n in range(100):
        path = str(tmp_path / f"new-{n}.sqlite3")
        start = threading.Barrier(3)
        errors: list[BaseException] = []
        stores: list[SqliteStore | SqliteBudget] = []

        def open_one(kind: str, start: threading.Barrier = start, path: str = path,
                     stores: list[SqliteStore | SqliteBudget] = stores, errors: list[BaseException] = errors) -> None:
            start.wait()
            try:
                stores.append(openers[kind](path))
            except BaseException as exc:  # noqa: BLE001 - reported below with the round
                errors.append(exc)

        threads = [threading.Thread(target=open_one, args=(kind,)) for kind in kinds]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for s in stores:
            s.close()
        assert not errors, f"round {n}: {errors[0]!r}"
        assert len(stores) == 3
    # the file is in WAL for everyone: a fresh open reads the mode the others set
    check = SqliteStore(path)
    try:
        assert check._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        check.close()


def test_a_store_opened_while_another_is_making_the_file_waits_for_it(tmp_path: Path) -> None:
    """What the race above hits, made certain: another connection holds the new file's write lock (as a
    store does while it writes the WAL header) when this store switches the file to WAL. SQLite answers
    "database is locked" at once, without its busy handler (a read lock may not wait to become a write lock);
    the store waits for the lock itself and opens once the other lets go."""
    import sqlite3
    import threading
    import time

    from sgrule.store.sqlite import SqliteStore

    path = str(tmp_path / "new.sqlite3")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    done = threading.Timer(0.5, other.execute, ("COMMIT",))
    started = time.monotonic()
    done.start()
    try:
        store = SqliteStore(path)  # before the fix: OperationalError at once
        try:
            assert time.monotonic() - started >= 0.5  # it waited for the other's commit, no sooner
            assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            store.close()
    finally:
        done.join()
        other.close()

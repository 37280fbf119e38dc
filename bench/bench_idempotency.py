"""Throughput of the idempotency store (claim + complete of one fresh key = one op), per backend, against
a raw baseline on the same backend measured in the same run:

* SQLite: two raw autocommit statements on a WAL file (INSERT a row, UPDATE it) - two transactions, as
  claim + complete are;
* Redis: a raw SET + GET pair - two round trips, as the two Lua calls are.

Prints ops/s and store/baseline as a ratio (1.0 = as fast as the raw baseline). Redis is skipped with a
note if SGRULE_TEST_REDIS_URL (default redis://127.0.0.1:6379/15) does not answer.
Run: .venv/bin/python bench/bench_idempotency.py
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sgrule.store import open_store

N = 2000
REPEAT = 3
OUTCOME = {"type": "sgrule.rule.applied", "data": {"RequestId": "4E3D-...", "RuleId": "sgr-bp1", "ok": True}}


def ops_per_s(run: Callable[[str], None]) -> float:
    """Best of REPEAT runs of N ops, each on fresh keys."""
    best = float("inf")
    for _ in range(REPEAT):
        prefix = uuid.uuid4().hex
        start = time.perf_counter()
        for i in range(N):
            run(f"{prefix}-{i}")
        best = min(best, time.perf_counter() - start)
    return N / best


def bench_store(url: str, namespace: str) -> float:
    store = open_store(url, namespace=namespace)
    try:
        def op(key: str) -> None:
            store.claim(key, "fp", "bench", 30.0)
            store.complete(key, "bench", OUTCOME, 600.0)
        return ops_per_s(op)
    finally:
        store.close()


def bench_sqlite(tmp: Path) -> tuple[float, float]:
    raw = sqlite3.connect(tmp / "raw.sqlite3", isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    raw.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")

    def raw_op(key: str) -> None:
        raw.execute("INSERT INTO t VALUES (?, ?)", (key, "in_progress"))
        raw.execute("UPDATE t SET v=? WHERE k=?", ("completed", key))

    baseline = ops_per_s(raw_op)
    raw.close()
    return baseline, bench_store(f"sqlite://{tmp / 'store.sqlite3'}", "bench")


def bench_redis(url: str) -> tuple[float, float] | str:
    import redis
    client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=1.0)
    namespace = f"sgrule-bench-{uuid.uuid4().hex}"
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"skipped: Redis at {url} unreachable ({exc})"
    try:
        def raw_op(key: str) -> None:
            client.set(f"{namespace}:raw:{key}", "in_progress", px=600_000)
            client.get(f"{namespace}:raw:{key}")

        baseline = ops_per_s(raw_op)
        return baseline, bench_store(url, namespace)
    finally:
        for batch in _batches(client.scan_iter(match=f"{namespace}:*", count=1000)):
            client.delete(*batch)
        client.close()


def _batches(it, size: int = 1000):
    batch = []
    for x in it:
        batch.append(x)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    redis_url = os.environ.get("SGRULE_TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"
    print(f"{'backend':<8}{'baseline':<26}{'baseline ops/s':>16}{'claim+complete ops/s':>22}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        base, store = bench_sqlite(Path(tmp))
        print(f"{'sqlite':<8}{'raw INSERT + UPDATE':<26}{base:>16,.0f}{store:>22,.0f}{store / base:>8.2f}")
    result = bench_redis(redis_url)
    if isinstance(result, str):
        print(f"{'redis':<8}{result}")
    else:
        base, store = result
        print(f"{'redis':<8}{'raw SET + GET':<26}{base:>16,.0f}{store:>22,.0f}{store / base:>8.2f}")


if __name__ == "__main__":
    main()

"""Fixtures for the idempotency store tests: a Redis URL (skip or fail when down) and a store per backend."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sgrule.idempotency import IdempotencyStore, open_store

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
_redis_error: dict[str, str | None] = {}  # url -> why it is unreachable (None: reachable); checked once


def _redis_down(url: str) -> str | None:
    if url not in _redis_error:
        import redis
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
            client.ping()
            client.close()
            _redis_error[url] = None
        except Exception as exc:  # connection refused, auth, bad URL: all mean "no Redis to test on"
            _redis_error[url] = f"{type(exc).__name__}: {exc}"
    return _redis_error[url]


@pytest.fixture
def redis_url() -> str:
    """SGRULE_TEST_REDIS_URL (default db 15 on localhost). Unreachable -> skip, or fail under CI
    (SGRULE_REQUIRE_REDIS=1), where a silent skip would hide that the Redis backend went untested."""
    url = os.environ.get("SGRULE_TEST_REDIS_URL") or DEFAULT_REDIS_URL
    why = _redis_down(url)
    if why is not None:
        msg = f"Redis at {url} is unreachable ({why})"
        if os.environ.get("SGRULE_REQUIRE_REDIS") == "1":
            pytest.fail(f"{msg}, and SGRULE_REQUIRE_REDIS=1 requires the Redis tests to run", pytrace=False)
        pytest.skip(f"{msg}; set SGRULE_TEST_REDIS_URL or start redis-server")
    return url


def drop_namespace(url: str, namespace: str) -> None:
    import redis
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, namespace: str) -> Iterator[str]:
    """A URL for each backend: a fresh SQLite file, or the test Redis (keys cleaned up afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'idem.sqlite3'}"
        return
    url = request.getfixturevalue("redis_url")
    yield url
    drop_namespace(url, namespace)


@pytest.fixture
def namespace() -> str:
    return f"sgrule-test-{uuid.uuid4().hex}"


@pytest.fixture
def other_namespace(store_url: str) -> Iterator[str]:
    """A second namespace on the same backend (cleaned up too)."""
    ns = f"sgrule-test-{uuid.uuid4().hex}"
    yield ns
    if store_url.startswith("redis"):
        drop_namespace(store_url, ns)


@pytest.fixture
def store(store_url: str, namespace: str) -> Iterator[IdempotencyStore]:
    s = open_store(store_url, namespace=namespace)
    yield s
    s.close()

"""Fixtures for the idempotency store tests: a store per backend (``redis_url`` comes from tests/conftest.py)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from storekit import drop_namespace, new_namespace

from sgrule.store import IdempotencyStore, open_store


@pytest.fixture(params=["sqlite", "sqlite-before-3.35", pytest.param("redis", marks=pytest.mark.redis)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, namespace: str) -> Iterator[str]:
    """A URL for each backend: a fresh SQLite file, or the test Redis (keys cleaned up afterwards).
    ``sqlite-before-3.35``: the SQLite backend as it runs on a library without ``RETURNING``."""
    if request.param.startswith("sqlite"):
        if request.param == "sqlite-before-3.35":
            import sgrule.store.sqlite

            request.getfixturevalue("monkeypatch").setattr(sgrule.store.sqlite, "_RETURNING", False)
        yield f"sqlite://{tmp_path / 'idem.sqlite3'}"
        return
    url = request.getfixturevalue("redis_url")
    yield url
    drop_namespace(url, namespace)


@pytest.fixture
def namespace() -> str:
    return new_namespace()


@pytest.fixture
def other_namespace(store_url: str) -> Iterator[str]:
    """A second namespace on the same backend (cleaned up too)."""
    ns = new_namespace()
    yield ns
    if store_url.startswith("redis"):
        drop_namespace(store_url, ns)


@pytest.fixture
def store(store_url: str, namespace: str) -> Iterator[IdempotencyStore]:
    s = open_store(store_url, namespace=namespace)
    yield s
    s.close()

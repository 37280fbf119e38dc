"""Fixtures for the fleet budget tests: one budget store per backend (``redis_url`` from tests/conftest.py)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sgrule.store import open_budget
from sgrule.store.budget import CallBudget


def drop_namespace(url: str, namespace: str) -> None:
    import redis
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def namespace() -> str:
    return f"sgrule-test-{uuid.uuid4().hex}"


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def budget_url(request: pytest.FixtureRequest, tmp_path: Path, namespace: str) -> Iterator[str]:
    """A fresh SQLite file, or the test Redis (the namespace's keys removed afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'budget.sqlite3'}"
        return
    url = request.getfixturevalue("redis_url")
    yield url
    drop_namespace(url, namespace)


@pytest.fixture
def budget(budget_url: str, namespace: str) -> Iterator[CallBudget]:
    b = open_budget(budget_url, namespace=namespace)
    yield b
    b.close()

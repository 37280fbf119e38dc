"""Fixtures for the fleet budget tests: one budget store per backend (``redis_url`` from tests/conftest.py)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from storekit import drop_namespace, new_namespace

from sgrule.store import open_budget
from sgrule.store.budget import CallBudget


@pytest.fixture
def namespace() -> str:
    return new_namespace()


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

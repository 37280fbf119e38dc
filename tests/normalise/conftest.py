"""Fixtures for the normaliser: the environment pointed at localcloud, the real FC handler, the change queue."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from normkit import QUEUE, REGION, fc_context, load_function

from sgrule.runtime import instance as fc_instance


@pytest.fixture
def normalise_env(localcloud: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The normaliser (and the apply function) pointed at localcloud; a fresh FC instance per test."""
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": localcloud.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": localcloud.access_key_secret,
        "SGRULE_ECS_ENDPOINT": localcloud.endpoint,
        "SGRULE_EVENTBRIDGE_ENDPOINT": localcloud.endpoint,
        "SGRULE_OUTCOME_BUS": "default",
        "SGRULE_IDEMPOTENCY_URL": f"sqlite:///{tmp_path}/idempotency.sqlite3",
        "SGRULE_ALLOWED_REGIONS": REGION,
        "SGRULE_ALLOWED_SECURITY_GROUPS": "*",
        "SGRULE_RETRY_BASE_MS": "5",
        "SGRULE_RETRY_CAP_MS": "50",
        "SGRULE_TIME_RESERVE_MS": "200",
        "SGRULE_NORMALISE_CALLS_PER_SECOND": "5000",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("SGRULE_NORMALISE_POLICY", "SGRULE_NORMALISE_REGIONS", "SGRULE_MNS_ENDPOINT"):
        monkeypatch.delenv(k, raising=False)
    fc_instance.reset()
    yield env
    fc_instance.reset()


@pytest.fixture
def normalise(normalise_env: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """Invoke the real FC handler (event as bytes, as FC gives it); returns the parsed report."""
    module = load_function("normalise_descriptions")

    def _invoke(payload: Any, timeout: float = 60) -> dict[str, Any]:
        ctx = fc_context(timeout)
        module.initialize(ctx)
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return json.loads(module.handler(body, ctx))

    return _invoke


@pytest.fixture
def change_queue(localcloud: Any, normalise_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The change queue on localcloud's MNS, and the functions pointed at it."""
    localcloud.create_queue(QUEUE)
    monkeypatch.setenv("SGRULE_MNS_ENDPOINT", localcloud.endpoint)
    monkeypatch.setenv("SGRULE_CHANGE_QUEUE", QUEUE)
    fc_instance.reset()
    return QUEUE

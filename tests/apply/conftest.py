"""Fixtures for the apply function: the real handler, the official SDKs, localcloud over HTTP."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from applykit import fc_context, load_handler

from sgrule.apply import handler as runtime


@pytest.fixture
def apply_env(localcloud: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Environment for the apply function pointed at localcloud; a fresh instance per test."""
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": localcloud.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": localcloud.access_key_secret,
        "SGRULE_ECS_ENDPOINT": localcloud.endpoint,
        "SGRULE_EVENTBRIDGE_ENDPOINT": localcloud.endpoint,
        "SGRULE_OUTCOME_BUS": "default",
        "SGRULE_IDEMPOTENCY_URL": f"sqlite:///{tmp_path}/idempotency.sqlite3",
        "SGRULE_ALLOWED_REGIONS": "*",
        "SGRULE_ALLOWED_SECURITY_GROUPS": "*",
        "SGRULE_RETRY_BASE_MS": "5",
        "SGRULE_RETRY_CAP_MS": "50",
        "SGRULE_TIME_RESERVE_MS": "500",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    runtime.reset()
    yield env
    runtime.reset()


@pytest.fixture
def invoke(apply_env: dict[str, str]) -> Callable[..., list[dict[str, Any]]]:
    """Call the real FC handler with a JSON payload (as bytes, as FC does); return the parsed outcomes."""
    module = load_handler()

    def _invoke(payload: Any, timeout: float = 30) -> list[dict[str, Any]]:
        ctx = fc_context(timeout)
        module.initialize(ctx)
        return json.loads(module.handler(json.dumps(payload).encode(), ctx))

    return _invoke

"""The production template.yml as one local application (``localcloud_app``), seeded with the sample ECS
state: small batches, a shared SQLite idempotency store, quick retries so a failure path ends in seconds."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BATCH_SIZE = 4  # also asserted by test_pipeline.py


@pytest.fixture(scope="session")
def localcloud_app_params(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    store = tmp_path_factory.mktemp("pipeline") / "idempotency.sqlite3"
    return {"CodeBucket": "local", "AllowedSecurityGroups": "sg-bp1*", "RedisUrl": f"sqlite:///{store}",
            "BatchSize": str(BATCH_SIZE), "BatchWindowSeconds": "1"}


@pytest.fixture(scope="session")
def localcloud_app_options() -> dict[str, Any]:
    state = json.loads((ROOT / "events" / "apply" / "state.json").read_text())
    # One delivery and two calls per change: a change whose ECS calls keep failing ends `failed` at once.
    env = {"SGRULE_MAX_DELIVERIES": "1", "SGRULE_MAX_ATTEMPTS": "2", "SGRULE_RETRY_BASE_MS": "10",
           "SGRULE_RETRY_CAP_MS": "50"}
    return {"state": state, "env": env, "retry_base_s": 0.05}

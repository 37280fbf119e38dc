"""Fixtures for the normaliser: the environment pointed at localcloud, the real FC handler, the change queue."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from fckit import cloud_env
from normkit import QUEUE, REGION, fc_context, load_function



@pytest.fixture
def normalise_env(localcloud: Any, function_env: Any, tmp_path: Path) -> dict[str, str]:
    """The normaliser (and the apply function) pointed at localcloud; a fresh FC instance per test."""
    return function_env(cloud_env(localcloud, tmp_path, SGRULE_ALLOWED_REGIONS=REGION, SGRULE_TIME_RESERVE_MS="200",
                                  SGRULE_NORMALISE_CALLS_PER_SECOND="5000"),
                        drop=("SGRULE_NORMALISE_POLICY", "SGRULE_NORMALISE_REGIONS", "SGRULE_MNS_ENDPOINT"))


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
def change_queue(localcloud: Any, normalise_env: dict[str, str], function_env: Any) -> str:
    """The change queue on localcloud's MNS, and the functions pointed at it."""
    localcloud.create_queue(QUEUE)
    function_env({"SGRULE_MNS_ENDPOINT": localcloud.endpoint, "SGRULE_CHANGE_QUEUE": QUEUE})
    return QUEUE

"""Fixtures for the apply function: the real handler, the official SDKs, localcloud over HTTP."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from applykit import fc_context, load_handler
from fckit import cloud_env


@pytest.fixture
def apply_env(localcloud: Any, function_env: Any, tmp_path: Path) -> dict[str, str]:
    """Environment for the apply function pointed at localcloud; a fresh instance per test."""
    return function_env(cloud_env(localcloud, tmp_path))


@pytest.fixture
def invoke(apply_env: dict[str, str]) -> Callable[..., list[dict[str, Any]]]:
    """Call the real FC handler with a JSON payload (as bytes, as FC does; bytes are sent as they are);
    return the parsed outcomes."""
    module = load_handler()

    def _invoke(payload: Any, timeout: float = 30) -> list[dict[str, Any]]:
        ctx = fc_context(timeout)
        module.initialize(ctx)
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return json.loads(module.handler(body, ctx))

    return _invoke

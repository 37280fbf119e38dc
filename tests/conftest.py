"""Project-wide fixtures. ``redis_url``: the real Redis the Redis tests use; never a silent skip in CI."""
from __future__ import annotations

import os

import pytest

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



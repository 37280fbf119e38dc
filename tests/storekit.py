"""What the store tests and the budget tests share: a namespace of their own, and removing it from Redis."""
from __future__ import annotations

import uuid


def new_namespace() -> str:
    return f"sgrule-test-{uuid.uuid4().hex}"


def drop_namespace(url: str, namespace: str) -> None:
    """Remove every key a test wrote under ``namespace`` from the Redis at ``url``."""
    import redis
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()

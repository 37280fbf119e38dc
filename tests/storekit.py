"""What the store tests and the budget tests share: a namespace of their own, and removing it from Redis."""
from __future__ import annotations

import importlib
import multiprocessing
import sys
import uuid
from pathlib import Path
from typing import Any, Callable


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


def race_processes(folder: Path, target: str, n: int,
                   args: Callable[[int, Any, Any], tuple[Any, ...]]) -> dict[str, Any]:
    """Run ``module:function`` (a module in ``folder``) in ``n`` spawned processes, like separate FC instances.
    ``args(i, barrier, out)`` gives process i's arguments: the barrier starts them together, and each puts
    ``(name, result)`` on ``out``, a list, or the repr of what it raised. Returns name -> result, once every
    process answered, exited 0, and none failed."""
    sys.path.insert(0, str(folder))  # spawn children import the worker by module name
    try:
        module, function = target.split(":")
        worker = getattr(importlib.import_module(module), function)
        ctx = multiprocessing.get_context("spawn")
        barrier, out = ctx.Barrier(n), ctx.Queue()
        procs = [ctx.Process(target=worker, args=args(i, barrier, out)) for i in range(n)]
        for p in procs:
            p.start()
        results = dict(out.get(timeout=120) for _ in procs)
        for p in procs:
            p.join(timeout=30)
    finally:
        sys.path.remove(str(folder))
    errors = {name: r for name, r in results.items() if not isinstance(r, list)}
    assert not errors, errors
    assert all(p.exitcode == 0 for p in procs)
    return results

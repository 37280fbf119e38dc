"""The apply function's runtime: per-instance dependencies, the invocation deadline, the handler body.

``functions/apply_egress_rule/index.py`` is a thin shim over :func:`handle`. Dependencies (ECS clients,
the idempotency store, the publisher, the thread pool) are built once per FC instance and shared by its
invocations; the SDK model packages load lazily (see ``sgrule.sdk``) to keep the cold start short.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

from .config import Settings
from .log import Logger

_lock = threading.Lock()
_state: dict[str, Any] = {}


class RedeliveryNeeded(RuntimeError):
    """Raised after the whole batch was worked: some changes failed transiently and must be redelivered."""


def instance(settings: Settings | None = None) -> dict[str, Any]:
    """Build (once) what every invocation of this instance shares."""
    with _lock:
        if not _state:
            from concurrent.futures import ThreadPoolExecutor

            from .apply import Deps
            from .ecs import make_client
            from .idempotency import open_store
            from .publish import make_publisher

            s = settings or Settings()
            clients: dict[str, Any] = {}
            clients_lock = threading.Lock()

            def ecs(region: str) -> Any:
                with clients_lock:
                    if region not in clients:
                        clients[region] = make_client(s, region)
                    return clients[region]

            log = Logger()
            if not s.allowed_regions or not s.allowed_security_groups:
                log.warning("allow-list is empty: every change will be rejected "
                            "(set SGRULE_ALLOWED_REGIONS and SGRULE_ALLOWED_SECURITY_GROUPS)")
            store = open_store(s.idempotency_url, namespace=s.idempotency_namespace,
                               retention_s=max(s.completed_ttl_s, 3600.0))
            pool = ThreadPoolExecutor(max_workers=s.concurrency, thread_name_prefix="sgrule")
            _state.update(settings=s, publisher=make_publisher(s), log=log,
                          deps=Deps(settings=s, ecs=ecs, store=store, log=log, pool=pool))
        return _state


def reset() -> None:
    """Forget the instance (tests, `sgrule local invoke` with a new environment)."""
    with _lock:
        deps = _state.get("deps")
        if deps is not None:
            deps.pool.shutdown(wait=True)
            deps.store.close()
        _state.clear()


def deadline_for(context: Any, settings: Settings) -> float:
    """time.monotonic() by which the batch must be done, leaving the reserve for recording and publishing."""
    timeout = getattr(getattr(context, "function", None), "timeout", None) or settings.default_timeout_s
    return time.monotonic() + float(timeout) - settings.time_reserve_ms / 1000


def handle(event: Any, context: Any) -> str:
    from .apply import Batch
    from .ecs import Retrier
    from .envelope import unwrap

    inst = instance()
    s: Settings = inst["settings"]
    deadline = deadline_for(context, s)
    request_id = getattr(context, "request_id", None)
    log: Logger = inst["log"].bind(requestId=request_id)
    items = unwrap(event)  # InvocationError on an unknown shape: nothing processed, the caller sees why
    batch = Batch(inst["deps"], deadline, request_id)
    outcomes = batch.run(items)
    done = [o for o in outcomes if o is not None]
    for o in done:
        d = o["data"]
        log.info("outcome", changeId=d["changeId"], status=d["status"], correlationId=o.get("correlationid"),
                 rule=o["subject"], ecsRequestId=d["requestId"], attempts=d["attempts"] or None,
                 code=(d["error"] or {}).get("code"))
    # Publishing uses the reserve: it may run until the FC timeout, not past it.
    inst["publisher"].publish(done, Retrier(deadline=deadline + s.time_reserve_ms / 1000,
                                            base_s=s.retry_base_ms / 1000, cap_s=s.retry_cap_ms / 1000),
                              pool=inst["deps"].pool)
    if batch.transient:
        raise RedeliveryNeeded(f"{len(set(batch.transient))} of {len(items)} change(s) failed transiently and "
                               "must be redelivered; the others are finished")
    return json.dumps(outcomes, ensure_ascii=False)

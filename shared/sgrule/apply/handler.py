"""The apply function's handler body and its per-instance dependencies.

``functions/apply_egress_rule/index.py`` is a thin shim over :func:`handle`. Dependencies (ECS clients,
the idempotency store, the publisher, the thread pool) are built once per FC instance and shared by its
invocations; the SDK model packages load lazily (see ``sgrule.runtime.sdk``) to keep the cold start short.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..runtime import instance as fc_instance
from ..runtime.log import Logger
from .config import ApplySettings

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from ..clients.eventbridge import Publisher
    from .batch import Deps

_NAME = "apply"


class RedeliveryNeeded(RuntimeError):
    """Raised after the whole batch was worked: some changes failed transiently and must be redelivered."""


class _Instance:
    """What one FC instance builds once and its invocations share: the batch's dependencies, the publisher
    and the pool its PutEvents calls run on."""

    def __init__(self, settings: ApplySettings | None = None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from ..clients.budget import FleetBudget
        from ..clients.ecs import RegionalClients
        from ..clients.eventbridge import make_publisher
        from ..store import open_budget, open_store
        from ..store.budget import parse_rates
        from .batch import Deps

        s = self.settings = settings or ApplySettings()
        self.log = Logger()
        if not s.allowed_regions or not s.allowed_security_groups:
            self.log.warning("allow-list is empty: every change will be rejected "
                             "(set SGRULE_ALLOWED_REGIONS and SGRULE_ALLOWED_SECURITY_GROUPS)")
        store = open_store(s.idempotency_url, namespace=s.idempotency_namespace,
                           retention_s=max(s.completed_ttl_s, 3600.0))
        guardrails = None
        if s.guardrails_file:  # loaded and compiled once per instance; one that cannot be used is logged here
            from ..guardrails import configured

            guardrails = configured(s.guardrails_file, self.log)
        pool = ThreadPoolExecutor(max_workers=s.concurrency, thread_name_prefix="sgrule")
        rates = parse_rates(s.ecs_rate)  # SGRULE_ECS_RATE: every ECS call from the budget the fleet shares
        fleet = FleetBudget(open_budget(s.idempotency_url, namespace=s.idempotency_namespace), rates) \
            if rates else None
        self.deps: Deps = Deps(settings=s, ecs=RegionalClients(s), store=store, log=self.log, pool=pool,
                               guardrails=guardrails, fleet=fleet)
        self.publisher: Publisher = make_publisher(s)
        # PutEvents calls get their own few threads: queued behind the chains they would start too late.
        self.publishing: ThreadPoolExecutor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sgrule-publish")

    def close(self) -> None:
        self.publishing.shutdown(wait=True)
        self.deps.pool.shutdown(wait=True)
        self.deps.store.close()
        if self.deps.fleet is not None:
            self.deps.fleet.store.close()


def instance(settings: ApplySettings | None = None) -> _Instance:
    """Build (once per FC instance) what every invocation shares."""
    return fc_instance.shared(_NAME, lambda: _Instance(settings), _Instance)


def reset() -> None:
    """Forget this function's instance (tests, `sgrule local invoke` with a new environment)."""
    fc_instance.reset(_NAME)


def handle(event: Any, context: Any) -> str:
    from ..clients.retry import Retrier
    from ..contract.envelope import unwrap
    from .batch import Batch
    from .outbox import Outbox

    inst = instance()
    s = inst.settings
    deadline = fc_instance.deadline_for(context, s.default_timeout_s, s.time_reserve_ms / 1000)
    request_id = getattr(context, "request_id", None)
    log = inst.log.bind(requestId=request_id)
    items = unwrap(event)  # InvocationError on an unknown shape: nothing processed, the caller sees why
    # Publishing uses the reserve: it may run until the FC timeout, not past it.
    outbox = Outbox(inst.publisher, Retrier.of(s, deadline + s.time_reserve_ms / 1000), inst.publishing)
    batch = Batch(inst.deps, deadline, request_id, on_stored=outbox.add)
    try:
        outcomes = batch.run(items)
    except BaseException:
        outbox.wait()  # calls already under way end with the invocation, not in the next one
        raise
    done = [o for o in outcomes if o is not None]
    for o in done:
        d = o["data"]
        log.info("outcome", changeId=d["changeId"], status=d["status"], correlationId=o.get("correlationid"),
                 rule=o["subject"], ecsRequestId=d["requestId"], attempts=d["attempts"] or None,
                 code=(d["error"] or {}).get("code"))
    outbox.close(done)  # the rest of the outcomes; raises PublishError if any call failed
    if batch.transient:
        raise RedeliveryNeeded(f"{len(set(batch.transient))} of {len(items)} change(s) failed transiently and "
                               "must be redelivered; the others are finished")
    return json.dumps(outcomes, ensure_ascii=False)

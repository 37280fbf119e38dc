"""The normaliser function's handler body and its per-instance dependencies.

``functions/normalise_descriptions/index.py`` is a thin shim over :func:`handle`. It is started by a timer
trigger (``{"triggerTime", "triggerName", "payload"}``, the payload JSON text) or invoked synchronously with
``{"dryRun": true|false, "regions": [...], "securityGroups": [...]}`` (globs, intersected with the allow-list);
either way it runs (or continues) one pass and returns its report as JSON.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..contract.envelope import InvocationError
from ..contract.safe import NotJson, loads
from ..runtime import instance as fc_instance
from ..runtime.log import Logger
from .config import NormaliseSettings

if TYPE_CHECKING:
    from .run import PassDeps

_NAME = "normalise"
_TIMER_KEYS = {"triggerTime", "triggerName", "payload"}


class _Instance:
    """What one FC instance builds once: the policy, clients, the store, the fleet budget and the scan's pool."""

    def __init__(self, settings: NormaliseSettings | None = None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from ..clients.budget import FleetBudget
        from ..clients.ecs import RegionalClients
        from ..clients.eventbridge import make_publisher
        from ..clients.mns import ChangeQueue
        from ..store import open_budget, open_store
        from ..store.budget import parse_rates
        from .policy import load
        from .run import PassDeps

        s = settings or NormaliseSettings()
        policy = load(s.normalise_policy)  # an invalid policy fails here, with its line and reason
        store = open_store(s.idempotency_url, namespace=s.idempotency_namespace,
                           retention_s=max(s.completed_ttl_s, 3600.0))
        pool = ThreadPoolExecutor(max_workers=s.normalise_concurrency, thread_name_prefix="sgrule-normalise")
        queue = ChangeQueue(s) if s.mns_endpoint else None
        rates = parse_rates(s.ecs_rate)
        fleet = FleetBudget(open_budget(s.idempotency_url, namespace=s.idempotency_namespace), rates) \
            if rates else None
        self.deps: PassDeps = PassDeps(settings=s, ecs=RegionalClients(s), pool=pool, policy=policy,
                                       publisher=make_publisher(s), log=Logger(), store=store, queue=queue,
                                       fleet=fleet)
        self._store = store

    def close(self) -> None:
        self.deps.pool.shutdown(wait=True)
        self._store.close()
        if self.deps.fleet is not None:
            self.deps.fleet.store.close()


def instance(settings: NormaliseSettings | None = None) -> _Instance:
    """Build (once per FC instance) what every invocation shares."""
    return fc_instance.shared(_NAME, lambda: _Instance(settings), _Instance)


def reset() -> None:
    """Forget this function's instance (tests, `sgrule local invoke` with a new environment)."""
    fc_instance.reset(_NAME)


def parse_request(event: Any) -> Any:
    """The invocation's request: a timer trigger's payload, a synchronous invoke's body, or the defaults."""
    from pydantic import ValidationError

    from .scope import NormaliseRequest

    if isinstance(event, (bytes, bytearray, str)):
        text = event.decode("utf-8", "replace") if isinstance(event, (bytes, bytearray)) else event
        if not text.strip():
            return NormaliseRequest()
        try:
            event = loads(text)
        except NotJson as exc:
            raise InvocationError(f"the event is not JSON: {exc}") from None
    if isinstance(event, dict) and "triggerTime" in event and set(event) <= _TIMER_KEYS:
        payload = event.get("payload")
        if payload in (None, ""):
            return NormaliseRequest()
        try:
            event = loads(payload) if isinstance(payload, str) else payload
        except NotJson as exc:
            raise InvocationError(f"the timer trigger's payload is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise InvocationError('expected {"dryRun": true|false, "regions": [...], "securityGroups": [...]} '
                              "or a timer trigger event")
    try:
        return NormaliseRequest.model_validate(event)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "event"
        raise InvocationError(f"{where}: {err['msg'].removeprefix('Value error, ')} (expected "
                              '{"dryRun": true|false, "regions": [...], "securityGroups": [...]})') from None


def handle(event: Any, context: Any) -> str:
    from .run import Pass

    request = parse_request(event)  # InvocationError: nothing scanned, the caller sees why
    deps = instance().deps
    s: NormaliseSettings = deps.settings
    if not request.dryRun and deps.queue is None:
        raise InvocationError("a real run enqueues changes: set SGRULE_MNS_ENDPOINT (and SGRULE_CHANGE_QUEUE), "
                              'or invoke with {"dryRun": true}')
    deadline = fc_instance.deadline_for(context, s.default_timeout_s, s.time_reserve_ms / 1000)
    log = deps.log.bind(requestId=getattr(context, "request_id", None))
    report = Pass(_with_log(deps, log), request, deadline).run()
    return json.dumps(report, ensure_ascii=False)


def _with_log(deps: Any, log: Logger) -> Any:
    from dataclasses import replace

    return replace(deps, log=log)

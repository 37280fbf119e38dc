"""The notify function's handler: outcome events in (from the EventBridge rule on the outcome bus), one post
per outcome and target out.

Per outcome of a webhook change (``changeSource`` ``ticketing/<sender>``), for each of the sender's targets:
claim ``target + outcome id`` in the idempotency store -> already completed: skip (a redelivered outcome is
posted once) -> post (Jira comment or signed callback; retried on 5xx/429) -> complete. A final refusal
(4xx) is logged and completed: retrying cannot help. A post still failing when time runs out is released and,
after every other outcome is done, :class:`RetryLater` is raised so EventBridge redelivers the event; the
redelivery skips what was posted and, for Jira, first looks for the comment a lost reply may have hidden.
"""
from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from ..contract.safe import NotJson, loads
from ..runtime import instance as fc_instance
from ..runtime.log import Logger
from .config import NotifySettings, Target

if TYPE_CHECKING:
    from ..store import Claims

_NAME = "ticket_notify"
OUTCOME_TYPE = "sgrule.egress.modify."


class RetryLater(RuntimeError):
    """Some posts failed transiently; the others are done. The platform redelivers the event."""


class _Instance:
    def __init__(self, settings: NotifySettings | None = None) -> None:
        from ..store import open_store

        self.settings = settings or NotifySettings()
        s = self.settings
        self.log = Logger()
        if not s.notify_targets:
            self.log.warning("no notify targets configured (SGRULE_NOTIFY_TARGETS): outcomes are only logged")
        self.store: Claims = open_store(s.idempotency_url, namespace=f"{s.idempotency_namespace}.notify",
                                        retention_s=max(s.completed_ttl_s, 3600.0))
        self._channels: dict[str, Any] = {}

    def channel(self, target: Target) -> Any:
        if target.ident not in self._channels:
            if target.kind == "jira":
                from .jira import JiraComments

                self._channels[target.ident] = JiraComments(target)
            else:
                from .callback import Callback

                self._channels[target.ident] = Callback(target)
        return self._channels[target.ident]

    def close(self) -> None:
        self.store.close()


def instance(settings: NotifySettings | None = None) -> _Instance:
    return fc_instance.shared(_NAME, lambda: _Instance(settings), _Instance)


def reset() -> None:
    """Forget this function's instance (tests, `sgrule local invoke` with a new environment)."""
    fc_instance.reset(_NAME)


def outcomes_in(event: Any) -> list[dict[str, Any]]:
    """The outcome events of an invocation: one CloudEvent or a JSON array of them (bytes, text or
    decoded), ``data`` as an object or as JSON text. Anything else is not an outcome and is left out."""
    if isinstance(event, (bytes, bytearray, str)):
        try:
            event = loads(event)
        except NotJson:
            return []
    items = event if isinstance(event, list) else [event]
    found = []
    for item in items:
        if not isinstance(item, dict) or not str(item.get("type", "")).startswith(OUTCOME_TYPE):
            continue
        data = item.get("data")
        if isinstance(data, str):
            try:
                data = loads(data)
            except NotJson:
                continue
        if isinstance(data, dict) and isinstance(item.get("id"), str):
            found.append({**item, "data": data})
    return found


def ticket_of(outcome: dict[str, Any]) -> tuple[str | None, str | None]:
    """(sender, ticket key) of a webhook change's outcome; (None, None) for other doors' changes."""
    d = outcome["data"]
    source = d.get("changeSource")
    if not isinstance(source, str) or not source.startswith("ticketing/"):
        return None, None
    key = d.get("correlationId") or outcome.get("correlationid")
    return source[len("ticketing/"):], key if isinstance(key, str) and key else None


def handle(event: Any, context: Any) -> str:
    from ..store import ClaimStatus
    from ..store.claims import claim as claim_key
    from .post import Poster, Refused, Transient

    inst = instance()
    s = inst.settings
    deadline = fc_instance.deadline_for(context, s.default_timeout_s, s.time_reserve_ms / 1000)
    lease_s = max(1.0, deadline - time.monotonic() + s.time_reserve_ms / 1000)
    owner = f"{getattr(context, 'request_id', None)}:{uuid.uuid4().hex}"
    log = inst.log.bind(requestId=getattr(context, "request_id", None))
    counts = {"posted": 0, "found": 0, "duplicate": 0, "refused": 0, "skipped": 0, "retry": 0}
    for outcome in outcomes_in(event):
        sender, key = ticket_of(outcome)
        status = str(outcome["data"].get("status"))
        targets = [t for t in s.targets_for(sender) if t.wants(status)] if sender else []
        if not targets:
            counts["skipped"] += 1
            continue
        for target in targets:
            store_key = f"{target.ident}\x1f{outcome['id']}"
            claim = claim_key(inst.store, store_key, "post", owner, lease_s)
            if claim.status is ClaimStatus.COMPLETED:
                counts["duplicate"] += 1
                continue
            if claim.status is not ClaimStatus.ACQUIRED:  # another instance is posting it right now
                counts["retry"] += 1
                continue
            line = log.bind(outcomeId=outcome["id"], changeId=outcome["data"].get("changeId"), ticket=key,
                            target=target.kind, sender=sender)
            poster = Poster(deadline=deadline, timeout_s=s.notify_timeout_ms / 1000, base_s=s.retry_base_ms / 1000,
                            cap_s=s.retry_cap_ms / 1000, max_attempts=s.max_attempts)
            try:
                result = _post(inst.channel(target), target, outcome, key, poster, claim.record.deliveries > 1)
            except Refused as exc:
                line.error("ticket system refused the outcome", httpStatus=exc.status, error=str(exc)[:300])
                result = "refused"
            except Transient as exc:
                inst.store.release(store_key, owner)
                line.warning("post failed; will be retried", error=str(exc))
                counts["retry"] += 1
                continue
            except BaseException:
                inst.store.release(store_key, owner)
                raise
            inst.store.complete(store_key, owner, {"result": result}, s.completed_ttl_s)
            counts[result] += 1
            line.info("outcome posted" if result == "posted" else f"outcome {result}", status=status,
                      attempts=poster.attempts)
    if counts["retry"]:
        raise RetryLater(f"{counts['retry']} post(s) failed transiently or are in progress elsewhere; the others "
                         "are done")
    return json.dumps(counts)


def _post(channel: Any, target: Target, outcome: dict[str, Any], key: str | None, poster: Any,
          maybe_posted: bool) -> str:
    if target.kind == "jira":
        if key is None:
            return "skipped"  # no ticket to comment on
        return "posted" if channel.post(key, outcome, poster, maybe_posted=maybe_posted) else "found"
    channel.post(outcome, poster)
    return "posted"

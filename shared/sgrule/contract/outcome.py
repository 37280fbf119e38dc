"""The outcome event: one per change, CloudEvents 1.0, ``type`` = ``sgrule.egress.modify.<status>``.

Built as plain dicts on the hot path; the contract (pydantic models, JSON Schema in
``schemas/outcome.schema.json``) is ``sgrule.outcome_schema``, kept off the handler's start-up path.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from . import safe
from .errors import SgruleError
from .rule import DERIVED_TOKEN_PREFIX

Status = Literal["applied", "unchanged", "rejected", "superseded", "failed"]
STATUSES: tuple[str, ...] = ("applied", "unchanged", "rejected", "superseded", "failed")
TYPE_PREFIX = "sgrule.egress.modify."


def outcome_id(source: str | None, change_id: str | None, variant: str | None = None) -> str:
    """Deterministic from the change, so re-publishing is idempotent for consumers. ``variant`` keeps a
    different event that reuses a change's id (IdempotentParameterMismatch) from sharing its outcome id."""
    seed = f"{source}\x1f{change_id}" + (f"\x1f{variant}" if variant else "")
    digest = safe.digest(seed)
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def client_token(source: str, change_id: str) -> str:
    """The ClientToken for a change: the same on every retry and redelivery, ASCII, 64 at most."""
    return DERIVED_TOKEN_PREFIX + safe.digest(f"{source}\x1f{change_id}")[:48]


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build(*, status: Status, source: str, change_source: str | None, change_id: str | None,
          region_id: str | None = None, security_group_id: str | None = None, rule_id: str | None = None,
          client_token: str | None = None, request_id: str | None = None,
          before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
          error: SgruleError | None = None, attempts: int = 0, correlation_id: str | None = None,
          id_variant: str | None = None, guardrails: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One outcome event. Identifiers may be a sender's raw values (a rejected change): they are made safe
    and short here, so the event always fits EventBridge's limits (subject <= 512, event <= 256 KB)."""
    event_id = outcome_id(change_source, change_id, id_variant)  # from the raw values: stable per change
    change_source, change_id, correlation_id = (safe.optional(v) for v in (change_source, change_id, correlation_id))
    region_id, security_group_id, rule_id = (safe.optional(v, 128) for v in (region_id, security_group_id, rule_id))
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": TYPE_PREFIX + status,
        "subject": f"{security_group_id}/{rule_id}",
        "time": now_rfc3339(),
        "datacontenttype": "application/json",
    }
    if correlation_id is not None:
        event["correlationid"] = correlation_id
    event["data"] = {
        "changeId": change_id,
        "changeSource": change_source,
        "status": status,
        "regionId": region_id,
        "securityGroupId": security_group_id,
        "securityGroupRuleId": rule_id,
        "clientToken": client_token,
        "requestId": request_id,
        "before": before,
        "after": after,
        "error": error.to_outcome() if error else None,
        "attempts": attempts,
        # Also here: EventBridge's PutEvents carries no CloudEvents extension attributes.
        "correlationId": correlation_id,
    }
    if guardrails:  # the guardrails that did not allow the change (deny: why it was rejected; audit: recorded)
        event["data"]["guardrails"] = guardrails
    return event

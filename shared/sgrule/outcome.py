"""The outcome event: one per change, CloudEvents 1.0, ``type`` = ``sgrule.egress.modify.<status>``.

Built as plain dicts on the hot path; :class:`OutcomeEvent` is the contract (JSON Schema in
``schemas/outcome.schema.json``) and what tests validate produced outcomes against.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import SgruleError

Status = Literal["applied", "unchanged", "rejected", "superseded", "failed"]
STATUSES: tuple[str, ...] = ("applied", "unchanged", "rejected", "superseded", "failed")
TYPE_PREFIX = "sgrule.egress.modify."


def outcome_id(source: str | None, change_id: str | None, variant: str | None = None) -> str:
    """Deterministic from the change, so re-publishing is idempotent for consumers. ``variant`` keeps a
    different event that reuses a change's id (IdempotentParameterMismatch) from sharing its outcome id."""
    seed = f"{source}\x1f{change_id}" + (f"\x1f{variant}" if variant else "")
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def client_token(source: str, change_id: str) -> str:
    """The ClientToken for a change: the same on every retry and redelivery, ASCII, 64 at most."""
    return "sgrule-" + hashlib.sha256(f"{source}\x1f{change_id}".encode()).hexdigest()[:48]


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build(*, status: Status, source: str, change_source: str | None, change_id: str | None,
          region_id: str | None = None, security_group_id: str | None = None, rule_id: str | None = None,
          client_token: str | None = None, request_id: str | None = None,
          before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
          error: SgruleError | None = None, attempts: int = 0, correlation_id: str | None = None,
          id_variant: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": outcome_id(change_source, change_id, id_variant),
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
    return event


# ------------------------------------------------------------------ contract (schema, tests)

class OutcomeError(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(description="The API's error code (or sgrule's own, see README).")
    message: str
    httpStatus: int = Field(description="The HTTP status the API uses for this code.")
    source: Literal["validation", "policy", "ecs", "runtime"]


class OutcomeData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changeId: str | None = Field(description="id of the rule-change event (null if it had none).")
    changeSource: str | None = Field(description="source of the rule-change event.")
    status: Status
    regionId: str | None
    securityGroupId: str | None
    securityGroupRuleId: str | None
    clientToken: str | None = Field(description="ClientToken sent to ECS (null when no call was due).")
    requestId: str | None = Field(description="ECS RequestId of the Modify call, or null.")
    before: dict[str, Any] | None = Field(description="The rule's fields before, under API names.")
    after: dict[str, Any] | None = Field(description="The rule's fields after, under API names.")
    error: OutcomeError | None
    attempts: int = Field(ge=0, description="Modify calls made for this change (all deliveries).")
    correlationId: str | None = Field(description="The change's correlationid (PutEvents drops extensions).")


class OutcomeEvent(BaseModel):
    """Outcome of one rule-change event."""

    model_config = ConfigDict(extra="forbid")
    specversion: Literal["1.0"]
    id: str = Field(description="Deterministic from the change's source and id.")
    source: str
    type: Literal["sgrule.egress.modify.applied", "sgrule.egress.modify.unchanged",
                  "sgrule.egress.modify.rejected", "sgrule.egress.modify.superseded",
                  "sgrule.egress.modify.failed"]
    subject: str = Field(description="<SecurityGroupId>/<SecurityGroupRuleId>.")
    time: str
    datacontenttype: Literal["application/json"]
    correlationid: str | None = Field(default=None, description="Carried over from the change.")
    data: OutcomeData

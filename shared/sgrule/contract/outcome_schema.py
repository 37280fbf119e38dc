"""The outcome event's contract as pydantic models: the source of ``schemas/outcome.schema.json``.

Not imported by the functions (they build outcomes as plain dicts in ``sgrule.outcome``): only by the
schema export and the tests.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .outcome import Status

class OutcomeError(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(description="The API's error code (or sgrule's own, see README).")
    message: str
    httpStatus: int = Field(description="The HTTP status the API uses for this code.")
    source: Literal["validation", "policy", "ecs", "runtime"]


class GuardrailNote(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="The guardrail's name in the policy (SGRULE_GUARDRAILS_FILE).")
    action: Literal["deny", "audit"] = Field(description="deny: why the change was rejected (Forbidden.Guardrail); "
                                             "audit: it would have denied, and the change went on.")
    message: str = Field(description="The guardrail's message.")
    error: str | None = Field(default=None, description="The expression's evaluation error, when it had one "
                              "(an error does not allow).")


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
    guardrails: list[GuardrailNote] | None = Field(
        default=None, description="Present when guardrails did not allow the change: the deny guardrail that "
        "rejected it, and audit guardrails that would have denied (the change went on).")


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

"""What one change comes to against a copy of its rule: an outcome without a call, or the request to send.

Pure: it reads the rule's fields, its watermarks and its group, and writes nothing. The chain decides with it
while it works, and the batch plans first requests with it before the chains start (:mod:`.plan`): both
decide exactly alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..contract.errors import SgruleError
from ..contract.event import check_request
from ..contract.outcome import Status
from ..contract.rule import DESTINATIONS
from .change import Change, asked, entity
from .groups import Group

if TYPE_CHECKING:
    from ..guardrails import Guard


@dataclass(frozen=True)
class Finish:
    """A change's outcome without a call."""

    status: Status
    live: dict[str, Any]
    after: dict[str, Any] | None = None
    error: SgruleError | None = None
    wanted: dict[str, Any] = field(default_factory=dict)  # what an `unchanged` change sets (its watermarks)
    guardrails: list[dict[str, Any]] = field(default_factory=list)  # what the outcome records of them


@dataclass(frozen=True)
class Call:
    """The request a change sends."""

    params: dict[str, str]
    live: dict[str, Any]
    desired: dict[str, Any]
    wanted: dict[str, Any]
    guardrails: list[dict[str, Any]] = field(default_factory=list)  # audit guardrails that would deny


def decide(change: Change, rule_id: str, group: Group, marks: dict[str, int],
           guard: Guard | None = None) -> Finish | Call:
    """``change`` against our copy of rule ``rule_id`` in ``group``, whose fields' watermarks are ``marks``;
    a change that would send a Modify is judged by the guardrails (``guard``) last: denied, it ends
    ``rejected`` here, so it is never journaled or sent."""
    ev = change.event
    assert group.rules is not None  # a chain runs only on a group that was read
    live = group.rules[rule_id]
    wants = asked(change)
    wanted = {k: v for k, v in wants.items() if marks.get(k, -1) <= ev.time_us}
    if wants and not wanted:
        return Finish("superseded", live, live)
    error = check(group, rule_id, live, wanted)
    if error is not None:
        return Finish("rejected", live, error=error)
    desired = {**live, **wanted}
    if desired == live and change.sent is None:
        return Finish("unchanged", live, live, wanted=wanted)
    d = ev.data
    try:
        params = check_request({"RegionId": d.RegionId, "SecurityGroupId": d.SecurityGroupId,
                                "SecurityGroupRuleId": rule_id, **desired, "ClientToken": change.token})
    except SgruleError as err:
        return Finish("rejected", live, error=err)
    if guard is None:
        return Call(params, live, desired, wanted)
    denied, notes = guard.check(change.key, ev, group.vpc_id, live, desired)
    if denied is not None:
        return Finish("rejected", live, error=denied, guardrails=notes)
    return Call(params, live, desired, wanted, notes)


def check(group: Group, rule_id: str, live: dict[str, Any], wanted: dict[str, Any]) -> SgruleError | None:
    """What the API refuses for a rule that exists (its documented limits on modifying by ID)."""
    given = {k for k in wanted if k in DESTINATIONS}
    if given and entity(wanted) != entity(live):
        return SgruleError("InvalidOperation.ModifySgRuleEntityType",
                           f"the rule's destination is a {entity(live)}; it cannot become a {entity(wanted)}.",
                           field="data." + sorted(given)[0])
    for side in (("DestCidrIp", "Ipv6DestCidrIp"), ("SourceCidrIp", "Ipv6SourceCidrIp")):
        if any(k in wanted for k in side) and any(k in live for k in side) and \
                not any(k in wanted and k in live for k in side):
            return SgruleError("InvalidParameter.Conflict", "the IP address family of a rule cannot change.",
                               field="data." + next(k for k in side if k in wanted))
    if "NicType" in wanted and wanted["NicType"] != live.get("NicType", wanted["NicType"]):
        return SgruleError("InvalidOperation.ModifyNicType", field="data.NicType")
    other = group.duplicate_of(rule_id, {**live, **wanted})
    if other is not None:
        return SgruleError("InvalidParam.InvalidModifyRuleRequest",
                           f"the modified rule would be the same as rule {other}.")
    return None

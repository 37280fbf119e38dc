"""Admission: a delivered item becomes a :class:`~.change.Change`, or its ``rejected`` outcome right away.

Validation (the contract's models, the API's own codes) and the policy guard (the allow-list) need no
store and no cloud: what fails them is rejected before any claim, so the same input is rejected the same
way on every delivery. Everything copied from a rejected item into its outcome is made safe there.
"""
from __future__ import annotations

from typing import Any

from ..contract.envelope import Delivered
from ..contract.errors import SgruleError
from ..contract.event import parse_event
from ..contract.outcome import build, client_token
from .change import Change, fingerprint
from .config import ApplySettings


def admit(index: int, item: Delivered, settings: ApplySettings) -> Change | dict[str, Any]:
    """The change to work on, or the item's outcome (``rejected``)."""
    if item.error is not None:
        return build(status="rejected", source=settings.outcome_source, change_source=None,
                     change_id=item.message_id, error=item.error)
    try:
        event = parse_event(item.raw)
    except SgruleError as err:
        raw = _obj(item.raw)
        data = _obj(raw.get("data"))
        return build(status="rejected", source=settings.outcome_source, change_source=_str(raw.get("source")),
                     change_id=_str(raw.get("id")) or item.message_id, region_id=_str(data.get("RegionId")),
                     security_group_id=_str(data.get("SecurityGroupId")),
                     rule_id=_str(data.get("SecurityGroupRuleId")), correlation_id=_str(raw.get("correlationid")),
                     error=err)
    d = event.data
    change = Change(index, event, fingerprint(event), d.ClientToken or client_token(event.source, event.id),
                    rule_id=d.SecurityGroupRuleId)
    if not settings.allows(d.RegionId, d.SecurityGroupId):
        return _rejected(change, settings, SgruleError(
            "Forbidden.SecurityGroupNotAllowed", f"{d.RegionId}/{d.SecurityGroupId} is outside the allow-list "
            "(SGRULE_ALLOWED_REGIONS, SGRULE_ALLOWED_SECURITY_GROUPS).", source="policy"))
    return change


def _rejected(change: Change, settings: ApplySettings, error: SgruleError) -> dict[str, Any]:
    ev, d = change.event, change.event.data
    return build(status="rejected", source=settings.outcome_source, change_source=ev.source, change_id=ev.id,
                 region_id=d.RegionId, security_group_id=d.SecurityGroupId, rule_id=change.rule_id,
                 correlation_id=ev.correlationid, error=error)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None

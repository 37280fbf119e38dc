"""Every change of a request checked before any is enqueued: all of them pass, or none is sent.

The checks are the apply function's own first two steps -- the rule-change models (each violation with
the API's error code) and the allow-list (``SGRULE_ALLOWED_*``, narrowed by the sender's own) -- plus what
only the door can see: a native event must speak for its sender (``source`` = ``ticketing/<sender>``),
a change's ``time`` may be at most ``SGRULE_WEBHOOK_MAX_SKEW_S`` ahead of this function's clock (a bound on
a sender's clock error, never used to order changes), one request cannot carry one change id with two
contents, and each change must fit in one queue message.
With a guardrails policy, each change is also judged as far as it can be without the live rule
(``sgrule.guardrails.early``): a guardrail that denies it answers here, with its name and message.
"""
from __future__ import annotations

import json
from typing import Any

from ..contract.errors import SgruleError
from ..contract.event import parse_event
from ..runtime.config import CommonSettings
from .config import Sender


def source_for(sender: Sender) -> str:
    return f"ticketing/{sender.name}"


def admit(events: list[Any], sender: Sender, settings: CommonSettings, now: float,
          max_skew_s: float, guardrails: Any = None) -> list[dict[str, Any]]:
    """The errors, one per failing change: ``{"index", "code", "message", "field"}`` (index 0-based).
    An empty list means every change may be enqueued. ``now``: this function's clock (epoch seconds).
    ``guardrails``: the policy (or the PolicyInvalid that rejects every change)."""
    from ..clients.mns import MAX_BYTES_PER_MESSAGE, encode, wire_size

    errors: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    source = source_for(sender)
    for index, raw in enumerate(events):
        try:
            event = parse_event(raw)
            if event.source != source:
                raise SgruleError("InvalidEvent.InvalidAttribute",
                                  f"Changes sent by {sender.name!r} must have source {source!r}.", field="source")
            if event.time.timestamp() > now + max_skew_s:
                raise SgruleError("InvalidEvent.InvalidAttribute",
                                  f"The change's time is more than {max_skew_s:g} s ahead of the receiver's clock; "
                                  "send the time the change was requested.", field="time")
            d = event.data
            if not settings.allows(d.RegionId, d.SecurityGroupId) or not sender.allows(d.RegionId, d.SecurityGroupId):
                raise SgruleError("Forbidden.SecurityGroupNotAllowed",
                                  f"{d.RegionId}/{d.SecurityGroupId} is outside the allow-list for sender "
                                  f"{sender.name!r}.", field="data.SecurityGroupId", source="policy")
            if guardrails is not None:
                _guarded(event, guardrails)
            content = json.dumps(raw, sort_keys=True, ensure_ascii=False)
            if seen.setdefault(event.id, content) != content:
                raise SgruleError("IdempotentParameterMismatch",
                                  f"Change id {event.id!r} appears twice in this request with different content.",
                                  field="id")
        except SgruleError as err:
            errors.append({"index": index, **err.to_dict()})
            continue
        size = wire_size(encode(raw))
        if size > MAX_BYTES_PER_MESSAGE:  # valid, but no queue message can carry it (huge extension attributes)
            errors.append({"index": index, "code": "Webhook.ChangeTooLarge", "field": None,
                           "message": f"The change is {size} bytes as a queue message; at most "
                                      f"{MAX_BYTES_PER_MESSAGE} fit."})
    return errors


def _guarded(event: Any, guardrails: Any) -> None:
    """Raise the guardrails' error for ``event``: the policy is invalid, or a guardrail denies it already."""
    from ..guardrails import PolicyInvalid, denied_error, early, invalid_error

    if isinstance(guardrails, PolicyInvalid):
        raise invalid_error(guardrails)
    verdict = early(guardrails, event)
    if verdict is not None:
        raise denied_error(verdict)

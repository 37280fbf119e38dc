"""One change on its way through a batch, and the small pure facts about changes and rules."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..contract.event import RuleChangeEvent
from ..contract.rule import RULE_FIELDS
from ..store import Completion, SentRequest, Settlement


@dataclass
class Change:
    index: int
    event: RuleChangeEvent
    fingerprint: str
    token: str
    rule_id: str | None = None
    deliveries: int = 1
    sent: SentRequest | None = None        # the request an earlier delivery recorded
    settled: Settlement | None = None      # what settling that request learnt
    attempts: int = 0                      # Modify calls for this change, all deliveries we know of
    last_in_chain: bool = False  # its completion also releases the rule lock
    completion: Completion | None = None   # queued for the store (see Ledger.flush)

    @property
    def released_rule(self) -> bool:
        """Its stored outcome frees the rule's lock (it ended last in its chain)."""
        return self.completion is not None and self.completion.release_rule

    @property
    def key(self) -> str:
        return self.event.key

    @property
    def group_key(self) -> tuple[str, str]:
        return self.event.data.RegionId, self.event.data.SecurityGroupId

    @property
    def rule_key(self) -> str:
        return f"{self.event.data.RegionId}/{self.event.data.SecurityGroupId}/{self.rule_id}"

    def settlement(self) -> Settlement | None:
        """The settle result of this change's recorded request, if it speaks for that request."""
        if self.settled is None or self.sent is None:
            return None
        return self.settled if self.settled.token == self.sent.token else None


def entity(fields: dict[str, Any]) -> str | None:
    """The kind of destination a rule authorises: cidr, group or prefix list (fixed for a rule's life)."""
    if "DestCidrIp" in fields or "Ipv6DestCidrIp" in fields:
        return "cidr"
    if "DestGroupId" in fields:
        return "group"
    if "DestPrefixListId" in fields:
        return "prefixlist"
    return None


def identity(fields: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two rules the same rule for the API (everything but Description)."""
    f = {"Policy": "accept", "Priority": 1, **fields}
    return tuple(f.get(name) for name in RULE_FIELDS if name != "Description")


def asked(change: Change) -> dict[str, Any]:
    """The rule fields a change sets (by match: Description only; the rest identify the rule)."""
    fields = change.event.data.rule_fields()
    return {"Description": fields["Description"]} if change.event.data.mode == "by_match" else fields


def fingerprint(event: RuleChangeEvent) -> str:
    body = {"time": event.time_us, "data": event.data.present()}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def without_token(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k != "ClientToken"}


def derived_token(token: str, params: dict[str, str]) -> str:
    """A token for a different request of the same change: deterministic, so its retries share it."""
    body = json.dumps(without_token(params), sort_keys=True)
    return "sgrule-" + hashlib.sha256(f"{token}\x1f{body}".encode()).hexdigest()[:48]

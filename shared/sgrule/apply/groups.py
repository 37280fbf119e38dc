"""Security groups as one batch knows them: each group's egress rules, read once per batch, kept current.

A group is read with one DescribeSecurityGroupAttribute (all pages) per batch. ``as_of`` is the store's
sequence taken *before* that read: a rule whose version in the store is higher when its lock is taken was
written since, and is read again (``refresh_rule``). Our own Modify calls update the copy directly.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from ..clients.budget import DESCRIBE_ATTRIBUTE, NoCallBeforeDeadline
from ..clients.ecs import describe_egress
from ..clients.retry import Retrier, Transient
from ..contract.errors import SgruleError
from .change import Change, entity, identity


@dataclass
class Group:
    rules: dict[str, dict[str, Any]] | None = None
    error: SgruleError | Transient | NoCallBeforeDeadline | None = None
    as_of: int = 0  # the store's sequence before the read the copy comes from
    vpc_id: str | None = None  # from the same Describe (what guardrails see as group.vpcId)
    fresh: dict[str, int] = field(default_factory=dict)  # rule -> sequence before its own later re-read
    lock: threading.Lock = field(default_factory=threading.Lock)
    _same: dict[tuple[Any, ...], set[str]] | None = None  # identity -> rule ids, for the duplicate check

    def seen(self, rule_id: str) -> int:
        """The store sequence our copy of ``rule_id`` is at least as new as."""
        return self.fresh.get(rule_id, self.as_of)

    def duplicate_of(self, rule_id: str, fields: dict[str, Any]) -> str | None:
        """Another rule of the group that ``fields`` would be the same as (the API refuses duplicates)."""
        with self.lock:
            if self._same is None:
                self._same = {}
                for rid, live in (self.rules or {}).items():
                    self._same.setdefault(identity(live), set()).add(rid)
            others = self._same.get(identity(fields), set()) - {rule_id}
        return min(others) if others else None

    def update(self, rule_id: str, fields: dict[str, Any], as_of: int | None = None) -> None:
        """Our Modify succeeded, or the rule was read again: keep the copy (and the duplicate index) current."""
        with self.lock:
            old = self.rules.get(rule_id) if self.rules else None
            if self._same is not None:
                if old is not None:
                    self._same.get(identity(old), set()).discard(rule_id)
                self._same.setdefault(identity(fields), set()).add(rule_id)
            if self.rules is not None:
                self.rules[rule_id] = fields
            if as_of is not None:
                self.fresh[rule_id] = as_of


class Groups:
    """The batch's groups; ``ecs(region)`` gives the official client, ``sequence()`` the store's sequence,
    ``retrier(region, api)`` the retrier each read goes through (taking its call from the fleet budget)."""

    def __init__(self, ecs: Callable[[str], Any], sequence: Callable[[], int],
                 retrier: Callable[[str, str], Retrier]) -> None:
        self._ecs, self._sequence, self._retrier = ecs, sequence, retrier
        self._groups: dict[tuple[str, str], Group] = {}
        self._lock = threading.Lock()

    def __getitem__(self, key: tuple[str, str]) -> Group:
        return self._groups[key]

    def load(self, key: tuple[str, str], as_of: int) -> Group:
        """Read the group once per batch (a failure is kept: every change of the group ends with it);
        ``as_of``: the store's sequence, read before this read. No call in time from the fleet budget is
        kept too: every change of the group is left for redelivery."""
        with self._lock:
            group = self._groups.setdefault(key, Group())
        with group.lock:
            if group.rules is None and group.error is None:
                try:
                    attributes: dict[str, Any] = {}
                    group.rules = describe_egress(self._ecs(key[0]), key[0], key[1],
                                                  self._retrier(key[0], DESCRIBE_ATTRIBUTE), attributes)
                    group.as_of = as_of
                    group.vpc_id = attributes.get("VpcId")
                except (SgruleError, Transient, NoCallBeforeDeadline) as exc:
                    group.error = exc
        return group

    def refresh_rule(self, key: tuple[str, str], rule_id: str) -> dict[str, Any] | None:
        """Read the group again for one rule we hold (others' copies are left to their own chains); the
        rule's fields, or None if it is gone. Raises :class:`Transient`, :class:`SgruleError` or
        :class:`NoCallBeforeDeadline`."""
        as_of = self._sequence()
        rules = describe_egress(self._ecs(key[0]), key[0], key[1], self._retrier(key[0], DESCRIBE_ATTRIBUTE))
        group = self._groups[key]
        if rule_id in rules:
            group.update(rule_id, rules[rule_id], as_of)
        return rules.get(rule_id)

    def resolve(self, change: Change) -> SgruleError | None:
        """Find the change's rule in its group (sets ``change.rule_id``); the error if it cannot be."""
        group = self._groups[change.group_key]
        assert group.rules is not None
        if change.rule_id is not None:
            if change.rule_id not in group.rules:
                return SgruleError("SecurityGroupRule.NotFound", f"rule {change.rule_id} is not an egress rule "
                                   f"of {change.event.data.SecurityGroupId}.")
            return None
        found = matches(group.rules, change)
        if len(found) == 1:
            change.rule_id = found[0]
            return None
        if found:
            return SgruleError("InvalidParam.InvalidModifyRuleRequest", f"the fields match {len(found)} rules "
                               f"({', '.join(sorted(found))}); give SecurityGroupRuleId.")
        return SgruleError("SecurityGroupRule.NotFound")


def matches(rules: dict[str, dict[str, Any]], change: Change) -> list[str]:
    """By match: the rules whose identifying fields are those the change gives; the exact one if several."""
    want = {k: v for k, v in change.event.data.rule_fields().items() if k != "Description"}
    want = {"Policy": "accept", "Priority": 1, **want}  # the API's defaults when matching
    found = [rid for rid, live in rules.items()
             if entity(live) == entity(want)
             and all({"Policy": "accept", "Priority": 1, **live}.get(k) == v for k, v in want.items())]
    if len(found) > 1:  # prefer the rule with no fields beyond those given
        found = [r for r in found if set(rules[r]) - {"Description", "NicType"} <= set(want)] or found
    return found

"""Guardrails: the security team's policy on what any change may do, checked before any call.

A policy (:mod:`.policy`) is a YAML file of CEL expressions over ``rule`` (the rule as it will be after the
change), ``before`` (the live rule), ``change`` (the rule-change event), ``group`` (``id``, ``regionId``,
``vpcId`` as far as known) and ``changed`` (the fields whose value differs between the two rules), with the
network helpers of :mod:`.network`. Loaded and compiled once per
instance (:func:`configured`); the apply function evaluates it on each change that would send a Modify
(:class:`Guard`), the ticket webhook on the change's own fields before anything is enqueued (:func:`early`).

- a ``deny`` guardrail that is not exactly true (false, or an evaluation error) rejects the change with
  ``Forbidden.Guardrail``; an ``audit`` one is recorded in the outcome's ``data.guardrails`` and the change
  goes on;
- a configured policy that cannot be loaded rejects every change with ``Forbidden.GuardrailPolicyInvalid``;
  no file configured means no guardrails.
"""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..contract.errors import SgruleError
from ..contract.rule import DESTINATIONS
from .policy import Decision, Policy, PolicyInvalid, Problem, Verdict, load, resolve

DESTINATIONS_GIVEN = frozenset(DESTINATIONS)

if TYPE_CHECKING:
    from ..contract.event import RuleChangeEvent
    from ..runtime.log import Logger

__all__ = ["Decision", "Policy", "PolicyInvalid", "Problem", "Verdict", "load", "resolve", "configured",
           "Guard", "early", "invalid_error", "denied_error", "change_view", "group_view"]


def configured(path: str | None, log: Logger | None = None) -> Policy | PolicyInvalid | None:
    """The instance's policy from ``SGRULE_GUARDRAILS_FILE``: None if none is configured, the
    :class:`PolicyInvalid` (logged, with every problem and where) if it cannot be used."""
    if not path:
        return None
    try:
        return load(resolve(path), shown=path)
    except PolicyInvalid as exc:
        if log is not None:
            log.error("guardrails policy invalid: every change is rejected until it is fixed", file=path,
                      problems=[str(p) for p in exc.problems[:20]])
        return exc


def invalid_error(problem: PolicyInvalid) -> SgruleError:
    first = problem.problems[0] if problem.problems else None
    return SgruleError("Forbidden.GuardrailPolicyInvalid", "The guardrails policy cannot be loaded, so every change "
                       f"is rejected until it is fixed: {first}" if first else None, source="policy")


def denied_error(verdict: Verdict) -> SgruleError:
    why = f" (evaluation error: {verdict.error})" if verdict.error else ""
    return SgruleError("Forbidden.Guardrail", f"guardrail {verdict.name!r} denies the change: {verdict.message}{why}",
                       source="policy")


def change_view(event: RuleChangeEvent) -> dict[str, Any]:
    """The rule-change event as guardrails see it: its attributes and ``data`` (the fields it gives)."""
    view: dict[str, Any] = {"specversion": event.specversion, "id": event.id, "source": event.source,
                            "type": event.type, "time": event.time.isoformat().replace("+00:00", "Z")}
    for name in ("subject", "correlationid"):
        value = getattr(event, name)
        if value is not None:
            view[name] = value
    view.update(event.model_extra or {})
    view["data"] = event.data.present()
    return view


def group_view(region_id: str, group_id: str, vpc_id: str | None = None) -> dict[str, Any]:
    return {"id": group_id, "regionId": region_id, **({"vpcId": vpc_id} if vpc_id else {})}


@dataclass
class Guard:
    """A policy's decisions for one batch. Planning a first request and the chain both decide a change:
    the second asks again with the same rule and gets the first answer, not a second evaluation."""

    policy: Policy

    def __post_init__(self) -> None:
        self._seen: dict[str, tuple[dict[str, Any], dict[str, Any], Decision]] = {}
        self._lock = threading.Lock()

    def decide(self, key: str, event: RuleChangeEvent, vpc_id: str | None, before: dict[str, Any],
               rule: dict[str, Any]) -> Decision:
        with self._lock:
            seen = self._seen.get(key)
        if seen is not None and seen[0] == before and seen[1] == rule:
            return seen[2]
        d = event.data
        decision = self.policy.evaluate({"rule": rule, "before": before, "change": change_view(event),
                                         "group": group_view(d.RegionId, d.SecurityGroupId, vpc_id)})
        with self._lock:
            self._seen[key] = (before, rule, decision)
        return decision

    def check(self, key: str, event: RuleChangeEvent, vpc_id: str | None, before: dict[str, Any],
              rule: dict[str, Any]) -> tuple[SgruleError | None, list[dict[str, Any]]]:
        """(the error that rejects the change, or None; what its outcome records in ``data.guardrails``)."""
        decision = self.decide(key, event, vpc_id, before, rule)
        denied = decision.denied
        return (denied_error(denied) if denied else None), decision.notes()


def early(policy: Policy, event: RuleChangeEvent) -> Verdict | None:
    """What can be told before the live rule is known (the ticket webhook's 400): the first ``deny``
    guardrail that is false for the change's own fields, among those whose answer cannot depend on the live
    rule -- they read only fields the change gives (a destination given also fixes the other destinations:
    a rule's kind of destination and address family never change), never ``before``, ``changed`` or the
    group's VPC, and never the whole rule (``rule[k]``, ``rule.all(...)``). The others are left to apply."""
    d = event.data
    fields = d.rule_fields()
    known = set(fields) | (set(DESTINATIONS) if DESTINATIONS_GIVEN & set(fields) else set())
    candidates = [g for g in policy.guardrails if g.action == "deny" and _decided_by(g, known)]
    if not candidates:
        return None
    decision = Policy(policy.file, tuple(candidates)).evaluate({
        "rule": fields, "before": {}, "change": change_view(event),
        "group": group_view(d.RegionId, d.SecurityGroupId)})
    return next((v for v in decision.verdicts if not v.allowed and v.error is None), None)


@functools.lru_cache(maxsize=1024)
def _selections(program: Any) -> dict[str, set[str | None]]:
    from .. import cel

    return cel.selections(program)


def _decided_by(guardrail: Any, known: set[str]) -> bool:
    used = _selections(guardrail.program)
    return ("before" not in used and "changed" not in used and None not in used.get("rule", set())
            and used.get("rule", set()) <= known
            and used.get("group", set()) <= {"id", "regionId"})

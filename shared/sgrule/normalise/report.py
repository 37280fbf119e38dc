"""The report of a pass: counts, and each rule's before -> after; it survives a resumed pass in the cursor.

Counts are always whole; the lists (changes, findings, unstable rules, errors) keep at most ``max_items``
entries each and count the rest in ``omitted``.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

LISTS = ("changes", "findings", "unstable", "errors")


@dataclass
class GroupResult:
    """What the policy made of one group's rules."""

    region: str
    group_id: str
    rules: int = 0
    changes: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)   # the rule-change events of ``changes``
    findings: list[dict[str, Any]] = field(default_factory=list)
    unstable: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    by_step: Counter[str] = field(default_factory=Counter)
    finding_counts: Counter[str] = field(default_factory=Counter)


def new_report(scan_id: str, scan_time: str, dry_run: bool, scope: dict[str, Any],
               policy: dict[str, Any]) -> dict[str, Any]:
    return {
        "scanId": scan_id, "scanTime": scan_time, "dryRun": dry_run, "complete": False, "completedAt": None,
        "invocations": 0, "scope": scope, "policy": policy,
        "counts": {"groups": 0, "rules": 0, "toChange": 0, "enqueued": 0, "unchanged": 0, "unstable": 0,
                   "errors": 0, "pendingGroups": 0, "byStep": {}, "findings": {}},
        "apiCalls": {},
        "changes": [], "findings": [], "unstable": [], "errors": [], "omitted": {},
    }


def add_group(report: dict[str, Any], result: GroupResult, max_items: int) -> None:
    """Count a finished group (read, judged and -- on a real run -- its changes enqueued)."""
    c = report["counts"]
    c["groups"] += 1
    c["rules"] += result.rules
    c["toChange"] += len(result.changes)
    c["unstable"] += len(result.unstable)
    c["errors"] += len(result.errors)
    c["unchanged"] += result.rules - len(result.changes) - len(result.unstable) - \
        sum(1 for e in result.errors if e.get("securityGroupRuleId"))
    for name, n in result.by_step.items():
        c["byStep"][name] = c["byStep"].get(name, 0) + n
    for name, n in result.finding_counts.items():
        c["findings"][name] = c["findings"].get(name, 0) + n
    add_items(report, "changes", result.changes, max_items)
    add_items(report, "findings", result.findings, max_items)
    add_items(report, "unstable", result.unstable, max_items)
    add_items(report, "errors", result.errors, max_items)


def add_items(report: dict[str, Any], name: str, items: list[dict[str, Any]], max_items: int) -> None:
    room = max(0, max_items - len(report[name]))
    report[name].extend(items[:room])
    if len(items) > room:
        report["omitted"][name] = report["omitted"].get(name, 0) + len(items) - room


def add_calls(report: dict[str, Any], calls: dict[str, int]) -> None:
    for action, n in calls.items():
        report["apiCalls"][action] = report["apiCalls"].get(action, 0) + n


def finished(report: dict[str, Any]) -> dict[str, Any]:
    """The report as returned and published: lists in a stable order."""
    out = dict(report)
    for name in LISTS:
        out[name] = sorted(report[name], key=lambda e: (e.get("regionId", ""), e.get("securityGroupId", ""),
                                                        e.get("securityGroupRuleId") or ""))
    return out

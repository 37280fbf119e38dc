"""What the normaliser emits: rule-change events for the apply function, and the report event.

A rule-change event changes one rule by its ID and carries only ``Description``: the apply function fills
the other fields from the live rule, orders it against other changes to the rule by ``time`` (the scan
time), and skips it when the rule already reads so. Its id is deterministic from the rule, the target
description and the pass (its scan time): sending it again -- a retry, a resumed pass, a crash between send
and checkpoint -- is the same change, which the apply function takes once; a later pass is a new change.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

SOURCE = "sgrule/normaliser"
CHANGE_TYPE = "sgrule.egress.modify"
REPORT_TYPE = "sgrule.normalise.report"
MAX_REPORT_EVENT_BYTES = 60 * 1024  # an EventBridge event is at most 64 KB


def change_id(region: str, group_id: str, rule_id: str, description: str, scan_time: str) -> str:
    seed = "\x1f".join((region, group_id, rule_id, description, scan_time))
    return "normalise-" + hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def rule_change(region: str, group_id: str, rule_id: str, description: str, scan_time: str,
                scan_id: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": change_id(region, group_id, rule_id, description, scan_time),
        "source": SOURCE,
        "type": CHANGE_TYPE,
        "time": scan_time,
        "subject": f"{group_id}/{rule_id}",
        "datacontenttype": "application/json",
        "correlationid": scan_id,  # the outcome of each change names the pass that asked for it
        "data": {"RegionId": region, "SecurityGroupId": group_id, "SecurityGroupRuleId": rule_id,
                 "Description": description},
    }


def report_event(report: dict[str, Any]) -> dict[str, Any]:
    """The pass's report as one event (lists cut to fit an event; the counts are always whole)."""
    data = dict(report)
    lists = ("changes", "findings", "unstable", "errors")
    size = len(json.dumps(data, ensure_ascii=False).encode())
    if size > MAX_REPORT_EVENT_BYTES:
        omitted = dict(data.get("omitted") or {})
        for name in lists:  # drop from the longest lists' tails until it fits
            data[name] = list(data.get(name) or [])
        while size > MAX_REPORT_EVENT_BYTES and any(data[name] for name in lists):
            name = max(lists, key=lambda n: len(data[n]))
            drop = max(1, len(data[name]) // 4)
            del data[name][-drop:]
            omitted[name] = omitted.get(name, 0) + drop
            size = len(json.dumps(data, ensure_ascii=False).encode())
        data["omitted"] = omitted
    return {
        "specversion": "1.0",
        "id": f"normalise-report-{report['scanId']}",
        "source": SOURCE,
        "type": REPORT_TYPE,
        "subject": ",".join(report["scope"]["regions"]) or "-",
        "time": report.get("completedAt") or report["scanTime"],
        "datacontenttype": "application/json",
        "data": data,
    }

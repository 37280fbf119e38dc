"""Builders for apply tests: FC context, rule-change events, MNS-through-EventBridge envelopes."""
from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import fckit

ROOT = fckit.ROOT
R = "cn-hangzhou"
_ids = itertools.count(1)


def load_handler(name: str = "apply_egress_rule") -> Any:
    return fckit.load_function(name)


def fc_context(timeout: float = 30, request_id: str | None = None) -> Any:
    return fckit.fc_context("apply_egress_rule", timeout, request_id=request_id)


def edit(sg: str, rule: str, **fields: Any) -> dict[str, Any]:
    """A by-ID change's data."""
    return {"RegionId": R, "SecurityGroupId": sg, "SecurityGroupRuleId": rule, **fields}


def rule_state(localcloud: Any, sg: str, rule: str) -> dict[str, Any]:
    """A rule as localcloud holds it (its state dump)."""
    for account in localcloud.state()["ecs"]["accounts"].values():
        for r in account[R]["security_groups"][sg]["rules"]:
            if r["SecurityGroupRuleId"] == rule:
                return r
    raise AssertionError(rule)


def change(data: dict[str, Any], *, id: str | None = None, time: str = "2026-11-27T10:00:00Z",
           source: str = "tests/apply", **attrs: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": id or f"chg-{next(_ids)}", "source": source, "type": "sgrule.egress.modify",
            "time": time, "data": data, **attrs}


def mns(events: list[dict[str, Any]], b64: bool = False) -> list[dict[str, Any]]:
    """Wrap rule-change events as the MNS-through-EventBridge trigger delivers them."""
    out = []
    for i, ev in enumerate(events):
        body = json.dumps(ev, ensure_ascii=False)  # UTF-8 text, as producers send it (not \u escapes)
        if b64:
            body = base64.b64encode(body.encode("utf-8")).decode()
        out.append({"id": f"eb-{i}", "source": "acs.mns", "specversion": "1.0", "type": "mns:Queue:SendMessage",
                    "subject": "acs:mns:cn-hangzhou:1234567890123456:queues/sgrule-changes",
                    "time": "2026-11-27T10:00:01Z", "aliyunaccountid": "1234567890123456",
                    "aliyunpublishtime": "2026-11-27T10:00:01.000Z", "aliyuneventbusname": "MNS-sgrule",
                    "aliyunregionid": "cn-hangzhou",
                    "data": {"requestId": f"mns-req-{i}", "messageId": f"mns-msg-{i}", "messageBody": body}})
    return out



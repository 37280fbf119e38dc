"""Builders for the normaliser's tests: localcloud seeded with messy descriptions, the real FC handlers, the
change queue read back, deliveries to the apply function (fixtures are in conftest.py)."""
from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import fckit

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "1234567890123456"
REGION = "cn-hangzhou"
_ids = itertools.count(1)

# (description in the account, what the default policy must make of it -- None: left alone). Written out
# by hand from the policy's documented steps, not computed with them. "{default}" is the documented default
# for an empty description: "{IpProtocol} {PortRange} to {destination}".
MESSY: list[tuple[str, str | None]] = [
    ("egress to payments CHG-101", None),
    ("  egress to payments CHG-102  ", "egress to payments CHG-102"),
    ("egress\tto\tbackup CHG-103", "egress to backup CHG-103"),
    ("", "{default}"),
    ("dns\x07 lookups CHG-104\x00", "dns lookups CHG-104"),
    ("cafe\u0301 supplier CHG-105", "caf\u00e9 supplier CHG-105"),
    ("zero\u200bwidth CHG-106", "zerowidth CHG-106"),
    ("no ticket here", None),
    ("multi   space    gap", "multi space gap"),
    ("\u00a0nbsp lead CHG-107", "nbsp lead CHG-107"),
    ("line\r\nbreak CHG-108", "line break CHG-108"),
    ("already clean", None),
]


def group_id(prefix: str, i: int) -> str:
    return f"sg-{prefix}{i:05d}"


def seed_estate(localcloud: Any, groups: int, rules_per_group: int, prefix: str = "bp1n",
                region: str = REGION, extra_regions: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load ``groups`` security groups with ``rules_per_group`` egress rules each, descriptions cycling
    through :data:`MESSY`. Returns ``{"expected": {(group, rule): after}, "rules": {(group, rule): before}}``."""
    expected: dict[tuple[str, str], str] = {}
    before: dict[tuple[str, str], str] = {}
    security_groups = []
    n = 0
    for g in range(groups):
        gid = group_id(prefix, g)
        rules = []
        for r in range(rules_per_group):
            desc, after = MESSY[n % len(MESSY)]
            n += 1
            rid = f"sgr-{prefix}{g:05d}r{r:03d}"
            port = 1000 + r
            cidr = f"10.{g % 250}.{r % 250}.0/24"
            rules.append({"SecurityGroupRuleId": rid, "IpProtocol": "TCP", "PortRange": f"{port}/{port}",
                          "DestCidrIp": cidr, "Policy": "accept", "Priority": 1, "NicType": "intranet",
                          "Description": desc})
            before[(gid, rid)] = desc
            if after is not None:
                expected[(gid, rid)] = f"TCP {port}/{port} to {cidr}" if after == "{default}" else after
        security_groups.append({"SecurityGroupId": gid, "SecurityGroupName": f"team-{g}", "VpcId": "vpc-bp1main",
                                "rules": rules})
    regions = {region: {"security_groups": security_groups}}
    regions.update(extra_regions or {})
    localcloud.load_state({"ecs": {"accounts": {ACCOUNT: regions}}})
    return {"expected": expected, "rules": before}


load_function = fckit.load_function


def fc_context(timeout: float = 60, name: str = "normalise_descriptions") -> Any:
    return fckit.fc_context(name, timeout, memory=256, region=REGION, account_id=ACCOUNT)


def reports_on_bus(localcloud: Any) -> list[dict[str, Any]]:
    """The report events the function published (as the bus received them: Id, Type, Data, ...)."""
    return [e["event"] for e in localcloud.events(bus="default") if e["event"].get("Type") == "sgrule.normalise.report"]


def changes_of(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(c["securityGroupId"], c["securityGroupRuleId"]): c["after"] for c in report["changes"]}


# ------------------------------------------------------------------ the change queue and the apply function

QUEUE = "sgrule-changes"


def decode_body(body: str) -> dict[str, Any]:
    import base64

    try:
        return json.loads(body)
    except ValueError:
        return json.loads(base64.b64decode(body).decode("utf-8"))


def queued_changes(localcloud: Any, queue: str = QUEUE) -> list[dict[str, Any]]:
    """The rule-change events waiting on the queue (read through the control API; nothing received)."""
    return [decode_body(m["body"]) for m in localcloud.queue(queue)["messages"]]


def deliver_to_apply(localcloud: Any, queue: str = QUEUE, also: list[dict[str, Any]] | None = None,
                     first: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """What the queue's EventBridge trigger does: receive the queue's messages with the official MNS SDK,
    hand them to the real apply handler as one batch of ``mns:Queue:SendMessage`` events (``first`` before
    them, ``also`` after them, as more messages of the batch), delete them once it returns. The outcomes."""
    from mns.mns_exception import MNSExceptionBase

    account = localcloud.mns_account()
    mq = account.get_queue(queue)
    mq.set_encoding(False)  # hand the body over as stored (the trigger's IsBase64Decode is sgrule's choice)
    received = []
    while True:
        try:
            received += mq.batch_receive_message(16)
        except MNSExceptionBase as exc:
            if getattr(exc, "type", "") == "MessageNotExist":
                break
            raise
    bodies = [json.dumps(e) for e in first or []] + [m.message_body for m in received] + \
        [json.dumps(e) for e in also or []]
    batch = [{"id": f"eb-{i}", "source": "acs.mns", "specversion": "1.0", "type": "mns:Queue:SendMessage",
              "subject": f"acs:mns:{REGION}:{ACCOUNT}:queues/{queue}", "time": "2026-11-27T10:00:01Z",
              "aliyunaccountid": ACCOUNT, "aliyunpublishtime": "2026-11-27T10:00:01.000Z",
              "aliyuneventbusname": "MNS-sgrule", "aliyunregionid": REGION,
              "data": {"requestId": f"mns-req-{i}", "messageId": f"mns-msg-{i}", "messageBody": body}}
             for i, body in enumerate(bodies)]
    if not batch:
        return []
    apply = load_function("apply_egress_rule")
    ctx = fc_context(60, "apply_egress_rule")
    apply.initialize(ctx)
    outcomes = json.loads(apply.handler(json.dumps(batch).encode(), ctx))
    for m in received:
        mq.delete_message(m.receipt_handle)
    return outcomes


def live_descriptions(localcloud: Any, region: str = REGION) -> dict[tuple[str, str], str]:
    groups = localcloud.state()["ecs"]["accounts"][ACCOUNT][region]["security_groups"]
    return {(gid, r["SecurityGroupRuleId"]): r.get("Description", "") for gid, g in groups.items()
            for r in g["rules"]}

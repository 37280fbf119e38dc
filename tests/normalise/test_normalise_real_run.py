"""The normaliser end to end on localcloud: its changes on the MNS change queue, the real apply function
applying them, a second pass with nothing to do, throttling, a resumed pass, and a newer ticket change."""
from __future__ import annotations

from collections import Counter
from typing import Any, Callable

import json
from datetime import datetime, timedelta

import pytest

from normkit import (REGION, changes_of, deliver_to_apply, group_id, live_descriptions, queued_changes,
                      reports_on_bus, seed_estate)

from sgrule.normalise.handler import instance
from sgrule.normalise.scope import NormaliseRequest, resolve

# The normaliser's RAM policy (template.yml, NormaliseCodePolicy); MNS BatchSendMessage is mns:SendMessage.
GRANTED = {"DescribeSecurityGroups", "DescribeSecurityGroupAttribute", "PutEvents", "BatchSendMessage",
           "SendMessage"}


def by_rule(events: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {(e["data"]["SecurityGroupId"], e["data"]["SecurityGroupRuleId"]): e["data"]["Description"]
            for e in events}


def test_dry_run_then_real_run_then_apply_then_nothing_left(localcloud: Any, normalise: Callable,
                                                          change_queue: str) -> None:
    estate = seed_estate(localcloud, groups=25, rules_per_group=6)
    dry = normalise({"dryRun": True})
    assert changes_of(dry) == estate["expected"]
    assert queued_changes(localcloud) == []  # the dry run enqueued nothing

    localcloud.clear_calls()
    real = normalise({"dryRun": False})
    assert real["complete"] and real["counts"]["enqueued"] == len(estate["expected"])
    events = queued_changes(localcloud)
    assert len(events) == len(estate["expected"]) and by_rule(events) == estate["expected"]
    for e in events:  # by rule ID, Description only, the pass's scan time, our source
        assert set(e["data"]) == {"RegionId", "SecurityGroupId", "SecurityGroupRuleId", "Description"}
        assert (e["source"], e["type"], e["time"], e["correlationid"]) == \
            ("sgrule/normaliser", "sgrule.egress.modify", real["scanTime"], real["scanId"])
    assert len({e["id"] for e in events}) == len(events)
    # Whole batches of 16 while the pass runs, the rest at its end: the fewest sends.
    sends = localcloud.calls("BatchSendMessage")
    assert len(sends) == -(-len(events) // 16)
    assert {c["action"] for c in localcloud.calls()} <= GRANTED

    outcomes = deliver_to_apply(localcloud)
    assert Counter(o["data"]["status"] for o in outcomes) == {"applied": len(estate["expected"])}
    live = live_descriptions(localcloud)
    for key, before in estate["rules"].items():
        assert live[key] == estate["expected"].get(key, before)

    again = normalise({"dryRun": False})
    assert again["complete"] and again["counts"]["toChange"] == 0 and again["counts"]["enqueued"] == 0
    assert queued_changes(localcloud) == []
    assert len(reports_on_bus(localcloud)) == 3  # one per complete pass: dry, real, again


def test_throttling_on_describe_still_enqueues_each_change_once(localcloud: Any, normalise: Callable,
                                                                change_queue: str) -> None:
    estate = seed_estate(localcloud, groups=30, rules_per_group=4)
    throttled = {"status": 400, "code": "Throttling.Api", "message": "Request was denied due to api flow control."}
    localcloud.faults.inject("DescribeSecurityGroups", error=throttled, times=1)
    localcloud.faults.inject("DescribeSecurityGroupAttribute", error=throttled, probability=0.4, seed=3)
    report = normalise({"dryRun": False})
    assert report["complete"] and report["counts"]["enqueued"] == len(estate["expected"])
    events = queued_changes(localcloud)
    assert Counter((e["data"]["SecurityGroupId"], e["data"]["SecurityGroupRuleId"]) for e in events) == \
        Counter(list(estate["expected"]))  # every change, each once
    assert by_rule(events) == estate["expected"]
    assert report["apiCalls"]["DescribeSecurityGroupAttribute"] > 30


def test_a_pass_out_of_time_resumes_and_enqueues_each_rule_once(localcloud: Any, normalise: Callable,
                                                               change_queue: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    estate = seed_estate(localcloud, groups=60, rules_per_group=3)
    monkeypatch.setenv("SGRULE_NORMALISE_CONCURRENCY", "2")
    monkeypatch.setenv("SGRULE_TIME_RESERVE_MS", "0")
    localcloud.faults.inject("DescribeSecurityGroupAttribute", latency_ms=50)  # 60 groups need 1.5 s
    first = normalise({"dryRun": False}, timeout=0.8)
    assert not first["complete"] and 0 < first["counts"]["groups"] < 60
    sent_first = queued_changes(localcloud)
    assert len(sent_first) == first["counts"]["enqueued"] > 0
    localcloud.faults.clear()
    second = normalise({"dryRun": False})
    assert second["complete"] and second["scanId"] == first["scanId"]
    events = queued_changes(localcloud)
    keys = [(e["data"]["SecurityGroupId"], e["data"]["SecurityGroupRuleId"]) for e in events]
    assert len(keys) == len(set(keys)) == len(estate["expected"]) and by_rule(events) == estate["expected"]
    assert {e["time"] for e in events} == {first["scanTime"]}  # one pass, one scan time
    assert second["counts"]["enqueued"] == len(estate["expected"])
    [report] = reports_on_bus(localcloud)
    assert report["Data"]["complete"] and report["Data"]["invocations"] == 2
    outcomes = deliver_to_apply(localcloud)
    assert Counter(o["data"]["status"] for o in outcomes) == {"applied": len(estate["expected"])}


def test_a_crash_before_the_checkpoint_resends_the_same_changes_and_apply_takes_them_once(
        localcloud: Any, normalise: Callable, change_queue: str) -> None:
    """The queue took a group's changes but the cursor never recorded it (the instance died in between):
    the next trigger reads the group again and sends the very same events; the apply function takes each once."""
    estate = seed_estate(localcloud, groups=4, rules_per_group=6)
    first = normalise({"dryRun": False})
    sent = queued_changes(localcloud)
    # Put back the cursor as it was before the pass's last write: what a crash between send and save leaves.
    deps = instance().deps
    key = resolve(deps.settings, NormaliseRequest()).key(False, deps.policy.digest)
    doc = json.loads(deps.store.get_value(key))
    doc["status"], doc["done"] = "scanning", {}
    doc["report"] = {**doc["report"], "complete": False, "completedAt": None,
                     "counts": {**doc["report"]["counts"], "groups": 0, "rules": 0, "toChange": 0, "enqueued": 0,
                                "unchanged": 0, "byStep": {}, "findings": {}}, "changes": [], "findings": []}
    deps.store.put_value(key, json.dumps(doc), 60)
    second = normalise({"dryRun": False})
    assert second["scanId"] == first["scanId"] and second["counts"]["enqueued"] == len(estate["expected"])
    resent = queued_changes(localcloud)[len(sent):]
    assert sorted(e["id"] for e in resent) == sorted(e["id"] for e in sent)  # the same ids again
    localcloud.clear_calls()
    outcomes = deliver_to_apply(localcloud)
    assert len(outcomes) == 2 * len(estate["expected"])
    by_change: dict[str, list[dict[str, Any]]] = {}
    for o in outcomes:
        by_change.setdefault(o["data"]["changeId"], []).append(o)
    assert all(len(v) == 2 and v[0] == v[1] and v[0]["data"]["status"] == "applied" for v in by_change.values())
    modified = [c["params"]["SecurityGroupRuleId"] for c in localcloud.calls("ModifySecurityGroupEgressRule")]
    assert sorted(modified) == sorted(r for _, r in estate["expected"])  # each rule modified once
    live = live_descriptions(localcloud)
    assert all(live[k] == v for k, v in estate["expected"].items())


@pytest.mark.parametrize("ticket_first", [True, False], ids=["ticket-applied-first", "normaliser-applied-first"])
def test_a_ticket_change_newer_than_the_scan_wins(localcloud: Any, normalise: Callable, change_queue: str,
                                                  ticket_first: bool) -> None:
    estate = seed_estate(localcloud, groups=1, rules_per_group=3)
    gid = group_id("bp1n", 0)
    rule = "sgr-bp1n00000r001"  # "  egress to payments CHG-102  " -> "egress to payments CHG-102"
    assert (gid, rule) in estate["expected"]
    report = normalise({"dryRun": False})
    [mine] = [e for e in queued_changes(localcloud) if e["data"]["SecurityGroupRuleId"] == rule]
    # A ticket asks for another description, a minute after the scan started.
    scanned = datetime.fromisoformat(report["scanTime"].replace("Z", "+00:00"))
    later = (scanned + timedelta(minutes=1)).isoformat(timespec="seconds").replace("+00:00", "Z")
    ticket = {"specversion": "1.0", "id": "JIRA-4242", "source": "ticketing/JIRA", "type": "sgrule.egress.modify",
              "time": later, "data": {"RegionId": REGION, "SecurityGroupId": gid, "SecurityGroupRuleId": rule,
                                      "Description": "payments API via proxy CHG-4242"}}
    if ticket_first:
        first = deliver_to_apply(localcloud, first=[ticket], also=[])  # one batch, ticket listed first
    else:
        first = deliver_to_apply(localcloud)                  # the normaliser's batch is applied ...
        first += deliver_to_apply(localcloud, also=[ticket])  # ... then the ticket arrives
    status = {o["data"]["changeId"]: o["data"]["status"] for o in first}
    assert status["JIRA-4242"] == "applied"
    assert status[mine["id"]] in ("superseded", "applied")
    if ticket_first:
        assert status[mine["id"]] == "superseded"
    assert live_descriptions(localcloud)[(gid, rule)] == "payments API via proxy CHG-4242"


def test_a_queue_that_refuses_stops_the_pass_and_the_next_trigger_finishes_it(
        localcloud: Any, normalise: Callable, change_queue: str) -> None:
    estate = seed_estate(localcloud, groups=20, rules_per_group=6)
    localcloud.faults.inject("BatchSendMessage", times=1, error={
        "status": 403, "code": "AccessDenied", "message": "The OwnerId that your Access Key Id associated to is forbidden"})
    first = normalise({"dryRun": False})
    assert not first["complete"] and first["counts"]["pendingGroups"] > 0
    assert first["counts"]["enqueued"] == len(queued_changes(localcloud))  # only what the queue took
    assert reports_on_bus(localcloud) == []
    second = normalise({"dryRun": False})
    assert second["complete"] and second["scanId"] == first["scanId"]
    events = queued_changes(localcloud)
    keys = [(e["data"]["SecurityGroupId"], e["data"]["SecurityGroupRuleId"]) for e in events]
    assert len(keys) == len(set(keys)) and by_rule(events) == estate["expected"]
    assert second["counts"]["enqueued"] == len(estate["expected"]) and second["counts"]["groups"] == 20

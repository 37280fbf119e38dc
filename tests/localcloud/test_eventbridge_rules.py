"""EventBridge event patterns (the operators of the documented pattern syntax) and rules of the test
application: PutEvents through the official client routes events to a function and to a queue."""
from __future__ import annotations

import json
from typing import Any

import pytest

from localcloud.eventbridge.patterns import PatternError, compile_pattern

EVENT = {"source": "sgrule/apply", "type": "sgrule.egress.modify.failed", "subject": "sg-1/sgr-1",
         "data": {"status": "failed", "attempts": 5, "ip": "10.0.0.7", "tags": ["a", "b"], "empty": ""}}


@pytest.mark.parametrize("pattern, matches", [
    ({}, True),
    ({"type": ["sgrule.egress.modify.failed"]}, True),
    ({"type": ["sgrule.egress.modify.applied", "sgrule.egress.modify.failed"]}, True),
    ({"type": ["sgrule.egress.modify"]}, False),
    ({"source": [{"prefix": "sgrule/"}]}, True),
    ({"source": [{"prefix": "acs."}]}, False),
    ({"subject": [{"suffix": "/sgr-1"}]}, True),
    ({"type": [{"contains": "modify"}]}, True),
    ({"type": [{"anything-but": "sgrule.egress.modify.applied"}]}, True),
    ({"type": [{"anything-but": ["sgrule.egress.modify.failed", "x"]}]}, False),
    ({"type": [{"anything-but": {"prefix": "sgrule."}}]}, False),
    ({"type": [{"anything-but": {"suffix": ".applied"}}]}, True),
    ({"nothere": [{"anything-but": "x"}]}, False),  # anything-but needs the key
    ({"data": {"attempts": [{"numeric": [">", 3, "<=", 5]}]}}, True),
    ({"data": {"attempts": [{"numeric": [">", 5]}]}}, False),
    ({"data": {"attempts": [5]}}, True),
    ({"data": {"attempts": ["5"]}}, False),  # exact values are type-sensitive
    ({"data": {"ip": [{"cidr": "10.0.0.0/24"}]}}, True),
    ({"data": {"ip": [{"cidr": "10.0.1.0/24"}]}}, False),
    ({"data": {"tags": ["b"]}}, True),  # any element of an array
    ({"data": {"empty": [""]}}, True),
    ({"data": {"missing": [{"exists": False}]}}, True),
    ({"data": {"status": [{"exists": False}]}}, False),
    ({"data": {"status": [{"exists": True}]}}, True),
    ({"data": {"status": [{"equals-ignore-case": "FAILED"}]}}, True),
    ({"data": {"status": ["failed"]}, "source": ["nope"]}, False),  # keys are ANDed
    ({"nested": {"deeper": ["x"]}}, False),
])
def test_pattern_operators(pattern: dict[str, Any], matches: bool) -> None:
    assert compile_pattern(pattern)(EVENT) is matches
    assert compile_pattern(json.dumps(pattern))(EVENT) is matches


@pytest.mark.parametrize("bad", [
    '{"type": "not-a-list"}', '{"type": []}', '{"type": [{"prefix": 1}]}', '{"type": [{"regex": "x"}]}',
    '{"n": [{"numeric": [">>", 1]}]}', '{"n": [{"numeric": [">", "1"]}]}', '{"ip": [{"cidr": "nope"}]}',
    '[1]', 'not json',
])
def test_bad_patterns_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(bad)


def _put(fcapp: Any, *events: dict[str, Any]) -> None:
    from alibabacloud_eventbridge20200401 import models

    entries = [models.PutEventsRequestEventList(id=e["id"], source=e["source"], type=e["type"], spec_version="1.0",
                                                subject=e.get("subject"), data_content_type="application/json",
                                                data=e["data"]) for e in events]
    body = fcapp.eventbridge_client().put_events(models.PutEventsRequest(event_bus_name="t-bus",
                                                                         event_list=entries)).body
    assert body.data.failed_entry_count == 0


def test_rules_route_failed_outcomes_to_a_function_and_others_to_a_queue(fcapp: Any, fcapp_sink: Any) -> None:
    failed = {"id": "out-failed-1", "source": "sgrule/apply", "type": "sgrule.egress.modify.failed",
              "subject": "sg-1/sgr-routed", "data": {"changeId": "JIRA-1", "status": "failed"}}
    applied = {"id": "out-applied-1", "source": "sgrule/apply", "type": "sgrule.egress.modify.applied",
               "subject": "sg-1/sgr-routed", "data": {"changeId": "JIRA-2", "status": "applied"}}
    rejected = {"id": "out-rejected-1", "source": "sgrule/apply", "type": "sgrule.egress.modify.rejected",
                "subject": "sg-1/sgr-routed", "data": {"changeId": "JIRA-3", "status": "rejected"}}
    other = {"id": "out-rejected-2", "source": "elsewhere", "type": "sgrule.egress.modify.rejected",
             "subject": "sg-1/sgr-routed", "data": {"changeId": "JIRA-4"}}
    _put(fcapp, failed, applied, rejected, other)
    received = fcapp.wait_for(lambda: [json.loads(e["event"]) for e in fcapp_sink.events()
                                       if '"out-failed-1"' in e["event"]])
    fcapp.wait_idle()
    [event] = received
    assert event["type"] == "sgrule.egress.modify.failed" and event["data"] == failed["data"]
    assert event["aliyuneventbusname"] == "t-bus" and event["aliyunaccountid"] == "1234567890123456"
    assert not [e for e in fcapp_sink.events() if "out-applied-1" in e["event"] or "out-rejected" in e["event"]]
    routed = [json.loads(m["body"]) for m in fcapp.queue_messages("t-routed")]
    # not applied/unchanged, from sgrule/, subject ending -routed: the failed and the rejected one; body = $.data
    assert sorted(r["changeId"] for r in routed) == ["JIRA-1", "JIRA-3"]
    deliveries = fcapp.request("GET", "rules")["deliveries"]
    assert {(d["rule"], d["eventId"], d["ok"]) for d in deliveries} >= {
        ("failed-to-sink", "out-failed-1", True), ("not-applied-to-queue", "out-failed-1", True),
        ("not-applied-to-queue", "out-rejected-1", True)}

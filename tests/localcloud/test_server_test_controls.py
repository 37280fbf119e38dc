"""The control API's test helpers, through the official SDKs: gates (``hold``), waiting on the call log,
and the settings a test can set (ECS page size, PutEvents entries refused one by one)."""
from __future__ import annotations

import threading
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as ecs
from alibabacloud_eventbridge20200401 import models as eb
from alibabacloud_tea_openapi.exceptions import ClientException

from localcloud.control_client import ControlError

REGION = "cn-hangzhou"


def put(client: Any, *ids: str) -> Any:
    return client.put_events(eb.PutEventsRequest(event_bus_name="default", event_list=[
        eb.PutEventsRequestEventList(id=i, source="s", type="t") for i in ids])).body


def describe(client: Any, sg: str, token: str | None = None, max_results: int = 1000) -> Any:
    return client.describe_security_group_attribute(ecs.DescribeSecurityGroupAttributeRequest(
        region_id=REGION, security_group_id=sg, direction="egress", max_results=max_results,
        next_token=token)).body


def test_hold_parks_a_call_until_the_gate_is_released(eventbridge_client: Any, localcloud: Any) -> None:
    localcloud.faults.inject("PutEvents", hold="g1", times=1)
    box: dict[str, Any] = {}
    caller = threading.Thread(target=lambda: box.setdefault("body", put(eventbridge_client, "e-1")))
    caller.start()
    assert localcloud.wait_held("g1")["held"] == 1
    assert "body" not in box and localcloud.events() == []  # parked before the service ran
    assert localcloud.release("g1")["released"] is True
    caller.join(10)
    assert box["body"].success is True
    assert [e["eventId"] for e in localcloud.events()] == ["e-1"]
    assert [c.get("fault") for c in localcloud.calls("PutEvents")] == ["hold"]


def test_hold_after_applies_and_logs_first_then_parks_the_reply(ecs_client: Any, localcloud: Any) -> None:
    localcloud.faults.inject("CreateSecurityGroup", hold="after", phase="after", times=1)
    box: dict[str, Any] = {}
    caller = threading.Thread(target=lambda: box.setdefault("id", ecs_client.create_security_group(
        ecs.CreateSecurityGroupRequest(region_id=REGION, vpc_id="vpc-1")).body.security_group_id))
    caller.start()
    [call] = localcloud.wait_calls("CreateSecurityGroup")  # logged while the reply is parked
    assert call["fault"] == "hold" and call["status"] == 200
    groups = localcloud.state()["ecs"]["accounts"]
    assert sum(len(r["security_groups"]) for a in groups.values() for r in a.values()) == 1  # effect is in
    assert "id" not in box
    localcloud.release("after")
    caller.join(10)
    assert box["id"].startswith("sg-")


def test_reset_releases_every_gate(eventbridge_client: Any, localcloud: Any) -> None:
    localcloud.faults.inject("PutEvents", hold="forgotten")
    caller = threading.Thread(target=lambda: put(eventbridge_client, "e-1"))
    caller.start()
    localcloud.wait_held("forgotten")
    localcloud.reset()
    caller.join(10)
    assert not caller.is_alive()


def test_waits_time_out_with_an_error(localcloud: Any) -> None:
    with pytest.raises(ControlError, match="408"):
        localcloud.wait_calls("PutEvents", count=1, timeout=0.05)
    with pytest.raises(ControlError, match="408"):
        localcloud.wait_held("nobody", timeout=0.05)
    with pytest.raises(ControlError, match="400"):
        localcloud.faults.inject("PutEvents", hold="bad name!")


def test_page_size_makes_describe_page_whatever_max_results_asks(ecs_client: Any, ecs_seed: Any,
                                                                 localcloud: Any) -> None:
    sg = ecs_seed.group()
    rules = [ecs_seed.egress(sg, port_range=f"{p}/{p}") for p in range(1000, 1007)]
    assert localcloud.configure(ecs={"pageSize": 3})["ecs"] == {"ruleLimit": 200, "pageSize": 3, "quotas": {}}
    seen, token, pages = [], None, 0
    while True:
        body = describe(ecs_client, sg, token)  # asks for 1,000 per page
        pages += 1
        seen += [p.security_group_rule_id for p in body.permissions.permission]
        token = body.next_token
        if not token:
            break
    assert (pages, seen) == (3, rules)
    with pytest.raises(ClientException) as info:  # MaxResults is still checked as documented (10-1000)
        describe(ecs_client, sg, max_results=5)
    assert info.value.code == "InvalidMaxResults.Malformed"
    localcloud.reset()
    assert localcloud.settings()["ecs"] == {"ruleLimit": 200, "pageSize": None, "quotas": {}}


@pytest.mark.parametrize("settings", [{"ecs": {"pageSize": 0}}, {"ecs": {"pageSize": "2"}}, {"ecs": {"bogus": 1}},
                                      {"nosuch": {"x": 1}}, {"eventbridge": {"refuseEntries": {"count": 0}}}])
def test_bad_settings_are_refused(localcloud: Any, settings: dict[str, Any]) -> None:
    with pytest.raises(ControlError, match="400"):
        localcloud.configure(**settings)


def test_refuse_entries_fails_entries_one_by_one_in_a_200_reply(eventbridge_client: Any, localcloud: Any) -> None:
    localcloud.configure(eventbridge={"refuseEntries": {"count": 2, "calls": 1, "code": "EventStoreBusy",
                                                        "message": "try again"}})
    body = put(eventbridge_client, "e-1", "e-2", "e-3")
    assert body.success is True and body.data.failed_entry_count == 2
    assert [(e.event_id, e.error_code) for e in body.data.entry_list] == [
        ("e-1", "EventStoreBusy"), ("e-2", "EventStoreBusy"), ("e-3", None)]
    assert [e["eventId"] for e in localcloud.events()] == ["e-3"]
    assert localcloud.settings()["eventbridge"] == {"refuseEntries": None}  # used up
    assert put(eventbridge_client, "e-1").data.failed_entry_count == 0
    assert [e["eventId"] for e in localcloud.events()] == ["e-3", "e-1"]

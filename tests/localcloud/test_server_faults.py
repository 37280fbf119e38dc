"""Fault injection seen through the official SDK: errors, throttling, latency, dropped replies, phase after."""
from __future__ import annotations

import time
from typing import Any

import pytest
from alibabacloud_eventbridge20200401 import models as eb
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from darabonba.exceptions import UnretryableException

from localcloud.control_client import ControlError
from localcloud.faults import FaultInjector


def put(client: Any, n: int = 1) -> Any:
    return client.put_events(eb.PutEventsRequest(event_bus_name="default", event_list=[
        eb.PutEventsRequestEventList(id=f"e-{n}", source="s", type="t")])).body


def test_error_5xx_times_then_recovers(eventbridge_client: Any, localcloud: Any) -> None:
    localcloud.faults.inject("PutEvents", error={"status": 503, "code": "ServiceUnavailable"}, times=2)
    for _ in range(2):
        with pytest.raises(ServerException) as info:
            put(eventbridge_client)
        assert (info.value.code, info.value.status_code) == ("ServiceUnavailable", 503)
        assert not isinstance(info.value, ThrottlingException)
    assert put(eventbridge_client).success is True
    calls = localcloud.calls("PutEvents")
    assert [(c["status"], c["code"], c.get("fault")) for c in calls] == [
        (503, "ServiceUnavailable", "error"), (503, "ServiceUnavailable", "error"), (200, None, None)]
    assert len(localcloud.events()) == 1  # the faulted calls never reached the service
    [rule] = localcloud.faults.list()
    assert (rule["fired"], rule["remaining"]) == (2, 0)


def test_error_4xx_is_client_exception(eventbridge_client: Any, localcloud: Any) -> None:
    localcloud.faults.inject("*", error={"status": 403, "code": "Forbidden.RAM", "message": "no"}, times=1)
    with pytest.raises(ClientException) as info:
        put(eventbridge_client)
    assert (info.value.code, info.value.status_code) == ("Forbidden.RAM", 403)
    assert info.value.request_id == localcloud.calls()[0]["requestId"]


def test_retry_after_makes_throttling_exception(eventbridge_client: Any, localcloud: Any) -> None:
    localcloud.faults.inject("PutEvents", error={"status": 400, "code": "Throttling.User", "retryAfterMs": 2500},
                             times=1)
    with pytest.raises(ThrottlingException) as info:
        put(eventbridge_client)
    assert info.value.code == "Throttling.User"
    assert info.value.retry_after == 2500  # the SDK reads x-acs-retry-after as milliseconds, as it is sent


def test_retry_after_without_its_unit_is_refused(localcloud: Any) -> None:
    with pytest.raises(ControlError, match="retryAfterMs"):
        localcloud.faults.inject("PutEvents", error={"status": 400, "code": "Throttling.User", "retryAfter": 2})


def test_latency(eventbridge_client: Any, localcloud: Any) -> None:
    put(eventbridge_client)  # warm connection
    localcloud.faults.inject("PutEvents", latency_ms=300, times=1)
    t0 = time.perf_counter()
    assert put(eventbridge_client).success is True
    slow = time.perf_counter() - t0
    t0 = time.perf_counter()
    put(eventbridge_client)
    fast = time.perf_counter() - t0
    assert slow >= 0.3
    assert fast < slow
    assert localcloud.calls()[1]["fault"] == "latency"


def test_drop_raises_network_error_and_has_no_effect(eventbridge_client: Any, localcloud: Any) -> None:
    localcloud.faults.inject("PutEvents", drop=True, times=1)
    with pytest.raises(UnretryableException):
        put(eventbridge_client)
    assert localcloud.events() == []
    assert put(eventbridge_client).success is True  # the client recovers on a new connection
    first = localcloud.calls()[0]
    assert (first["fault"], first["status"]) == ("drop", None)


def test_phase_after_error_keeps_the_effect(eventbridge_client: Any, localcloud: Any) -> None:
    localcloud.faults.inject("PutEvents", error={"status": 500, "code": "InternalError"}, times=1, phase="after")
    with pytest.raises(ServerException) as info:
        put(eventbridge_client, 7)
    assert info.value.code == "InternalError"
    assert [e["eventId"] for e in localcloud.events()] == ["e-7"]  # it happened, the reply was replaced
    [call] = localcloud.calls()
    assert (call["status"], call["code"], call["serviceStatus"]) == (500, "InternalError", 200)


def test_phase_after_drop_keeps_the_effect(eventbridge_client: Any, localcloud: Any) -> None:
    localcloud.faults.inject("PutEvents", drop=True, times=1, phase="after")
    with pytest.raises(UnretryableException):
        put(eventbridge_client, 8)
    assert [e["eventId"] for e in localcloud.events()] == ["e-8"]


def test_first_matching_rule_wins(eventbridge_client: Any, localcloud: Any) -> None:
    localcloud.faults.inject("DescribeSecurityGroups", error={"status": 500, "code": "Other"})
    localcloud.faults.inject("PutEvents", error={"status": 503, "code": "First"}, times=1)
    localcloud.faults.inject("*", error={"status": 503, "code": "Second"}, times=1)
    codes = []
    for _ in range(3):
        try:
            put(eventbridge_client)
            codes.append(None)
        except ServerException as e:
            codes.append(e.code)
    assert codes == ["First", "Second", None]


def test_probability_is_seedable() -> None:
    def run(seed: int) -> list[bool]:
        inj = FaultInjector()
        inj.add([{"action": "*", "probability": 0.5, "drop": True}], seed=seed)
        return [inj.take("PutEvents", {}) is not None for _ in range(40)]

    a, b = run(7), run(7)
    assert a == b
    assert 0 < sum(a) < 40
    assert run(8) != a


def test_security_group_match() -> None:
    inj = FaultInjector()
    inj.add([{"action": "AuthorizeSecurityGroupEgress", "securityGroupId": "sg-a", "error": {"status": 503}}])
    assert inj.take("AuthorizeSecurityGroupEgress", {"SecurityGroupId": "sg-b"}) is None
    assert inj.take("RevokeSecurityGroupEgress", {"SecurityGroupId": "sg-a"}) is None
    rule = inj.take("AuthorizeSecurityGroupEgress", {"SecurityGroupId": "sg-a"})
    assert rule is not None and rule.error is not None and rule.error.code == "ServiceUnavailable"


@pytest.mark.parametrize(
    "rule",
    [
        {"action": "X"},  # no kind
        {"action": "X", "drop": True, "latencyMs": 5},  # two kinds
        {"action": "X", "drop": True, "times": 0},
        {"action": "X", "drop": True, "probability": 2},
        {"action": "X", "error": {"status": 200}},
        {"action": "X", "drop": True, "bogus": 1},
        {"drop": True},
    ],
)
def test_invalid_rules_rejected(localcloud: Any, rule: dict[str, Any]) -> None:
    with pytest.raises(ControlError, match="400"):
        localcloud.faults.add([rule])
    assert localcloud.faults.list() == []


def test_fault_on_security_group_through_ecs(ecs_client: Any, ecs_seed: Any, localcloud: Any) -> None:
    a, b = ecs_seed.group(name="a"), ecs_seed.group(name="b")
    localcloud.faults.inject("AuthorizeSecurityGroupEgress", security_group_id=a,
                             error={"status": 503, "code": "ServiceUnavailable"})
    assert ecs_seed.egress(b).startswith("sgr-")
    with pytest.raises(ServerException) as info:
        ecs_seed.egress(a)
    assert info.value.code == "ServiceUnavailable"


def test_phase_after_with_client_token_replay(ecs_client: Any, ecs_seed: Any, localcloud: Any) -> None:
    """The reply is lost after the rule was created; the retry with the same ClientToken must not add a
    second rule."""
    sg = ecs_seed.group()
    localcloud.faults.inject("AuthorizeSecurityGroupEgress", drop=True, times=1, phase="after")
    with pytest.raises(UnretryableException):
        ecs_seed.egress(sg, client_token="tok-1")
    assert len(ecs_seed.egress_rule_ids(sg)) == 1  # the effect happened
    with pytest.raises(AssertionError, match="exactly one new"):
        ecs_seed.egress(sg, client_token="tok-1")  # replay: success, but no new rule
    assert len(ecs_seed.egress_rule_ids(sg)) == 1


def test_latency_after_applies_first_then_replies_late(localcloud: Any, ecs_client: Any, ecs_seed: Any) -> None:
    """phase after + latency: the effect is visible (state, call log) while the caller still waits."""
    import threading
    import time

    from alibabacloud_ecs20140526 import models

    sg = ecs_seed.group()
    localcloud.faults.inject("CreateSecurityGroup", latency_ms=800, phase="after", times=1)
    box: dict[str, Any] = {}
    t = threading.Thread(target=lambda: box.setdefault("id", ecs_client.create_security_group(
        models.CreateSecurityGroupRequest(region_id="cn-hangzhou", vpc_id="vpc-1")).body.security_group_id))
    started = time.monotonic()
    t.start()
    call = localcloud.wait_calls("CreateSecurityGroup", count=2)[-1]  # logged as soon as the effect is in
    assert call["fault"] == "latency"
    assert "id" not in box  # the caller has no reply yet ...
    groups = localcloud.state()["ecs"]["accounts"]
    assert sum(len(r["security_groups"]) for a in groups.values() for r in a.values()) == 2  # ... the effect is in
    t.join(5)
    assert box["id"].startswith("sg-") and box["id"] != sg
    assert time.monotonic() - started >= 0.8

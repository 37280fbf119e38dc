"""How failures of the official SDK are classified: retried (transient), final (the API's 4xx), or never
sent (our side could not build the request) -- with the real ECS client against localcloud."""
from __future__ import annotations

import time
from typing import Any

import pytest

from sgrule.clients.ecs import modify
from sgrule.clients.retry import NotSent, Retrier, Transient
from sgrule.contract.errors import SgruleError


def request(sg: str, rule: str, **fields: Any) -> dict[str, str]:
    return {"RegionId": "cn-hangzhou", "SecurityGroupId": sg, "SecurityGroupRuleId": rule, "IpProtocol": "TCP",
            "PortRange": "443/443", "DestCidrIp": "10.0.0.0/8", **fields}


@pytest.fixture
def rule(ecs_seed: Any, localcloud: Any) -> tuple[str, str]:
    sg = ecs_seed.group()
    r = ecs_seed.egress(sg)
    localcloud.clear_calls()
    return sg, r


def test_a_request_that_cannot_be_built_is_not_sent_and_not_retried(ecs_client: Any, rule: tuple[str, str],
                                                                    localcloud: Any) -> None:
    attempts = []
    retrier = Retrier(deadline=time.monotonic() + 10, base_s=0.001, cap_s=0.002)
    with pytest.raises(NotSent) as info:  # a lone surrogate: no UTF-8 encoder takes it
        retrier.call(lambda rt: modify(ecs_client, request(*rule, Description="bad \ud800"), rt),
                     on_attempt=lambda: attempts.append(1))
    assert len(attempts) == 1 and localcloud.calls("ModifySecurityGroupEgressRule") == []
    assert (info.value.error.code, info.value.error.source) == ("Runtime.Unexpected", "runtime")


def test_no_response_is_transient_and_retried(ecs_client: Any, rule: tuple[str, str], localcloud: Any) -> None:
    localcloud.faults.inject("ModifySecurityGroupEgressRule", drop=True, times=2)
    attempts = []
    retrier = Retrier(deadline=time.monotonic() + 10, base_s=0.001, cap_s=0.002)
    retrier.call(lambda rt: modify(ecs_client, request(*rule, Description="after drops"), rt),
                 on_attempt=lambda: attempts.append(1))
    assert len(attempts) == 3


def test_the_apis_4xx_is_final(ecs_client: Any, rule: tuple[str, str]) -> None:
    retrier = Retrier(deadline=time.monotonic() + 10, base_s=0.001, cap_s=0.002, max_attempts=5)
    attempts = []
    with pytest.raises(SgruleError) as info:
        retrier.call(lambda rt: modify(ecs_client, request(*rule, Priority="101"), rt),
                     on_attempt=lambda: attempts.append(1))
    assert info.value.code == "InvalidPriority.ValueNotSupported" and info.value.source == "ecs"
    assert len(attempts) == 1


def test_transient_out_of_tries(ecs_client: Any, rule: tuple[str, str], localcloud: Any) -> None:
    localcloud.faults.inject("ModifySecurityGroupEgressRule", error={"status": 503, "code": "ServiceUnavailable"})
    retrier = Retrier(deadline=time.monotonic() + 10, base_s=0.001, cap_s=0.002, max_attempts=3)
    with pytest.raises(Transient) as info:
        retrier.call(lambda rt: modify(ecs_client, request(*rule, Description="x"), rt))
    assert info.value.error.code == "ServiceUnavailable"
    assert len(localcloud.calls("ModifySecurityGroupEgressRule")) == 3


def test_a_throttled_call_waits_what_the_service_asked(ecs_client: Any, rule: tuple[str, str],
                                                       localcloud: Any) -> None:
    # localcloud sends x-acs-retry-after: 600 (milliseconds, as the services do); the backoff alone is ~1 ms.
    localcloud.faults.inject("ModifySecurityGroupEgressRule", times=1,
                             error={"status": 400, "code": "Throttling.User", "retryAfterMs": 600})
    started: list[float] = []
    retrier = Retrier(deadline=time.monotonic() + 30, base_s=0.001, cap_s=0.002)
    retrier.call(lambda rt: modify(ecs_client, request(*rule, Description="after a throttle"), rt),
                 on_attempt=lambda: started.append(time.monotonic()))
    assert len(started) == 2 and started[1] - started[0] >= 0.6
    assert [c["code"] for c in localcloud.calls("ModifySecurityGroupEgressRule")] == ["Throttling.User", None]


def test_a_wait_past_the_deadline_gives_up_at_once(ecs_client: Any, rule: tuple[str, str], localcloud: Any) -> None:
    localcloud.faults.inject("ModifySecurityGroupEgressRule",
                             error={"status": 400, "code": "Throttling.User", "retryAfterMs": 60_000})
    deadline = time.monotonic() + 5
    retrier = Retrier(deadline=deadline, base_s=0.001, cap_s=0.002)
    with pytest.raises(Transient) as info:
        retrier.call(lambda rt: modify(ecs_client, request(*rule, Description="x"), rt))
    assert time.monotonic() < deadline  # no sleep that could not end in time
    assert info.value.error.code == "Throttling.User" and info.value.wait_s == 60
    assert len(localcloud.calls("ModifySecurityGroupEgressRule")) == 1

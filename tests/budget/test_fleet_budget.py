"""Taking ECS calls from the fleet budget: SGRULE_ECS_RATE, waiting for a slot, never past the deadline, and
the fleet-wide pause a throttled answer from ECS (localcloud's quota, through the official SDK) starts."""
from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as ecs
from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException
from pydantic import ValidationError

from sgrule.clients.budget import FleetBudget, NoCallBeforeDeadline, is_throttling
from sgrule.store.budget import BudgetConfigError, CallBudget, Rate, parse_rates

REGION, MODIFY, DESCRIBE = "cn-hangzhou", "ModifySecurityGroupEgressRule", "DescribeSecurityGroups"


def test_parse_rates() -> None:
    rates = parse_rates(f" {MODIFY}=40, DescribeSecurityGroupAttribute=4800/60 ,cn-shanghai:{MODIFY}=20,")
    assert rates.get(REGION, MODIFY) == Rate(40, 1)
    assert rates.get("cn-shanghai", MODIFY) == Rate(20, 1)  # the region's own wins
    assert rates.get(REGION, "DescribeSecurityGroupAttribute") == Rate(4800, 60)
    assert rates.get(REGION, DESCRIBE) is None  # not paced
    assert str(parse_rates(str(rates))) == str(rates)
    assert not parse_rates("") and not parse_rates(None)


@pytest.mark.parametrize("text, says", [
    (MODIFY, "expected API=CALLS_PER_SECOND"),
    (f"{MODIFY}=", "CALLS (a second) or CALLS/SECONDS"),
    (f"{MODIFY}=fast", "CALLS (a second) or CALLS/SECONDS"),
    (f"{MODIFY}=-4", "CALLS (a second) or CALLS/SECONDS"),
    (f"{MODIFY}=0", "calls must be a positive number"),
    (f"{MODIFY}=4/0", "seconds must be a positive number"),
    ("modify=4", "is not an ECS API name"),
    (f"Hangzhou:{MODIFY}=4", "is not a region id"),
    (f"{MODIFY}=4,{MODIFY}=5", "given twice"),
    (f"{MODIFY}=10000000", "cannot be paced"),
    (f"{MODIFY}=1/100000", "at most a day"),
    (f"{MODIFY}=0.00001", "at most a day"),
])
def test_bad_rates_say_which_item_and_what_to_write(text: str, says: str) -> None:
    with pytest.raises(BudgetConfigError, match="SGRULE_ECS_RATE") as info:
        parse_rates(text)
    assert says in str(info.value)


def test_settings_check_sgrule_ecs_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    from sgrule.apply.config import ApplySettings

    monkeypatch.setenv("SGRULE_ECS_RATE", f"{MODIFY}=40")
    assert parse_rates(ApplySettings().ecs_rate).get(REGION, MODIFY) == Rate(40)
    monkeypatch.setenv("SGRULE_ECS_RATE", f"{MODIFY}=lots")
    with pytest.raises(ValidationError, match="CALLS/SECONDS"):
        ApplySettings()


def test_an_api_without_a_rate_is_not_paced(budget: CallBudget) -> None:
    fleet = FleetBudget(budget, parse_rates(f"{MODIFY}=1/10"))
    for _ in range(5):
        fleet.take(REGION, DESCRIBE, time.monotonic() + 1)
    assert fleet.waited_s == 0


def test_no_call_before_the_deadline_is_not_a_wait(budget: CallBudget) -> None:
    fleet = FleetBudget(budget, parse_rates(f"{MODIFY}=1/10"))
    fleet.take(REGION, MODIFY, time.monotonic() + 5)
    started = time.monotonic()
    with pytest.raises(NoCallBeforeDeadline) as info:
        fleet.take(REGION, MODIFY, time.monotonic() + 5)  # the next slot is ~10 s away
    assert 9 < info.value.wait_s <= 10 and time.monotonic() - started < 1  # answered at once, nothing slept
    with pytest.raises(NoCallBeforeDeadline):
        fleet.take(REGION, MODIFY, time.monotonic() - 1)  # out of time already


def test_callers_are_spaced_at_the_rate(budget: CallBudget) -> None:
    fleet = FleetBudget(budget, parse_rates(f"{MODIFY}=20"), horizon_s=0.1)  # most wait past the horizon
    done: list[float] = []
    lock = threading.Lock()

    def call() -> None:
        fleet.take(REGION, MODIFY, time.monotonic() + 10)
        with lock:
            done.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=call) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(done) == 10
    assert max(done) - started >= 9 * 0.05 - 0.01  # ten slots 50 ms apart; a sleep never ends early


def test_a_throttled_answer_pauses_the_fleet(ecs_client: Any, localcloud: Any, budget: CallBudget) -> None:
    fleet = FleetBudget(budget, parse_rates(f"{DESCRIBE}=100"))
    localcloud.set_ecs_quotas({DESCRIBE: {"calls": 1, "seconds": 3, "retryAfter": True}})
    request = ecs.DescribeSecurityGroupsRequest(region_id=REGION)
    ecs_client.describe_security_groups(request)
    with pytest.raises(ThrottlingException) as info:
        ecs_client.describe_security_groups(request)
    assert is_throttling(info.value)
    paused = fleet.throttled(REGION, DESCRIBE, info.value)  # x-acs-retry-after: the rest of the 3 s window
    assert 2 < paused <= 3 and abs(paused - info.value.retry_after / 1000) < 0.5
    with pytest.raises(NoCallBeforeDeadline) as wait:
        fleet.take(REGION, DESCRIBE, time.monotonic() + 1)  # any instance: nothing before the pause ends
    assert 1 < wait.value.wait_s <= 3
    fleet.take("cn-shanghai", DESCRIBE, time.monotonic() + 1)  # another region is not paused

    localcloud.set_ecs_quotas({DESCRIBE: "1/3600"})  # the plain answer: no header, a ClientException
    ecs_client.describe_security_groups(request)
    with pytest.raises(ClientException) as plain:
        ecs_client.describe_security_groups(request)
    assert is_throttling(plain.value) and not isinstance(plain.value, ThrottlingException)
    assert 0.9 < fleet.throttled("cn-shanghai", DESCRIBE, plain.value) <= 1.0  # the rate's window: 1 s


def test_wrapped_calls_retried_by_the_retrier(ecs_client: Any, localcloud: Any, budget: CallBudget) -> None:
    """What apply and the normaliser do: the Retrier retries a budgeted call; a throttled try pauses the
    fleet first, and no slot before the deadline ends the retries at once as NoCallBeforeDeadline."""
    from sgrule.clients.retry import Retrier

    fleet = FleetBudget(budget, parse_rates(f"{DESCRIBE}=50"))
    localcloud.set_ecs_quotas({DESCRIBE: {"calls": 1, "seconds": 0.5, "retryAfter": True}})
    request = ecs.DescribeSecurityGroupsRequest(region_id=REGION)
    deadline = time.monotonic() + 10
    retrier = Retrier(deadline=deadline, base_s=0.01, cap_s=0.05)
    for _ in range(3):  # one call a window: the second and third get through after a pause
        retrier.call(fleet.wrap(REGION, DESCRIBE, deadline, lambda rt: ecs_client.describe_security_groups(request)))
    statuses = [c["status"] for c in localcloud.calls(DESCRIBE)]
    assert statuses.count(200) == 3 and statuses.count(400) <= 2  # each throttled try paused everyone
    localcloud.set_ecs_quotas({DESCRIBE: "1/3600"})
    ecs_client.describe_security_groups(request)
    short = time.monotonic() + 0.5
    with pytest.raises(NoCallBeforeDeadline):  # throttled, paused 1 s: nothing more before the deadline
        Retrier(deadline=short, base_s=0.01, cap_s=0.05).call(
            fleet.wrap(REGION, DESCRIBE, short, lambda rt: ecs_client.describe_security_groups(request)))


def test_a_store_that_does_not_answer_means_no_call(tmp_path: Any) -> None:
    """Fail closed: without its store the budget makes no call (the fleet could not keep under the quota);
    the work is given back like work without a slot in time."""
    from sgrule.clients.budget import BudgetUnavailable
    from sgrule.store import open_budget

    down = open_budget("redis://127.0.0.1:1/0")  # nothing listens on port 1
    fleet = FleetBudget(down, parse_rates(f"{MODIFY}=40"))
    with pytest.raises(BudgetUnavailable, match="unavailable") as info:
        fleet.take(REGION, MODIFY, time.monotonic() + 5)
    assert isinstance(info.value, NoCallBeforeDeadline)
    assert fleet.throttled(REGION, MODIFY) == 0.0  # nothing to pause; no error on top of the throttled answer
    fleet.take(REGION, DESCRIBE, time.monotonic() + 5)  # an API without a rate needs no store


def test_a_call_that_waited_for_its_slot_gets_timeouts_from_what_the_wait_left(budget: CallBudget) -> None:
    # The SDK's timeouts must end by the invocation's deadline counted after the wait for a slot, not before
    # it: else a call that waited goes on past the deadline, into the time kept for recording outcomes.
    from sgrule.clients.budget import BudgetedRetrier

    fleet = FleetBudget(budget, parse_rates(f"{MODIFY}=2"))  # a slot every 0.5 s
    deadline = time.monotonic() + 1.5
    retrier = BudgetedRetrier(deadline=deadline, read_timeout_ms=10_000, connect_timeout_ms=10_000, fleet=fleet,
                              region=REGION, api=MODIFY)
    seen: list[tuple[int, float]] = []
    for _ in range(2):
        retrier.call(lambda rt: seen.append((rt.read_timeout, (deadline - time.monotonic()) * 1000)))
    assert fleet.waited_s > 0.3  # the second call did wait for its slot
    for read_timeout_ms, left_ms in seen:
        assert read_timeout_ms <= left_ms + 20, seen

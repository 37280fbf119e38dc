"""The fleet budget's store contract, run on SQLite and on Redis: GCRA slots reserved atomically (many threads,
many processes: every answer is the one a sequential GCRA gives, no window holds more slots than the rate
allows), refusals past the caller's wait that reserve nothing, and the shared pause."""
from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
from storekit import race_processes

from sgrule.store import open_budget
from sgrule.store.budget import CallBudget, Decision, Rate

REGION, API = "cn-hangzhou", "ModifySecurityGroupEgressRule"
EPS = 1e-4  # a tenth of a millisecond: epoch seconds in floats drift by ulps as slots add up; an interval is 2.5 ms


def model_check(asks: list[tuple[float, Decision]], rate: Rate) -> None:
    """Replay the asks in the store's order (its own time of each) through a sequential GCRA: every answer
    must be the model's, and no window may hold more slots than the rate allows."""
    tat = 0.0
    for max_wait, d in sorted(asks, key=lambda a: (a[1].slot - a[1].wait_s, a[1].slot)):
        now = d.slot - d.wait_s
        slot = max(tat - rate.tolerance_s, now)
        beyond = slot - now - max_wait  # > 0: past what the caller can wait (a hair either way: either answer)
        assert abs(beyond) < EPS or d.granted == (beyond <= 0), (d, slot, now)
        assert abs(d.slot - slot) < EPS, (d, slot)
        if d.granted:
            tat = max(tat, slot) + rate.interval_s
    slots = sorted(d.slot for _, d in asks if d.granted)
    for window in (rate.interval_s * 7.5, rate.interval_s * 40, rate.seconds):
        assert most_in_window(slots, window) <= math.ceil(window / rate.interval_s - EPS) + rate.burst - 1


def most_in_window(slots: list[float], length: float) -> int:
    """The most slots any half-open window [t, t + length) holds."""
    best, j = 0, 0
    for i, start in enumerate(slots):
        while j < len(slots) and slots[j] < start + length - EPS:
            j += 1
        best = max(best, j - i)
    return best


def test_slots_are_evenly_spaced_from_now(budget: CallBudget) -> None:
    rate = Rate(10, 1)
    answers = [budget.acquire(REGION, API, rate, 10.0) for _ in range(4)]
    assert all(d.granted for d in answers)
    assert answers[0].wait_s == 0
    assert all(abs(b.slot - a.slot - 0.1) < EPS for a, b in zip(answers, answers[1:]))
    assert 0 < answers[3].wait_s <= 0.3  # 0.3 s after the first ask, less the time the asks took
    model_check([(10.0, d) for d in answers], rate)


def test_a_slot_past_the_wait_is_refused_and_reserves_nothing(budget: CallBudget) -> None:
    rate = Rate(1, 10)  # one call every 10 s
    first = budget.acquire(REGION, API, rate, 5.0)
    assert first.granted and first.wait_s == 0
    refused = budget.acquire(REGION, API, rate, 5.0)
    assert not refused.granted and 9 < refused.wait_s <= 10  # "not before": the earliest slot
    assert abs(refused.slot - (first.slot + 10)) < EPS
    later = budget.acquire(REGION, API, rate, 20.0)  # the refusal reserved nothing: same slot
    assert later.granted and abs(later.slot - refused.slot) < EPS
    assert not budget.acquire(REGION, API, rate, 0).granted
    assert not budget.acquire(REGION, API, rate, -3).granted  # no time left at all
    with pytest.raises(ValueError):
        budget.acquire(REGION, API, rate, float("nan"))


def test_each_region_and_api_has_its_own_line(budget: CallBudget) -> None:
    rate = Rate(1, 10)
    assert budget.acquire(REGION, API, rate, 1).granted
    assert not budget.acquire(REGION, API, rate, 1).granted
    assert budget.acquire("cn-shanghai", API, rate, 1).granted
    assert budget.acquire(REGION, "DescribeSecurityGroupAttribute", rate, 1).granted


def test_burst(budget: CallBudget) -> None:
    rate = Rate(10, 1, burst=3)
    answers = [budget.acquire(REGION, API, rate, 10.0) for _ in range(6)]
    assert [d.wait_s < 0.05 for d in answers[:3]] == [True] * 3
    model_check([(10.0, d) for d in answers], rate)


def test_the_pause_is_shared_and_never_shortened(budget_url: str, namespace: str, budget: CallBudget) -> None:
    other = open_budget(budget_url, namespace=namespace)  # another instance of the fleet
    try:
        rate = Rate(100, 1)
        assert 4.9 < other.pause(REGION, API, 5.0) <= 5.0
        refused = budget.acquire(REGION, API, rate, 1.0)
        assert not refused.granted and 4 < refused.wait_s <= 5
        assert budget.acquire(REGION, "DescribeSecurityGroupAttribute", rate, 0).granted  # other API
        assert budget.acquire("cn-shanghai", API, rate, 0).granted  # other region
        granted = budget.acquire(REGION, API, rate, 10.0)
        assert granted.granted and abs(granted.slot - refused.slot) < EPS  # the first slot after the pause
        assert 3.9 < budget.pause(REGION, API, 1.0) <= 5.0  # a shorter pause keeps the longer one
        after = other.acquire(REGION, API, rate, 10.0)
        assert abs(after.slot - (granted.slot + 0.01)) < EPS  # then evenly spaced again, no burst
    finally:
        other.close()


def test_threads_never_get_more_than_the_rate(budget: CallBudget) -> None:
    rate = Rate(100, 1)  # asks come much faster than that, whatever the machine's load
    asks: list[tuple[float, Decision]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def ask(i: int) -> None:
        max_wait = 0.25 if i % 2 else 10.0  # half of them cannot wait long: some are refused
        start.wait()
        for _ in range(40):
            d = budget.acquire(REGION, API, rate, max_wait)
            with lock:
                asks.append((max_wait, d))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(asks) == 320
    assert any(not d.granted for _, d in asks) and sum(d.granted for _, d in asks) >= 160
    model_check(asks, rate)


def test_processes_never_get_more_than_the_rate(budget_url: str, namespace: str) -> None:
    n, rate = 4, Rate(100, 1)
    waits = {f"p{i}": 0.2 if i % 2 else 10.0 for i in range(n)}
    results = race_processes(Path(__file__).parent, "_budget_mp_worker:ask_all", n, lambda i, barrier, out: (
        budget_url, namespace, f"p{i}", rate.calls, rate.seconds, 150, waits[f"p{i}"], barrier, out))
    asks = [(waits[name], Decision(*answer)) for name, answers in results.items() for answer in answers]
    assert len(asks) == 600 and sum(d.granted for _, d in asks) >= 300
    model_check(asks, rate)


def test_open_budget_urls(tmp_path: Path) -> None:
    for bad in ("sqlite://relative.db", "sqlite:///", "memcached://x", "redis", "redis://"):
        with pytest.raises(ValueError):
            open_budget(bad)
    with pytest.raises(ValueError):
        open_budget(f"sqlite://{tmp_path / 'b.sqlite3'}", namespace="")
    b = open_budget("sqlite:///:memory:")
    try:
        assert b.acquire(REGION, API, Rate(1), 0).granted
    finally:
        b.close()

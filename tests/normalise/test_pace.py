"""The per-region call budget: a token bucket that throttling pauses for every thread."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest

from normkit import seed_estate

from sgrule.clients.retry import Transient
from sgrule.normalise.pace import Pace


def test_calls_are_spaced_at_the_rate_after_a_burst() -> None:
    pace = Pace(rate=100, burst=5)
    far = time.monotonic() + 60
    start = time.monotonic()
    for _ in range(25):
        pace.wait(far, "Describe")
    elapsed = time.monotonic() - start
    assert elapsed >= (25 - 5) / 100 * 0.95  # 5 at once, then one every 10 ms
    assert pace.calls["Describe"] == 25


def test_threads_share_one_budget() -> None:
    pace = Pace(rate=200, burst=1)
    far = time.monotonic() + 60
    start, go = time.monotonic(), threading.Barrier(4)

    def worker() -> None:
        go.wait()
        for _ in range(10):
            pace.wait(far, "Describe")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - start >= 39 / 200 * 0.95  # 40 calls at 200/s, whatever the thread count


def test_throttling_pauses_the_region_longer_each_time_in_a_row() -> None:
    pace = Pace(rate=1000, burst=1, pause_base_s=0.05, pause_cap_s=0.15)
    far = time.monotonic() + 60
    pace.wait(far, "x")
    for expected in (0.05, 0.1, 0.15, 0.15):  # doubling, capped
        pace.throttled()
        start = time.monotonic()
        pace.wait(far, "x")
        assert time.monotonic() - start >= expected * 0.9
    pace.went_through()
    pace.throttled()
    start = time.monotonic()
    pace.wait(far, "x")
    assert time.monotonic() - start < 0.1  # back to the first pause after a call went through


def test_no_slot_past_the_deadline() -> None:
    pace = Pace(rate=1, burst=1)
    pace.wait(time.monotonic() + 60, "x")
    with pytest.raises(Transient):
        pace.wait(time.monotonic() + 0.5, "x")  # the next slot is ~1 s away


def test_a_scan_keeps_to_its_calls_per_second(localcloud: Any, normalise: Callable,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    seed_estate(localcloud, groups=40, rules_per_group=1)
    monkeypatch.setenv("SGRULE_NORMALISE_CALLS_PER_SECOND", "20")  # bursts of 20, then 20 a second
    localcloud.clear_calls()
    normalise({"dryRun": True})
    times = sorted(c["time"] for c in localcloud.calls() if c["action"].startswith("DescribeSecurityGroup"))
    assert len(times) == 41
    assert times[-1] - times[0] >= (41 - 20) / 20 * 0.9
    for i, t in enumerate(times):  # any half second holds at most the burst and half a second's worth
        assert sum(1 for u in times[i:] if u - t < 0.5) <= 20 + 10 + 1

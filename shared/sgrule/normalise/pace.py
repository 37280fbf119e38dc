"""Keeping a scan under its API budget: a calls-per-second pace per region, slowed down by throttling.

ECS quotas are per account, region and API, so every call of a scan in one region waits for a slot of that
region's :class:`Pace` (a token bucket: ``rate`` calls a second, bursts of up to ``burst``). A ``Throttling*``
answer pauses the whole region (every thread, not just the one that was throttled) for a time that doubles
with each throttling in a row (``pause_base_s`` up to ``pause_cap_s``, back to the start after a call goes
through), and the call itself is retried by the :class:`~sgrule.clients.retry.Retrier` with full-jitter backoff.

With a fleet budget (``SGRULE_ECS_RATE``, :class:`~sgrule.clients.budget.FleetBudget`), each call also takes
its slot from the budget every instance of every function shares, and a throttled answer pauses that API in
that region for all of them; a slot past the deadline leaves the work for the next invocation.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from ..clients.budget import FleetBudget, NoCallBeforeDeadline, is_throttling, no_call_error
from ..clients.retry import Retrier, Transient
from ..contract.errors import SgruleError

T = TypeVar("T")


class Pace:
    """Calls-per-second budget of one region (thread-safe)."""

    def __init__(self, rate: float, burst: int | None = None, pause_base_s: float = 0.1,
                 pause_cap_s: float = 5.0) -> None:
        if not rate > 0:
            raise ValueError("rate must be > 0 calls per second")
        self.interval = 1.0 / rate
        self.burst = max(1, burst if burst is not None else int(rate))
        self.pause_base_s, self.pause_cap_s = pause_base_s, pause_cap_s
        self._in_a_row = 0
        self._next = 0.0  # time.monotonic() of the next free slot
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()  # attempts per action
        self.throttled_calls = 0

    def wait(self, deadline: float, action: str) -> None:
        """Block until this call's slot; raise :class:`Transient` if the slot is past ``deadline``."""
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now - (self.burst - 1) * self.interval)
            if slot >= deadline:
                raise Transient(SgruleError("Runtime.RetriesExhausted", "out of time waiting for the call budget",
                                            http_status=503, source="runtime"))
            self._next = slot + self.interval
            self.calls[action] += 1
        if slot > now:
            time.sleep(slot - now)

    def throttled(self) -> None:
        """The service said slow down: no call of this region starts for a while (longer each time in a row)."""
        with self._lock:
            self.throttled_calls += 1
            pause = min(self.pause_cap_s, self.pause_base_s * 2 ** min(self._in_a_row, 30))
            self._in_a_row += 1
            self._next = max(self._next, time.monotonic() + pause)

    def went_through(self) -> None:
        if self._in_a_row:
            with self._lock:
                self._in_a_row = 0


@dataclass
class PacedRetrier(Retrier):
    """A :class:`Retrier` whose every attempt first waits for the region's pace."""

    pace: Pace | None = None
    action: str = "call"
    fleet: FleetBudget | None = None
    region: str = ""

    def call(self, fn: Callable[[Any], T], on_attempt: Callable[[], None] | None = None) -> T:
        pace, fleet = self.pace, self.fleet
        if pace is None:
            return super().call(fn, on_attempt)

        call = fleet.wrap(self.region, self.action, self.deadline, fn, self.runtime) if fleet is not None else fn

        def paced(runtime: Any) -> T:
            pace.wait(self.deadline, self.action)
            try:
                value = call(self.runtime())  # the timeouts from what the wait left of the deadline
            except Exception as exc:
                if is_throttling(exc):
                    pace.throttled()
                raise
            pace.went_through()
            return value

        try:
            return super().call(paced, on_attempt)
        except NoCallBeforeDeadline as exc:  # not sent: the group is left for the next invocation
            raise Transient(no_call_error(exc)) from None

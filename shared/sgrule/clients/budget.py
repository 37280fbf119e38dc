"""Taking ECS calls from the fleet-wide budget (:mod:`sgrule.store.budget`): wait for a slot, never past the
deadline, and pause the whole fleet when ECS throttles anyway.

:meth:`FleetBudget.take` asks the store for the next slot of the API in the region. A slot within reach is
reserved and slept for; one past the caller's deadline raises :class:`NoCallBeforeDeadline`, which is not a
failure: the change was not sent, and its caller gives it back to be delivered again (apply) or leaves it for
the next invocation (the normaliser). So does :class:`BudgetUnavailable` (the store does not answer: no
call without the budget). Slots are reserved at most ``horizon_s`` ahead -- a caller further back
in the line asks again when its turn is near -- so a pause started meanwhile holds back all but that much.

:meth:`FleetBudget.throttled` is for a ``Throttling*`` answer: every instance stops calling that API in that
region until the pause is over -- the answer's ``x-acs-retry-after`` if it sent one, else the rate's window
(ECS: an API throttled in window T is allowed again in window T+1).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from ..clients.retry import Retrier, asked_wait_s, is_throttling
from ..contract.errors import SgruleError
from ..store.budget import CallBudget, Rates

T = TypeVar("T")
MODIFY = "ModifySecurityGroupEgressRule"
DESCRIBE_ATTRIBUTE = "DescribeSecurityGroupAttribute"


class NoCallBeforeDeadline(Exception):
    """The budget has no call of ``api`` in ``region`` for the caller before its deadline: the earliest is
    ``wait_s`` from now. Nothing was sent; the work should be delivered again, not failed."""

    def __init__(self, region: str, api: str, wait_s: float) -> None:
        super().__init__(f"no {api} call in {region} within the time left (the next is {wait_s:.2f} s away)")
        self.region, self.api, self.wait_s = region, api, wait_s


class BudgetUnavailable(NoCallBeforeDeadline):
    """The budget's store did not answer (down, unreachable): no call is made without it -- the fleet could
    not keep under the quota -- and the work is delivered again, as when no slot is left in time."""

    def __init__(self, region: str, api: str, error: BaseException) -> None:
        Exception.__init__(self, f"the ECS call budget is unavailable ({type(error).__name__}: {error}); "
                                 f"no {api} call in {region} without it")
        self.region, self.api, self.wait_s = region, api, 0.0


def no_call_error(exc: NoCallBeforeDeadline) -> SgruleError:
    """What a change or a group left for later says: the budget's store was down, or no slot in time."""
    code = "ServiceUnavailable" if isinstance(exc, BudgetUnavailable) else "Runtime.OutOfTime"
    return SgruleError(code, str(exc), http_status=503, source="runtime")


def _store_error(exc: BaseException) -> bool:
    """A failure of the store itself (network, file, server), not a bug in the caller."""
    import sqlite3

    return isinstance(exc, (OSError, sqlite3.Error)) or type(exc).__module__.split(".")[0] == "redis"


@dataclass
class FleetBudget:
    store: CallBudget
    rates: Rates
    horizon_s: float = 2.0  # slots are reserved at most this far ahead
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    waited_s: float = field(default=0.0, init=False)  # time this instance spent waiting for slots

    def take(self, region: str, api: str, deadline: float) -> None:
        """Block until this caller's slot for one ``api`` call in ``region``; ``deadline`` is
        ``time.monotonic()`` by which the call must have started. Raises :class:`NoCallBeforeDeadline`."""
        rate = self.rates.get(region, api)
        if rate is None:
            return  # not paced
        while True:
            left = deadline - self.clock()
            if left <= 0:
                raise NoCallBeforeDeadline(region, api, 0.0)
            try:
                decision = self.store.acquire(region, api, rate, min(left, self.horizon_s))
            except Exception as exc:
                if _store_error(exc):
                    raise BudgetUnavailable(region, api, exc) from exc
                raise
            if decision.granted:
                self._wait(decision.wait_s)
                return
            if decision.wait_s >= left:
                raise NoCallBeforeDeadline(region, api, decision.wait_s)
            # Further back than the horizon: come back when the slot is about to be within it.
            self._wait(decision.wait_s - self.horizon_s / 2)

    def throttled(self, region: str, api: str, exc: BaseException | None = None) -> float:
        """ECS throttled a call anyway: pause ``api`` in ``region`` for the whole fleet. Returns the pause."""
        rate = self.rates.get(region, api)
        seconds = max(rate.seconds if rate is not None else 1.0, asked_wait_s(exc) if exc is not None else 0.0)
        try:
            return self.store.pause(region, api, seconds)
        except Exception as exc:
            if _store_error(exc):
                return 0.0  # the caller still sees its throttled answer; the next take finds the store down too
            raise

    def wrap(self, region: str, api: str, deadline: float, fn: Callable[[Any], T],
             runtime_after_wait: Callable[[], Any] | None = None) -> Callable[[Any], T]:
        """``fn`` (one SDK call, given the retrier's runtime options) taking its slot first and pausing the
        fleet if it is throttled: what a :class:`~sgrule.clients.retry.Retrier` retries. Raises
        :class:`NoCallBeforeDeadline` (not retried: the retrier passes it on) when no slot is left in time.
        ``runtime_after_wait``: the retrier's runtime options made again once the slot is ours, so the call's
        timeouts count from what the wait left of the deadline, not from before it."""

        def budgeted(runtime: Any) -> T:
            self.take(region, api, deadline)
            if runtime_after_wait is not None:
                runtime = runtime_after_wait()
            try:
                return fn(runtime)
            except Exception as exc:
                if is_throttling(exc):
                    self.throttled(region, api, exc)
                raise

        return budgeted

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.waited_s += seconds
            self.sleep(seconds)


@dataclass
class BudgetedRetrier(Retrier):
    """A :class:`Retrier` for one ECS API in one region whose every attempt first takes its call from the
    fleet budget (:meth:`FleetBudget.wrap`); without a budget, or for an API it does not pace, a plain
    retrier. :class:`NoCallBeforeDeadline` is not retried: it ends :meth:`call`, and nothing was sent by
    the attempt that raised it."""

    fleet: FleetBudget | None = None
    region: str = ""
    api: str = ""

    def call(self, fn: Callable[[Any], T], on_attempt: Callable[[], None] | None = None) -> T:
        if self.fleet is not None:
            fn = self.fleet.wrap(self.region, self.api, self.deadline, fn, self.runtime)
        return super().call(fn, on_attempt)

"""A fleet-wide ECS call budget, shared through the store: every instance takes each call from it.

ECS quotas are per account, region and API, and every instance of every function in the account draws on
the same one. Each instance pacing itself cannot keep the fleet under it (eight instances each at the
quota are eight times over), so the pace lives in the store, one record per (region, API):

- **GCRA** (the generic cell rate algorithm): the record holds the *theoretical arrival time* ``tat`` of the
  next call. A call asking at store time ``now`` gets the slot ``max(tat - tolerance, now, paused_until)``
  and moves ``tat`` one interval (``seconds / calls``) past it: calls are spaced evenly, bursts are at most
  ``burst`` calls, and no window of length L ever holds more than ``ceil(L / interval) + burst - 1`` slots.
- A slot in the future is **reserved**: the caller sleeps until it and calls then, so waiting callers never
  race each other for the next slot. A slot further away than the caller can wait (``max_wait_s``, what is
  left of its invocation) is refused and reserves nothing: the answer says how long until the earliest one,
  so the caller can give its change back for redelivery instead of failing it.
- A **shared pause**: a throttled answer seen by any instance pushes ``paused_until`` for that region and API,
  so the whole fleet stops for it, not only the caller.

Every time is the store's own clock (Redis ``TIME``; SQLite: the one machine's), read inside the same atomic
step as the decision; callers get durations back, never a time to compare with theirs.

The rates come from ``SGRULE_ECS_RATE``: ``API=CALLS[/SECONDS]`` pairs, comma-separated, for every region,
or ``REGION:API=...`` for one region (which wins over the every-region value), e.g.
``ModifySecurityGroupEgressRule=40,DescribeSecurityGroupAttribute=80,cn-shanghai:ModifySecurityGroupEgressRule=20``.
An API without a rate is not paced by the budget.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

ENV_NAME = "SGRULE_ECS_RATE"
_API = re.compile(r"[A-Z][A-Za-z0-9]{0,127}")
_REGION = re.compile(r"[a-z]{2,}(?:-[a-z0-9]+)+")
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_SPEC = re.compile(rf"({_NUMBER})(?:/({_NUMBER}))?")
_EXAMPLE = "e.g. ModifySecurityGroupEgressRule=40,DescribeSecurityGroupAttribute=80"


class BudgetConfigError(ValueError):
    """``SGRULE_ECS_RATE`` (or a rate given in code) is malformed; the message says which item and why."""


@dataclass(frozen=True)
class Rate:
    """``calls`` per ``seconds``, in bursts of at most ``burst`` calls."""

    calls: float
    seconds: float = 1.0
    burst: int = 1

    def __post_init__(self) -> None:
        for name in ("calls", "seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise BudgetConfigError(f"a rate's {name} must be a positive number, not {value!r}")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise BudgetConfigError(f"a rate's burst must be a positive integer, not {self.burst!r}")
        if self.interval_s < 1e-6:
            raise BudgetConfigError("a rate of more than a million calls a second cannot be paced")
        if self.seconds > 86400 or self.interval_s > 86400:
            raise BudgetConfigError("a rate's window, and the time between two calls, must be at most a day")

    @property
    def interval_s(self) -> float:
        """Time between two calls at this rate."""
        return self.seconds / self.calls

    @property
    def tolerance_s(self) -> float:
        return (self.burst - 1) * self.interval_s

    def __str__(self) -> str:
        calls = f"{self.calls:g}"
        return calls if self.seconds == 1 else f"{calls}/{self.seconds:g}"


@dataclass(frozen=True)
class Rates:
    """The budget's rates: per API for every region, and per (region, API) overrides."""

    every_region: dict[str, Rate]
    by_region: dict[tuple[str, str], Rate]

    def get(self, region: str, api: str) -> Rate | None:
        """The rate of ``api`` in ``region``, or None: that API is not paced."""
        return self.by_region.get((region, api)) or self.every_region.get(api)

    def __bool__(self) -> bool:
        return bool(self.every_region or self.by_region)

    def __str__(self) -> str:
        items = [f"{api}={rate}" for api, rate in self.every_region.items()]
        items += [f"{region}:{api}={rate}" for (region, api), rate in self.by_region.items()]
        return ",".join(items)


NO_RATES = Rates({}, {})


def parse_rates(text: str | None, source: str = ENV_NAME) -> Rates:
    """Parse ``API=CALLS[/SECONDS]`` items (``REGION:`` prefix for one region), comma-separated; empty or
    None: no budget. Raises :class:`BudgetConfigError` naming the item and what is wrong with it."""
    every: dict[str, Rate] = {}
    regional: dict[tuple[str, str], Rate] = {}
    for raw in (text or "").split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, spec = item.partition("=")
        region, colon, api = name.strip().rpartition(":")
        where = f"{source}: {item!r}"
        if not sep:
            raise BudgetConfigError(f"{where}: expected API=CALLS_PER_SECOND or API=CALLS/SECONDS ({_EXAMPLE})")
        if not _API.fullmatch(api):
            raise BudgetConfigError(f"{where}: {api!r} is not an ECS API name (e.g. ModifySecurityGroupEgressRule)")
        if colon and not _REGION.fullmatch(region):
            raise BudgetConfigError(f"{where}: {region!r} is not a region id (e.g. cn-hangzhou)")
        m = _SPEC.fullmatch(spec.strip())
        if not m:
            raise BudgetConfigError(f"{where}: the rate must be CALLS (a second) or CALLS/SECONDS, "
                                    f"positive numbers ({_EXAMPLE})")
        try:
            rate = Rate(float(m.group(1)), float(m.group(2) or 1))
        except BudgetConfigError as exc:
            raise BudgetConfigError(f"{where}: {exc}") from None
        table: dict[Any, Rate] = regional if colon else every
        key: Any = (region, api) if colon else api
        if key in table:
            raise BudgetConfigError(f"{where}: {name.strip()} is given twice")
        table[key] = rate
    return Rates(every, regional)


@dataclass(frozen=True)
class Decision:
    """The budget's answer to one ask.

    ``granted``: a slot is reserved ``wait_s`` from now (0: call now). Not granted: nothing is reserved, and the
    earliest slot is ``wait_s`` from now -- more than the caller said it could wait. ``slot`` is that slot's
    time on the store's clock (epoch seconds): for tests and logs only, never compared with a caller's clock.
    """

    granted: bool
    wait_s: float
    slot: float


@runtime_checkable
class CallBudget(Protocol):
    """The store's side of the budget: one atomic step per ask, one per pause."""

    def acquire(self, region: str, api: str, rate: Rate, max_wait_s: float) -> Decision:
        """Reserve the next slot of ``api`` in ``region`` at ``rate`` if it is at most ``max_wait_s`` away."""
        ...

    def pause(self, region: str, api: str, seconds: float) -> float:
        """No slot of ``api`` in ``region`` before ``seconds`` from now (store clock), for every instance;
        a longer pause already in place stays. Returns how long the pause now lasts from now."""
        ...

    def close(self) -> None: ...


def budget_key(region: str, api: str) -> str:
    return f"{region}/{api}"


def check_ask(max_wait_s: float, what: str = "max_wait_s") -> float:
    """A finite number of seconds (negative counts as 0: the caller cannot wait at all)."""
    if isinstance(max_wait_s, bool) or not isinstance(max_wait_s, (int, float)) or not math.isfinite(max_wait_s):
        raise ValueError(f"{what} must be a finite number of seconds, got {max_wait_s!r}")
    return max(0.0, float(max_wait_s))


__all__ = ["BudgetConfigError", "CallBudget", "Decision", "ENV_NAME", "NO_RATES", "Rate", "Rates", "budget_key",
           "check_ask", "parse_rates"]

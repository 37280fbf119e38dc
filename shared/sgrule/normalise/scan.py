"""Reading every egress rule in scope: the groups of each region page by page, each group's rules concurrently.

Every call goes through the official ECS SDK (``sgrule.clients.ecs``) under the region's :class:`Pace`. A
group whose read fails finally (a 4xx such as a group deleted since it was listed) is reported and counts as
done; one that keeps failing transiently, or that the time budget does not reach, is left *pending* for the
next invocation.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..clients.budget import FleetBudget
from ..clients.ecs import describe_egress, describe_groups
from ..clients.retry import Transient
from ..contract.errors import SgruleError
from .pace import PacedRetrier, Pace


@dataclass
class GroupScan:
    region: str
    group_id: str
    name: str = ""
    rules: dict[str, dict[str, Any]] | None = None  # rule id -> fields (API names), when read
    error: SgruleError | None = None                # final: reported, and the group is done
    pending: str | None = None                      # why it is left for the next invocation


@dataclass
class Listing:
    """How far the listing of one region got."""

    region: str
    complete: bool = False
    error: SgruleError | None = None  # final (e.g. an unknown region): reported, nothing more to list
    pending: str | None = None        # transient or out of time: list again next invocation
    groups: int = 0                   # groups in scope seen in the listing


@dataclass
class ScanOptions:
    rate: float = 10.0                # calls per second per region
    burst: int | None = None
    retry_base_s: float = 0.1
    retry_cap_s: float = 5.0
    max_attempts: int = 8
    connect_timeout_ms: int = 3000
    read_timeout_ms: int = 10000


@dataclass
class Scanner:
    ecs: Callable[[str], Any]         # region -> official ECS client (shared, thread-safe)
    pool: Executor
    stop_at: float                    # time.monotonic(): no call starts after it
    options: ScanOptions = field(default_factory=ScanOptions)
    paces: dict[str, Pace] = field(default_factory=dict)
    fleet: FleetBudget | None = None  # the budget every instance shares (SGRULE_ECS_RATE), if any
    listings: dict[str, Listing] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def pace(self, region: str) -> Pace:
        with self._lock:
            if region not in self.paces:
                o = self.options
                self.paces[region] = Pace(o.rate, o.burst, o.retry_base_s, o.retry_cap_s)
            return self.paces[region]

    def retrier(self, region: str, action: str) -> PacedRetrier:
        o = self.options
        return PacedRetrier(deadline=self.stop_at, base_s=o.retry_base_s, cap_s=o.retry_cap_s,
                            max_attempts=o.max_attempts, read_timeout_ms=o.read_timeout_ms,
                            connect_timeout_ms=o.connect_timeout_ms, pace=self.pace(region), action=action,
                            fleet=self.fleet, region=region)

    def calls(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for pace in self.paces.values():
            for action, n in pace.calls.items():
                total[action] = total.get(action, 0) + n
        return total

    def scan(self, regions: list[str], wanted: Callable[[str, str], bool],
             on_listed: Callable[[int], None] | None = None) -> Iterator[GroupScan]:
        """Every wanted group's rules, in completion order. ``wanted(region, group_id)`` filters the
        listing (scope, allow-list, groups already done); ``on_listed(n)`` is told the running total."""
        futures: list[Future[GroupScan]] = []
        for region in regions:
            listing = self.listings[region] = Listing(region)
            try:
                for page in describe_groups(self.ecs(region), region,
                                            self.retrier(region, "DescribeSecurityGroups")):
                    for group_id, name in page:
                        if wanted(region, group_id):
                            listing.groups += 1
                            futures.append(self.pool.submit(self._describe, region, group_id, name))
                    if on_listed:
                        on_listed(len(futures))
                listing.complete = True
            except Transient as exc:
                listing.pending = exc.error.code
            except SgruleError as err:
                listing.error = err
        for future in as_completed(futures):
            yield future.result()

    def _describe(self, region: str, group_id: str, name: str) -> GroupScan:
        scan = GroupScan(region, group_id, name)
        if time.monotonic() >= self.stop_at:
            scan.pending = "Runtime.OutOfTime"
            return scan
        try:
            scan.rules = describe_egress(self.ecs(region), region, group_id,
                                         self.retrier(region, "DescribeSecurityGroupAttribute"))
        except Transient as exc:
            scan.pending = exc.error.code
        except SgruleError as err:  # final (4xx): e.g. deleted since it was listed
            scan.error = err
        except Exception as exc:  # noqa: BLE001 - a reply we cannot read must not end the whole pass
            scan.error = SgruleError("Runtime.Unexpected", f"{type(exc).__name__}: {exc}", source="runtime")
        return scan

"""One pass of the normaliser, shared by the FC function and ``sgrule normalise``.

scope -> cursor (continue a pass or start one) -> scan (paced, concurrent) -> the policy on every rule ->
rule-change events onto the change queue (not on a dry run) -> checkpoint -> the report, published once
when the pass is complete. The normaliser never modifies a rule itself.
"""
from __future__ import annotations

import time
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from pydantic_core import PydanticCustomError

from ..clients.budget import FleetBudget
from ..clients.eventbridge import Publisher, PublishError
from ..clients.retry import Retrier
from ..contract.errors import SgruleError
from ..contract.rule import normalise
from ..contract.outcome import now_rfc3339
from ..runtime.log import Logger
from ..store import KeyValue
from . import report as reports
from .changes import report_event, rule_change
from .config import NormaliseSettings
from .cursor import Cursor, PassState
from .policy import Policy
from .scan import GroupScan, Scanner, ScanOptions
from .scope import NormaliseRequest, Scope, resolve, wants

BATCH = 16  # MNS BatchSendMessage: whole batches while the pass runs, the remainder at its end


class Queue(Protocol):
    def send(self, events: list[dict[str, Any]], deadline: float | None = None) -> list[str]: ...


class Progress(Protocol):
    def __call__(self, done: int, listed: int) -> None: ...


@dataclass
class PassDeps:
    settings: NormaliseSettings
    ecs: Callable[[str], Any]
    pool: Executor
    policy: Policy
    publisher: Publisher
    log: Logger
    store: KeyValue | None = None  # None: no resume (the whole pass in one go)
    queue: Queue | None = None             # None: only dry runs
    fleet: FleetBudget | None = None       # the ECS call budget every instance shares (SGRULE_ECS_RATE)


def contract_error(region: str, group_id: str, rule_id: str, description: str) -> SgruleError | None:
    """The rule-change contract's own checks on a by-ID Description change (``parse_event`` without the
    envelope, which the normaliser builds itself)."""
    try:
        for name, value in (("RegionId", region), ("SecurityGroupId", group_id), ("SecurityGroupRuleId", rule_id),
                            ("Description", description)):
            normalise(name, value)
    except PydanticCustomError as exc:
        field = (exc.context or {}).get("field")
        return SgruleError(exc.type, exc.message(), field=f"data.{field}" if field else None)
    return None


def judge(scan: GroupScan, policy: Policy, report: dict[str, Any]) -> reports.GroupResult:
    """The policy on each rule of a group: changes (with their events), findings, unstable rules, errors."""
    result = reports.GroupResult(scan.region, scan.group_id)
    where = {"regionId": scan.region, "securityGroupId": scan.group_id}
    if scan.error is not None:
        result.errors.append({**where, "securityGroupRuleId": None, **scan.error.to_dict()})
        return result
    for rule_id, rule in sorted((scan.rules or {}).items()):
        result.rules += 1
        before = str(rule.get("Description") or "")
        outcome = policy.run(before, rule)
        if not outcome.findings and outcome.after == before:
            continue  # the usual case, kept cheap: nothing to change or report
        at = {**where, "securityGroupRuleId": rule_id}
        for finding in outcome.findings:
            result.finding_counts[finding] += 1
        if outcome.findings:
            result.findings.append({**at, "description": outcome.after, "findings": list(outcome.findings)})
        if not outcome.stable:
            result.unstable.append({**at, "before": before, "steps": list(outcome.steps)})
            continue
        if not outcome.changed:
            continue
        # What the apply function would refuse is reported here, never enqueued: the ids come from the API,
        # so the description (and the rule id) are what can fail the event's contract.
        error = contract_error(scan.region, scan.group_id, rule_id, outcome.after)
        if error is not None:
            result.errors.append({**at, **error.to_dict(), "after": outcome.after})
            continue
        event = rule_change(scan.region, scan.group_id, rule_id, outcome.after, report["scanTime"],
                            report["scanId"])
        result.changes.append({**at, "before": before, "after": outcome.after, "steps": list(outcome.steps)})
        result.events.append(event)
        for name in outcome.steps:
            result.by_step[name] += 1
    return result


@dataclass
class Outbox:
    """Rule-change events waiting for the queue; a group is finished once all of its events are sent."""

    queue: Queue
    deadline: float
    events: list[tuple[dict[str, Any], tuple[str, str]]] = field(default_factory=list)
    waiting: dict[tuple[str, str], reports.GroupResult] = field(default_factory=dict)
    left: dict[tuple[str, str], int] = field(default_factory=dict)
    sent: int = 0

    def add(self, result: reports.GroupResult) -> None:
        key = (result.region, result.group_id)
        self.waiting[key] = result
        self.left[key] = len(result.events)
        self.events += [(e, key) for e in result.events]

    def flush(self, everything: bool = False) -> list[reports.GroupResult]:
        """Send whole batches (everything: the rest too); the groups now wholly sent. Raises EnqueueError."""
        n = len(self.events) if everything else len(self.events) // BATCH * BATCH
        if n == 0:
            return []
        batch, self.events = self.events[:n], self.events[n:]
        try:
            self.queue.send([e for e, _ in batch], deadline=self.deadline)
        except Exception:
            self.events = batch + self.events
            raise
        self.sent += n
        finished = []
        for _, key in batch:
            self.left[key] -= 1
            if self.left[key] == 0:
                finished.append(self.waiting.pop(key))
                del self.left[key]
        return finished


class Pass:
    def __init__(self, deps: PassDeps, request: NormaliseRequest, deadline: float,
                 progress: Progress | None = None) -> None:
        self.deps, self.request, self.deadline, self.progress = deps, request, deadline, progress
        self.s = deps.settings
        self.scope: Scope = resolve(self.s, request)
        self.cursor = Cursor(deps.store, self.scope.key(request.dryRun, deps.policy.digest), self.s.normalise_cursor_ttl_s)

    def run(self) -> dict[str, Any]:
        state = self.cursor.load()
        if state is None or state.status == "reported":
            state = self._new_state()
        if state.status == "scanning":
            state.report["invocations"] += 1
            self._scan(state)
        if state.status == "complete":
            self._publish(state)
        return reports.finished(state.report)

    def _new_state(self) -> PassState:
        policy = {"source": self.deps.policy.source, "digest": self.deps.policy.digest, "steps": self.deps.policy.names}
        return PassState(reports.new_report(uuid.uuid4().hex, now_rfc3339(), self.request.dryRun,
                                            self.scope.as_dict(), policy))

    def _scan(self, state: PassState) -> None:
        s, report, log = self.s, state.report, self.deps.log
        # Reading stops a little before the deadline: the last changes still go out and the cursor is saved.
        stop_at = self.deadline - min(5.0, max(0.0, self.deadline - time.monotonic()) * 0.1)
        scanner = Scanner(self.deps.ecs, self.deps.pool, stop_at, ScanOptions(
            rate=s.normalise_calls_per_second, retry_base_s=s.retry_base_ms / 1000, retry_cap_s=s.retry_cap_ms / 1000,
            max_attempts=s.max_attempts, connect_timeout_ms=s.connect_timeout_ms, read_timeout_ms=s.read_timeout_ms),
            fleet=self.deps.fleet)
        outbox = Outbox(self.deps.queue, self.deadline) if self.deps.queue is not None and not self.request.dryRun else None
        pending, listed, queue_error = 0, [0], None
        last_save = time.monotonic()

        def finish(result: reports.GroupResult) -> None:
            """The group is done: counted, and (on a real run) all its changes are on the queue."""
            reports.add_group(report, result, s.normalise_report_max_items)
            if outbox is not None:
                report["counts"]["enqueued"] += len(result.events)
            state.mark_done(result.region, result.group_id)
            if self.progress:
                self.progress(report["counts"]["groups"], listed[0])

        def wanted(region: str, group_id: str) -> bool:
            return wants(s, self.scope, region, group_id) and not state.is_done(region, group_id)

        def on_listed(n: int) -> None:
            listed[0] = n + report["counts"]["groups"]

        for scan in scanner.scan(self.scope.regions, wanted, on_listed):
            if scan.pending or queue_error is not None:
                pending += 1
                continue
            result = judge(scan, self.deps.policy, report)
            if outbox is None or not result.events:
                finish(result)
            else:
                outbox.add(result)
                try:
                    for done in outbox.flush():
                        finish(done)
                except Exception as exc:  # noqa: BLE001 - the queue is down: stop reading, keep what is done
                    queue_error = exc
                    scanner.stop_at = time.monotonic()
            if time.monotonic() - last_save >= s.normalise_checkpoint_s:
                self.cursor.save(state)
                last_save = time.monotonic()
        if outbox is not None and queue_error is None:
            try:
                for done in outbox.flush(everything=True):
                    finish(done)
            except Exception as exc:  # noqa: BLE001 - kept, and reported with the pass below
                queue_error = exc
        if outbox is not None:
            pending += len(outbox.waiting)  # their changes did not all go: read again next time
        if queue_error is not None:
            log.error("change queue failed: the pass continues on the next trigger", error=str(queue_error))
        self._conclude(state, scanner, pending, queue_error is None)

    def _conclude(self, state: PassState, scanner: Scanner, pending: int, queue_ok: bool) -> None:
        """Calls, listing errors and completeness into the report; the cursor saved."""
        report = state.report
        reports.add_calls(report, scanner.calls())
        listings = scanner.listings.values()
        for listing in listings:  # a region that cannot be listed (once per pass, not per invocation)
            if listing.error is not None and not any(e.get("regionId") == listing.region and
                                                     e.get("securityGroupId") is None for e in report["errors"]):
                report["errors"].append({"regionId": listing.region, "securityGroupId": None,
                                         "securityGroupRuleId": None, **listing.error.to_dict()})
                report["counts"]["errors"] += 1
        report["counts"]["pendingGroups"] = pending
        complete = pending == 0 and queue_ok and all(listing.complete or listing.error for listing in listings)
        if complete:
            state.status = "complete"
            report["complete"] = True
            report["completedAt"] = now_rfc3339()
        self.cursor.save(state)
        self.deps.log.info("normalise pass", scanId=report["scanId"], dryRun=report["dryRun"], complete=complete,
                 groups=report["counts"]["groups"], rules=report["counts"]["rules"],
                 toChange=report["counts"]["toChange"], enqueued=report["counts"]["enqueued"], pendingGroups=pending)

    def _publish(self, state: PassState) -> None:
        """The complete pass's report, once: marked reported only after the bus took it (a retry re-sends
        the same event id)."""
        s = self.s
        retrier = Retrier.of(s, self.deadline + s.time_reserve_ms / 1000)
        try:
            self.deps.publisher.publish([report_event(reports.finished(state.report))], retrier)
        except PublishError as exc:
            self.deps.log.error("report not published: the next trigger publishes it", error=str(exc))
            return
        state.status = "reported"
        self.cursor.save(state)

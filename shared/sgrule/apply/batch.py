"""The apply pipeline: a batch of deliveries in, one terminal outcome per change out.

Per change, in order: validate (``sgrule.event``), policy guard, idempotency claim, read the live rule (one
DescribeSecurityGroupAttribute per group per batch, all pages), fill a by-ID change from the live rule,
stateful checks, no-op detection, then ModifySecurityGroupEgressRule with a deterministic ClientToken.

Ordering: changes to one rule run one after another (a thread per rule chain, a store-wide rule lock across
instances); newest first, so an older change never overwrites a field that a newer applied change set
(per-field watermarks in the store), and what is left of it still applies. Different rules run
concurrently on a bounded pool.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from ..clients.ecs import describe_egress, modify
from ..clients.retry import Retrier, Transient
from ..contract.envelope import Delivered
from ..contract.errors import SgruleError
from ..contract.event import RuleChangeEvent, check_request, parse_event
from ..store import Claim, ClaimStatus, Completion, IdempotencyStore, LeaseLost
from ..runtime.log import Logger
from ..contract.outcome import build, client_token
from ..contract.rule import DESTINATIONS, RULE_FIELDS

if TYPE_CHECKING:
    from .config import ApplySettings as Settings

APPLIED_AT = "_applied_at"  # watermark key: wall time (us) of the last Modify on the rule, by anyone
_WAIT_S = 0.05  # poll interval for a change or rule another worker holds


def _now_us() -> int:
    return time.time_ns() // 1000


def _entity(fields: dict[str, Any]) -> str | None:
    """The kind of destination a rule authorises: cidr, group or prefix list (fixed for a rule's life)."""
    if "DestCidrIp" in fields or "Ipv6DestCidrIp" in fields:
        return "cidr"
    if "DestGroupId" in fields:
        return "group"
    if "DestPrefixListId" in fields:
        return "prefixlist"
    return None


def _identity(fields: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two rules the same rule for the API (everything but Description)."""
    f = {"Policy": "accept", "Priority": 1, **fields}
    return tuple(f.get(name) for name in RULE_FIELDS if name != "Description")


@dataclass
class Change:
    index: int
    event: RuleChangeEvent
    fingerprint: str
    token: str
    rule_id: str | None = None
    deliveries: int = 1
    sent: dict[str, Any] | None = None  # {"params": ..., "attempts": n} from an earlier delivery
    last_in_chain: bool = False  # its complete() also releases the rule lock
    released_rule: bool = False
    completion: Completion | None = None  # queued for the store (see Batch._flush)

    @property
    def group_key(self) -> tuple[str, str]:
        return self.event.data.RegionId, self.event.data.SecurityGroupId

    @property
    def rule_key(self) -> str:
        return f"{self.event.data.RegionId}/{self.event.data.SecurityGroupId}/{self.rule_id}"


@dataclass
class Group:
    """One security group's egress rules as this batch knows them (kept current after each Modify)."""

    rules: dict[str, dict[str, Any]] | None = None
    error: Exception | None = None
    fresh_as_of: dict[str, int] = field(default_factory=dict)  # rule -> watermark we know our copy reflects
    described_at: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _same: dict[tuple[Any, ...], set[str]] | None = None  # identity -> rule ids, for the duplicate check

    def duplicate_of(self, rule_id: str, fields: dict[str, Any]) -> str | None:
        """Another rule of the group that ``fields`` would be the same as (the API refuses duplicates)."""
        with self.lock:
            if self._same is None:
                self._same = {}
                for rid, live in (self.rules or {}).items():
                    self._same.setdefault(_identity(live), set()).add(rid)
            others = self._same.get(_identity(fields), set()) - {rule_id}
        return min(others) if others else None

    def update(self, rule_id: str, fields: dict[str, Any]) -> None:
        """Our Modify succeeded: keep the copy (and the duplicate index) current."""
        with self.lock:
            old = self.rules.get(rule_id) if self.rules else None
            if self._same is not None:
                if old is not None:
                    self._same.get(_identity(old), set()).discard(rule_id)
                self._same.setdefault(_identity(fields), set()).add(rule_id)
            if self.rules is not None:
                self.rules[rule_id] = fields


@dataclass
class Deps:
    """What a batch needs from its instance (built once per FC instance, shared by invocations)."""

    settings: Settings
    ecs: Callable[[str], Any]  # region -> official ECS client
    store: IdempotencyStore
    log: Logger
    pool: ThreadPoolExecutor


class Batch:
    """One invocation's work. ``run`` returns the outcomes (None where a change must be redelivered)."""

    def __init__(self, deps: Deps, deadline: float, request_id: str | None = None) -> None:
        self.deps = deps
        self.s = deps.settings
        self.deadline = deadline
        self.owner = f"{request_id or 'local'}:{uuid.uuid4().hex[:12]}"
        self.log = deps.log.bind(requestId=request_id)
        self.groups: dict[tuple[str, str], Group] = {}
        self.groups_lock = threading.Lock()
        self.outcomes: list[dict[str, Any] | None] = []
        self.transient: list[int] = []
        # Completes wait here and go to the store in one round trip at the end of each _process: a crash
        # before that loses nothing (each call's request was recorded first, and is re-sent with its token).
        self._pending: list[tuple[Change, Completion]] = []

    # ------------------------------------------------------------------ entry

    def run(self, items: list[Delivered]) -> list[dict[str, Any] | None]:
        self.outcomes = [None] * len(items)
        first: dict[str, Change] = {}
        duplicates: list[tuple[int, Change]] = []
        todo: list[Change] = []
        waiting: list[Change] = []
        for i, item in enumerate(items):
            change = self._admit(i, item)
            if change is None:
                continue
            key = change.event.key
            if key in first:  # the same change twice in one batch: one run, the same outcome twice
                if first[key].fingerprint != change.fingerprint:
                    self._reject(change, SgruleError("IdempotentParameterMismatch", source="validation"),
                                 id_variant=change.fingerprint)
                else:
                    duplicates.append((i, first[key]))
                continue
            first[key] = change
        # One round trip for every claim of the batch.
        fresh = list(first.values())
        claims = self.deps.store.claim_many([(c.event.key, c.fingerprint) for c in fresh], self.owner,
                                            self._lease_s())
        for change, claim in zip(fresh, claims):
            self._sort(change, claim, todo, waiting)
        self._process(todo)
        self._wait_for_others(waiting)
        for i, original in duplicates:
            self.outcomes[i] = self.outcomes[original.index]
            if original.index in self.transient:
                self.transient.append(i)
        return self.outcomes

    def _admit(self, i: int, item: Delivered) -> Change | None:
        """Validation and policy; a change that fails either gets its outcome here (nothing to store)."""
        if item.error is not None:
            self.outcomes[i] = build(status="rejected", source=self.s.outcome_source, change_source=None,
                                     change_id=item.message_id, error=item.error)
            return None
        try:
            event = parse_event(item.raw)
        except SgruleError as err:
            raw = item.raw if isinstance(item.raw, dict) else {}
            data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
            self.outcomes[i] = build(
                status="rejected", source=self.s.outcome_source, change_source=_str(raw.get("source")),
                change_id=_str(raw.get("id")) or item.message_id, region_id=_str(data.get("RegionId")),
                security_group_id=_str(data.get("SecurityGroupId")), rule_id=_str(data.get("SecurityGroupRuleId")),
                correlation_id=_str(raw.get("correlationid")), error=err)
            return None
        d = event.data
        token = d.ClientToken or client_token(event.source, event.id)
        change = Change(i, event, _fingerprint(event), token, rule_id=d.SecurityGroupRuleId)
        if not self.s.allows(d.RegionId, d.SecurityGroupId):
            self._reject(change, SgruleError("Forbidden.SecurityGroupNotAllowed",
                                             f"{d.RegionId}/{d.SecurityGroupId} is outside the allow-list "
                                             "(SGRULE_ALLOWED_REGIONS, SGRULE_ALLOWED_SECURITY_GROUPS).",
                                             source="policy"))
            return None
        return change

    def _claim(self, change: Change, todo: list[Change], waiting: list[Change]) -> None:
        claim = self.deps.store.claim(change.event.key, change.fingerprint, self.owner, self._lease_s())
        self._sort(change, claim, todo, waiting)

    def _sort(self, change: Change, claim: Claim, todo: list[Change], waiting: list[Change]) -> None:
        """Act on a claim: process it (ours), replay the stored outcome, refuse a mismatch, or wait."""
        status = claim.status
        if status is ClaimStatus.ACQUIRED:
            change.deliveries = claim.record.deliveries
            change.sent = claim.record.sent_request
            todo.append(change)
        elif status is ClaimStatus.COMPLETED:
            self.outcomes[change.index] = claim.record.outcome
        elif status is ClaimStatus.MISMATCH:
            self._reject(change, SgruleError("IdempotentParameterMismatch",
                                             f"change {change.event.id!r} from {change.event.source!r} was "
                                             "already received with different content.", source="validation"),
                         id_variant=change.fingerprint)
        else:
            waiting.append(change)

    # ------------------------------------------------------------------ scheduling

    def _process(self, changes: list[Change]) -> None:
        if not changes:
            return self._flush()
        # Phase 1: every group's rules, concurrently, one Describe (per page) per group.
        keys = list(dict.fromkeys(c.group_key for c in changes))
        list(self.deps.pool.map(self._group, keys))
        # Phase 2: resolve each change to its rule, then one serial chain per rule, chains concurrently.
        chains: dict[str, list[Change]] = {}
        for change in changes:
            if self._resolve(change):
                chains.setdefault(change.rule_key, []).append(change)
        for chain in chains.values():
            chain.sort(key=lambda c: (-c.event.time_us, c.index))  # newest first; ties in input order
        # Every rule's lock (and watermarks) in one round trip; a rule another worker holds is waited for.
        held = self.deps.store.lock_rules(list(chains), self.owner, self._lease_s()) if chains else {}
        # Rules we hold go first: a chain waiting for another worker's lock must not keep a pool thread
        # from the work this batch can do now.
        order = sorted(chains, key=lambda key: held.get(key) is None)
        for future in [self.deps.pool.submit(self._chain, chains[key], held.get(key)) for key in order]:
            future.result()
        self._flush()

    def _flush(self) -> None:
        """Store the outcomes of finished changes (with watermarks, freeing their rules' locks)."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        done = self.deps.store.complete_many([item for _, item in pending], self.owner, self.s.completed_ttl_s)
        for (change, item), ok in zip(pending, done):
            if not ok:  # our lease ran out and another worker took the change over: it answers
                self.outcomes[change.index] = None
                self.transient.append(change.index)
                if item.release_rule and item.rule_key:
                    self.deps.store.release_rule_lock(item.rule_key, self.owner)

    def _wait_for_others(self, waiting: list[Change]) -> None:
        """Changes another worker holds: take their stored outcome when it lands, or take over on expiry."""
        while waiting:
            if time.monotonic() + _WAIT_S >= self.deadline:
                for change in waiting:
                    self._retry_later(change, SgruleError("Runtime.RetriesExhausted", "another worker still "
                                                          "holds this change", source="runtime"), release=False)
                return
            time.sleep(_WAIT_S)
            still, todo = [], []
            for change in waiting:
                self._claim(change, todo, still)
            self._process(todo)
            waiting = still

    # ------------------------------------------------------------------ groups and rules

    def _group(self, key: tuple[str, str], refresh: bool = False) -> Group:
        with self.groups_lock:
            group = self.groups.setdefault(key, Group())
        with group.lock:
            if group.rules is None and group.error is None or refresh:
                described_at = _now_us()
                try:
                    group.rules = describe_egress(self.deps.ecs(key[0]), key[0], key[1], self._retrier())
                    group.described_at = described_at
                    group.fresh_as_of = {}
                    group.error = None
                    group._same = None
                except (SgruleError, Transient) as exc:
                    group.error = exc
        return group

    def _resolve(self, change: Change) -> bool:
        """Find the change's rule in its group; a change that cannot be resolved ends here."""
        group = self.groups[change.group_key]
        if group.error is not None:
            self._fail_from(change, group.error)
            return False
        assert group.rules is not None
        if change.rule_id is not None:
            if change.rule_id not in group.rules:
                self._reject_stored(change, SgruleError("SecurityGroupRule.NotFound",
                                                        f"rule {change.rule_id} is not an egress rule of "
                                                        f"{change.event.data.SecurityGroupId}.", source="validation"))
                return False
            return True
        want = {k: v for k, v in change.event.data.rule_fields().items() if k != "Description"}
        want = {"Policy": "accept", "Priority": 1, **want}  # the API's defaults when matching
        found = [rule_id for rule_id, live in group.rules.items()
                 if _entity(live) == _entity(want)
                 and all({"Policy": "accept", "Priority": 1, **live}.get(k) == v for k, v in want.items())]
        if len(found) > 1:  # prefer the rule with no fields beyond those given
            found = [r for r in found if set(group.rules[r]) - {"Description", "NicType"} <= set(want)] or found
        if len(found) == 1:
            change.rule_id = found[0]
            return True
        if found:
            self._reject_stored(change, SgruleError(
                "InvalidParam.InvalidModifyRuleRequest", f"the fields match {len(found)} rules "
                f"({', '.join(sorted(found))}); give SecurityGroupRuleId.", source="validation"))
        else:
            self._reject_stored(change, SgruleError("SecurityGroupRule.NotFound", source="validation"))
        return False

    def _chain(self, chain: list[Change], marks: dict[str, int] | None) -> None:
        """One rule's changes, newest first. ``marks``: its watermarks if its lock is already ours."""
        rule_key = chain[0].rule_key
        store = self.deps.store
        while marks is None and not store.acquire_rule_lock(rule_key, self.owner, self._lease_s()):
            if time.monotonic() + _WAIT_S >= self.deadline:
                for change in chain:
                    self._retry_later(change, SgruleError("Runtime.RetriesExhausted", "the rule is locked by "
                                                          "another worker", source="runtime"))
                return
            time.sleep(_WAIT_S)
        chain[-1].last_in_chain = True
        try:
            if marks is None:
                marks = store.field_times(rule_key)  # per-field watermarks; kept current by _mark
            for change in chain:
                if time.monotonic() >= self.deadline:  # no new work past the budget: redeliver the rest
                    self._transient(change, SgruleError("Runtime.RetriesExhausted", "the invocation ran out of "
                                                        "time before this change", source="runtime"), None, 0)
                    continue
                try:
                    self._apply(change, marks)
                except LeaseLost:  # our lease ran out and another worker took the change: it will answer
                    self.transient.append(change.index)
                except Exception as exc:  # noqa: BLE001 - one change's bug must not lose the others
                    self.log.error("unexpected error", changeId=change.event.id, error=repr(exc))
                    self._transient(change, SgruleError("Runtime.Unexpected", repr(exc), source="runtime"), None, 0)
        finally:
            self._unlock_after(chain, rule_key)

    def _unlock_after(self, chain: list[Change], rule_key: str) -> None:
        """Free the rule, but never before the watermarks of its finished changes are stored: if any
        completion of this chain is still queued, the release goes with it (one atomic step in _flush)."""
        if chain[-1].released_rule:
            return
        queued = next((c.completion for c in reversed(chain) if c.completion is not None), None)
        if queued is not None:
            queued.rule_key, queued.release_rule = rule_key, True
        else:
            self.deps.store.release_rule_lock(rule_key, self.owner)

    # ------------------------------------------------------------------ one change

    def _apply(self, change: Change, marks: dict[str, int]) -> None:
        ev, d = change.event, change.event.data
        log = self.log.bind(changeId=ev.id, correlationId=ev.correlationid)
        group = self.groups[change.group_key]
        if marks.get(APPLIED_AT, 0) > group.fresh_as_of.get(change.rule_id, group.described_at):
            group = self._group(change.group_key, refresh=True)  # another worker changed it since we read
            if not self._resolve(change):
                return
        live = group.rules[change.rule_id]  # type: ignore[index]

        asked = _asked(change)
        newer = {k for k in asked if marks.get(k, -1) > ev.time_us}
        wanted = {k: v for k, v in asked.items() if k not in newer}
        if asked and not wanted:
            return self._finish(change, "superseded", before=live, after=live)

        error = self._stateful_check(change, live, wanted, group)
        if error is not None:
            return self._finish(change, "rejected", before=live, error=error)
        desired = {**live, **wanted}
        if desired == live and change.sent is None:
            return self._finish(change, "unchanged", before=live, after=live,
                                marks=self._mark(change, wanted, marks))
        try:
            params = check_request({"RegionId": d.RegionId, "SecurityGroupId": d.SecurityGroupId,
                                    "SecurityGroupRuleId": change.rule_id, **desired, "ClientToken": change.token})
        except SgruleError as err:
            return self._finish(change, "rejected", before=live, error=err)
        if change.sent is not None and not self._reconcile(change, params, live, desired, wanted, marks):
            return
        self._call(change, params, live, desired, wanted, log, marks)

    def _reconcile(self, change: Change, params: dict[str, str], live: dict[str, Any], desired: dict[str, Any],
                   wanted: dict[str, Any], marks: dict[str, int]) -> bool:
        """An earlier delivery recorded a request (and may have sent it) but never finished. True: send
        ``params`` (token adjusted); False: finished here.

        - The same request again: re-send it with its token -- ECS answers the first call's result if it
          went out, or applies it now; never twice. This is the crash-after-the-call case.
        - A different request (the rule changed since, e.g. a newer change set other fields): if what this
          change asks for is already in place, its call went out -- applied, no call; otherwise the new
          request gets a token of its own (re-sending the old one would revert the newer fields, and the old
          token with new parameters is IdempotentParameterMismatch).
        """
        sent = change.sent["params"]  # type: ignore[index]
        if _without_token(params) == _without_token(sent):
            change.token = params["ClientToken"] = sent["ClientToken"]
            return True
        if desired == live:
            self._finish(change, "applied", before=live, after=live, marks=self._mark(change, wanted, marks))
            return False
        change.token = params["ClientToken"] = _derived_token(change.token, params)
        return True

    def _stateful_check(self, change: Change, live: dict[str, Any], wanted: dict[str, Any],
                        group: Group) -> SgruleError | None:
        given = {k for k in wanted if k in DESTINATIONS}
        if given and _entity(wanted) != _entity(live):
            return SgruleError("InvalidOperation.ModifySgRuleEntityType",
                               f"the rule's destination is a {_entity(live)}; it cannot become a {_entity(wanted)}.",
                               field="data." + sorted(given)[0])
        for side in (("DestCidrIp", "Ipv6DestCidrIp"), ("SourceCidrIp", "Ipv6SourceCidrIp")):
            if any(k in wanted for k in side) and any(k in live for k in side) and \
                    not any(k in wanted and k in live for k in side):
                return SgruleError("InvalidParameter.Conflict", "the IP address family of a rule cannot change.",
                                   field="data." + next(k for k in side if k in wanted))
        if "NicType" in wanted and wanted["NicType"] != live.get("NicType", wanted["NicType"]):
            return SgruleError("InvalidOperation.ModifyNicType", field="data.NicType")
        other_id = group.duplicate_of(change.rule_id, {**live, **wanted})  # type: ignore[arg-type]
        if other_id is not None:
            return SgruleError("InvalidParam.InvalidModifyRuleRequest",
                               f"the modified rule would be the same as rule {other_id}.")
        return None

    def _call(self, change: Change, params: dict[str, str], live: dict[str, Any], desired: dict[str, Any],
              wanted: dict[str, Any], log: Logger, marks: dict[str, int]) -> None:
        store, key = self.deps.store, change.event.key
        attempts = (change.sent or {}).get("attempts", 0)

        def count() -> None:
            nonlocal attempts
            attempts += 1
            # Written before each call: a crash after it still tells the next delivery what went out.
            store.mark_sent(key, self.owner, {"params": params, "attempts": attempts})

        client = self.deps.ecs(params["RegionId"])
        try:
            request_id = self._retrier().call(lambda rt: modify(client, params, rt), on_attempt=count)
        except Transient as exc:
            log.warning("transient failure", code=exc.error.code, attempts=attempts, deliveries=change.deliveries)
            return self._transient(change, exc.error, live, attempts)
        except SgruleError as err:
            return self._finish(change, "rejected", before=live, error=err, attempts=attempts)
        self.groups[change.group_key].update(change.rule_id, desired)  # type: ignore[arg-type]
        new_marks = self._mark(change, wanted, marks, applied=True)
        self._finish(change, "applied", before=live, after=desired, request_id=request_id, attempts=attempts,
                     marks=new_marks)

    def _mark(self, change: Change, wanted: dict[str, Any], marks: dict[str, int],
              applied: bool = False) -> dict[str, int]:
        """The watermarks of the fields this change set: into the chain's copy now, into the store with the
        change's complete() (one atomic step, before the rule lock is free)."""
        new = {k: change.event.time_us for k in wanted}
        if applied:
            stamp = max(_now_us(), self.groups[change.group_key].described_at + 1)
            new[APPLIED_AT] = stamp
            self.groups[change.group_key].fresh_as_of[change.rule_id] = stamp  # type: ignore[index]
        for k, t in new.items():
            marks[k] = max(t, marks.get(k, t))
        return new

    # ------------------------------------------------------------------ endings

    def _finish(self, change: Change, status: str, *, before: dict[str, Any] | None = None,
                after: dict[str, Any] | None = None, error: SgruleError | None = None,
                request_id: str | None = None, attempts: int | None = None, store: bool = True,
                marks: dict[str, int] | None = None, id_variant: str | None = None) -> None:
        ev, d = change.event, change.event.data
        token = change.token if (request_id or attempts or change.sent) else None
        outcome = build(status=status, source=self.s.outcome_source, change_source=ev.source, change_id=ev.id,  # type: ignore[arg-type]
                        region_id=d.RegionId, security_group_id=d.SecurityGroupId, rule_id=change.rule_id,
                        client_token=token, request_id=request_id, before=before, after=after, error=error,
                        attempts=attempts if attempts is not None else (change.sent or {}).get("attempts", 0),
                        correlation_id=ev.correlationid, id_variant=id_variant)
        if store:
            in_chain = change.rule_id is not None and (marks or change.last_in_chain)
            change.completion = Completion(ev.key, outcome, change.rule_key if in_chain else None, marks,
                                           release_rule=change.last_in_chain)
            self._pending.append((change, change.completion))
            change.released_rule = change.last_in_chain
        self.outcomes[change.index] = outcome

    def _reject(self, change: Change, error: SgruleError, id_variant: str | None = None) -> None:
        """Rejected before the claim (nothing stored: the same input is rejected the same way again)."""
        self._finish(change, "rejected", error=error, store=False, id_variant=id_variant)

    def _reject_stored(self, change: Change, error: SgruleError) -> None:
        self._finish(change, "rejected", error=error)

    def _fail_from(self, change: Change, exc: Exception) -> None:
        if isinstance(exc, Transient):
            self._transient(change, exc.error, None, 0)
        else:
            self._reject_stored(change, exc if isinstance(exc, SgruleError) else
                                SgruleError("Runtime.Unexpected", repr(exc), source="runtime"))

    def _transient(self, change: Change, error: SgruleError, live: dict[str, Any] | None, attempts: int) -> None:
        if change.deliveries >= self.s.max_deliveries:
            err = SgruleError("Runtime.RetriesExhausted", f"still failing after {change.deliveries} deliveries: "
                              f"{error.code}: {error.message}", source="runtime")
            return self._finish(change, "failed", before=live, error=err, attempts=attempts)
        self._retry_later(change, error)

    def _retry_later(self, change: Change, error: SgruleError, release: bool = True) -> None:
        if release:
            self.deps.store.release(change.event.key, self.owner)
        self.log.warning("left for redelivery", changeId=change.event.id, code=error.code)
        self.transient.append(change.index)

    # ------------------------------------------------------------------ time

    def _lease_s(self) -> float:
        return max(1.0, self.deadline - time.monotonic()) + 5.0

    def _retrier(self) -> Retrier:
        return Retrier(deadline=self.deadline, base_s=self.s.retry_base_ms / 1000,
                       cap_s=self.s.retry_cap_ms / 1000, max_attempts=self.s.max_attempts,
                       read_timeout_ms=self.s.read_timeout_ms, connect_timeout_ms=self.s.connect_timeout_ms)


def _without_token(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k != "ClientToken"}


def _derived_token(token: str, params: dict[str, str]) -> str:
    """A token for a different request of the same change: deterministic, so its retries share it."""
    body = json.dumps(_without_token(params), sort_keys=True)
    return "sgrule-" + hashlib.sha256(f"{token}\x1f{body}".encode()).hexdigest()[:48]


def _asked(change: Change) -> dict[str, Any]:
    """The rule fields a change sets (by match: Description only; the rest identify the rule)."""
    fields = change.event.data.rule_fields()
    return {"Description": fields["Description"]} if change.event.data.mode == "by_match" else fields


def _fingerprint(event: RuleChangeEvent) -> str:
    body = {"time": event.time_us, "data": event.data.present()}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None

"""The apply pipeline for one invocation: a batch of deliveries in, one terminal outcome per change out.

    admit (validate, allow-list)  ->  claim (one round trip)  ->  read each group (one Describe per group)
    ->  resolve each change to its rule  ->  lock the rules (one round trip)  ->  one chain per rule
    ->  plan and journal the chains' first requests (one store step, ``plan``)  ->  the chains on the pool
    (``chain.RuleChain``: settle the journal, then newest change first)  ->  store the outcomes (one round trip
    per 16 changes of finished chains, while the others run; each stored outcome goes on to ``on_stored``)

Each chain receives a ``context.ChainContext``, the few collaborators it uses; outcomes are kept by the
``ledger.Ledger`` and changed only through its methods.

Changes another worker holds are waited for (their stored outcome, or a takeover when its lease runs out).
Different rules run concurrently on a bounded pool; a heartbeat keeps this batch's leases alive.
"""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable

from ..clients.budget import BudgetedRetrier, FleetBudget, NoCallBeforeDeadline, no_call_error
from ..clients.eventbridge import MAX_EVENTS_PER_CALL
from ..clients.retry import Retrier, Transient
from ..contract.envelope import Delivered
from ..contract.errors import SgruleError
from ..runtime.log import Logger
from ..store import Claim, ClaimStatus, NeverSent, RuleJournal
from .admission import admit
from .chain import RuleChain
from .change import Change
from .config import ApplySettings
from .context import ChainContext
from .groups import Groups
from .leases import Heartbeat
from .ledger import Ledger
from .plan import journal_first_requests

_WAIT_S = 0.05  # poll interval for a change another worker holds
_FLUSH_EVERY = MAX_EVENTS_PER_CALL  # outcomes stored together while chains still run: one PutEvents call


@dataclass
class Deps:
    """What a batch needs from its instance (built once per FC instance, shared by invocations)."""

    settings: ApplySettings
    ecs: Callable[[str], Any]  # region -> official ECS client
    store: RuleJournal
    log: Logger
    pool: ThreadPoolExecutor
    guardrails: Any = None  # the guardrails policy (sgrule.guardrails): a Policy, PolicyInvalid, or None
    fleet: FleetBudget | None = None  # the ECS call budget every instance shares (SGRULE_ECS_RATE), if any


class Batch:
    """One invocation's work. ``run`` returns the outcomes (None where a change must be redelivered)."""

    def __init__(self, deps: Deps, deadline: float, request_id: str | None = None,
                 on_stored: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        self.deps = deps
        self.s = deps.settings
        self.deadline = deadline
        self.owner = f"{request_id or 'local'}:{uuid.uuid4().hex[:12]}"
        self.log = deps.log.bind(requestId=request_id)
        self.leases = Heartbeat(deps.store, self.owner, self.s.lease_s, self.log)
        self.ledger = Ledger(self.s, deps.store, self.owner, self.log, self.leases, on_stored)
        self.groups = Groups(deps.ecs, deps.store.sequence, self.retrier)
        guard, self.policy_invalid = _guardrails(deps.guardrails)
        self.chain_context = ChainContext(
            store=deps.store, ecs=deps.ecs, owner=self.owner, lease_s=self.s.lease_s,
            completed_ttl_s=self.s.completed_ttl_s, deadline=deadline, leases=self.leases, ledger=self.ledger,
            groups=self.groups, retrier=self.retrier, log=self.log, guard=guard)

    @property
    def transient(self) -> list[int]:
        """The indexes of the items left for redelivery."""
        return self.ledger.redelivered

    def run(self, items: list[Delivered]) -> list[dict[str, Any] | None]:
        self.ledger.start(len(items))
        first: dict[str, Change] = {}
        duplicates: list[tuple[int, Change]] = []
        for i, item in enumerate(items):
            change = admit(i, item, self.s)
            if not isinstance(change, Change):
                self.ledger.outcome(i, change)
            elif self.policy_invalid is not None:  # fail closed, before any claim: a fixed policy takes it
                self.ledger.reject(change, self.policy_invalid)
            elif change.key not in first:
                first[change.key] = change
            elif first[change.key].fingerprint != change.fingerprint:  # the same id, other content
                self.ledger.reject(change, SgruleError("IdempotentParameterMismatch", source="validation"),
                                   id_variant=change.fingerprint)
            else:  # the same change twice in one batch: one run, the same outcome twice
                duplicates.append((i, first[change.key]))
        self.leases.start()
        try:
            todo, waiting = self._claim(list(first.values()))
            self._process(todo)
            self._wait_for_others(waiting)
        finally:
            self.leases.stop()
        for i, original in duplicates:
            self.ledger.same_as(i, original.index)
        return self.ledger.outcomes

    # ------------------------------------------------------------------ claims

    def _claim(self, changes: list[Change]) -> tuple[list[Change], list[Change]]:
        """One round trip for the claims; returns (ours to work, held by another worker)."""
        todo: list[Change] = []
        waiting: list[Change] = []
        if not changes:
            return todo, waiting
        claims = self.deps.store.claim_many([(c.key, c.fingerprint) for c in changes], self.owner, self.s.lease_s)
        for change, claim in zip(changes, claims):
            self._sort(change, claim, todo, waiting)
        self.leases.hold(keys=[c.key for c in todo])
        return todo, waiting

    def _sort(self, change: Change, claim: Claim, todo: list[Change], waiting: list[Change]) -> None:
        status = claim.status
        if status is ClaimStatus.ACQUIRED:
            change.deliveries = claim.record.deliveries
            change.sent = claim.record.sent_request
            change.settled = claim.record.settled
            change.attempts = change.sent.attempts if change.sent else 0
            settled = change.settlement()
            if isinstance(settled, NeverSent) and settled.error is None:
                # Its recorded request was planned, journaled and closed unsent: no request went out.
                change.attempts, change.sent, change.settled = max(0, change.attempts - 1), None, None
            todo.append(change)
        elif status is ClaimStatus.COMPLETED:
            self.ledger.outcome(change.index, claim.record.outcome)
        elif status is ClaimStatus.MISMATCH:
            self.ledger.reject(change, SgruleError(
                "IdempotentParameterMismatch", f"change {change.event.id!r} from {change.event.source!r} was already "
                "received with different content.", source="validation"), id_variant=change.fingerprint)
        else:
            waiting.append(change)

    def _wait_for_others(self, waiting: list[Change]) -> None:
        """Changes another worker holds: take their stored outcome when it lands, or take over on expiry."""
        while waiting:
            if time.monotonic() + _WAIT_S >= self.deadline:
                for change in waiting:
                    self.ledger.retry_later(change, SgruleError("Runtime.RetriesExhausted", "another worker still "
                                                                "holds this change", source="runtime"), release=False)
                return
            time.sleep(_WAIT_S)
            todo, waiting = self._claim(waiting)
            self._process(todo)

    # ------------------------------------------------------------------ scheduling

    def _process(self, changes: list[Change]) -> None:
        if not changes:
            return self.ledger.flush()
        chains = self._chains(changes)
        self._run(chains, self._start(chains))
        self.ledger.flush()

    def _chains(self, changes: list[Change]) -> dict[str, list[Change]]:
        """Each change resolved to its rule against its group (read once per batch), per rule newest first."""
        # Every group's rules, concurrently, one Describe (per page) per group; the store's sequence first
        # (one round trip): a rule written after it is read again under its lock.
        as_of = self.deps.store.sequence()
        keys = list(dict.fromkeys(c.group_key for c in changes))
        list(self.deps.pool.map(lambda key: self.groups.load(key, as_of), keys))
        chains: dict[str, list[Change]] = {}
        for change in changes:
            group = self.groups[change.group_key]
            error = group.error or self.groups.resolve(change)
            if isinstance(error, NoCallBeforeDeadline):  # its group could not be read in time: not a failure
                self.ledger.no_call(change, no_call_error(error))
            elif isinstance(error, Transient):
                self.ledger.transient(change, error.error)
            elif error is not None:
                self.ledger.finish(change, "rejected", error=error)
            else:
                chains.setdefault(change.rule_key, []).append(change)
        for chain in chains.values():
            chain.sort(key=lambda c: (-c.event.time_us, c.index))  # newest first; ties in input order
        return chains

    def _start(self, chains: dict[str, list[Change]]) -> list[RuleChain]:
        """Every rule's lock (and state) in one round trip, the first requests planned and journaled in one
        store step, one chain per rule. Rules we hold come first: a chain waiting for another worker's lock
        must not keep a pool thread from the work this batch can do now."""
        held = self.deps.store.lock_rules(list(chains), self.owner, self.s.lease_s) if chains else {}
        self.leases.hold(rules=[rule for rule, state in held.items() if state is not None])
        order = sorted(chains, key=lambda key: held.get(key) is None)
        ctx = self.chain_context
        planned = journal_first_requests({key: (chains[key], held.get(key)) for key in order}, ctx)
        return [RuleChain(ctx, chains[key], held.get(key), planned.get(key)) for key in order]

    def _run(self, chains: dict[str, list[Change]], rule_chains: list[RuleChain]) -> None:
        """The chains on the pool; the outcomes of every 16 changes of finished chains stored (and so
        published) while the others still run."""
        futures = {self.deps.pool.submit(chain.run): chain.rule_key for chain in rule_chains}
        busy = {change.key for chain in chains.values() for change in chain}  # changes of chains still running
        finished = 0  # changes of chains finished since the last flush
        for future in as_completed(futures):
            future.result()
            chain = chains[futures[future]]
            busy.difference_update(change.key for change in chain)
            finished += len(chain)
            if finished >= _FLUSH_EVERY and busy:
                try:
                    self.ledger.flush(lambda change: change.key in busy)
                except Exception as exc:  # noqa: BLE001 - they stay queued for the flush at the end
                    self.log.warning("could not store finished outcomes yet", error=repr(exc))
                finished = 0

    def retrier(self, region: str, api: str) -> Retrier:
        """A fresh retrier for ``api`` calls in ``region``, each attempt taken from the fleet budget if any."""
        retrier = BudgetedRetrier.of(self.s, self.deadline)
        retrier.fleet, retrier.region, retrier.api = self.deps.fleet, region, api
        return retrier


def _guardrails(policy: Any) -> tuple[Any, SgruleError | None]:
    """(the guardrails' judge for this batch's chains, or None; the error that rejects every change when the
    configured policy did not load)."""
    if policy is None:
        return None, None
    from ..guardrails import Guard, PolicyInvalid, invalid_error

    if isinstance(policy, PolicyInvalid):
        return None, invalid_error(policy)
    return Guard(policy), None

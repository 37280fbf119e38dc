"""One rule's changes, newest first, under the rule's lock.

1. Take the lock (it comes with the rule's watermarks, version and open journal entries).
2. Settle the journal: whatever a crashed holder left open is put in effect before anything else.
3. Read the rule again if the store says it was written since this batch read it (or after settling).
4. Each change: keep only the fields no newer change has set (watermarks); stateful checks; no-op
   detection; journal the intent; Modify with the change's ClientToken; queue the outcome with the new
   watermarks. (A chain with nothing to settle has its first request planned and journaled by the batch,
   with every other chain's, in one store step before the chains start: see :meth:`RuleChain.plan`.) If a request is left uncertain (transient failure), the chain stops: nothing older may
   touch the rule until that request is settled.
5. Free the lock -- in the same store step that records the last outcome's watermarks.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..clients.ecs import live_fields, modify
from ..clients.retry import NotSent, Transient
from ..contract.errors import SgruleError
from ..contract.event import check_request
from ..contract.outcome import Status
from ..contract.rule import DESTINATIONS
from ..store import InEffect, JournalEntry, LeaseLost, NeverSent, Refused, RuleState, SentRequest
from .change import Change, asked, derived_token, entity, without_token
from .groups import matches
from .journal import settle

if TYPE_CHECKING:
    from .batch import Batch

_WAIT_S = 0.05  # poll interval for a rule another worker holds


class RuleChain:
    def __init__(self, batch: Batch, changes: list[Change], state: RuleState | None) -> None:
        self.b = batch
        self.changes = changes
        self.state = state
        self.rule_key = changes[0].rule_key
        self.group_key = changes[0].group_key
        self.rule_id: str = changes[0].rule_id  # type: ignore[assignment]
        self.marks: dict[str, int] = {}
        self.moved: list[Change] = []  # by-match changes whose rule no longer matches (left for redelivery)
        self.planned: Change | None = None  # the change whose request plan() decided
        self.opened: JournalEntry | None = None  # its entry, journaled or maybe journaled, until sent or closed
        self.journaled = False  # the batch's store step said the entry is in the journal

    # ------------------------------------------------------------------ the chain

    def run(self) -> None:
        state = self.state or self._wait_for_lock()
        if state is None:
            return
        self.b.leases.hold(rules=[self.rule_key])
        try:
            self.marks = dict(state.marks)
            if not self._prepare(state):
                return
            self.changes[-1].last_in_chain = True
            for i, change in enumerate(self.changes):
                if time.monotonic() >= self.b.deadline:  # no new work past the budget: redeliver the rest
                    return self._give_up(self.changes[i:], "the invocation ran out of time before this change")
                try:
                    go_on = self._apply(change)
                except Exception as exc:  # noqa: BLE001 - one change's bug must not lose the others
                    self.b.log.error("unexpected error", changeId=change.event.id, error=repr(exc))
                    closed = change is not self.planned or self._close_unsent()
                    self.b.ledger.transient(change, SgruleError("Runtime.Unexpected", repr(exc), source="runtime"),
                                            uncertain=not closed)
                    go_on = False  # what it left behind is unknown: nothing older may follow it
                if not go_on:
                    return self._give_up(self.changes[i + 1:], "an earlier change to this rule is unsettled")
        finally:
            try:
                self._close_unsent()  # nothing planned stays open past the chain (normally closed already)
            finally:
                self._unlock()

    def plan(self) -> JournalEntry | None:
        """Before the chains start (in the batch's thread): the journal entry of this chain's first request,
        when nothing stands before it -- the rule's lock is held, nothing is left to settle or read again, and
        the first change needs a call (decided exactly as the chain will decide it). The batch journals the
        entries of every chain at once and sets ``opened``; the chain then sends that request without a
        store step of its own. Planning changes nothing: a chain whose plan is not used decides afresh."""
        state = self.state
        first = self.changes[0]
        if state is None or state.journal or first.sent is not None or first.settlement() is not None \
                or state.version > self.b.groups[self.group_key].seen(self.rule_id):
            return None
        self.marks = dict(state.marks)
        decision = self._decide(first)
        if not isinstance(decision, _Call):
            return None
        entry = JournalEntry(first.key, first.token, decision.params,
                             {k: first.event.time_us for k in decision.wanted}, first.attempts + 1)
        self.planned = first
        return entry

    def _close_unsent(self) -> bool:
        """The planned request, journaled (or maybe journaled) but not sent -- its change ended without it,
        or the chain gave up before it: closed as never sent, so no later holder of the rule puts it in
        effect. False if it may still be open (the store refused or failed): then whoever takes the rule
        next settles it, and the change must say its request may still take effect."""
        entry, self.opened = self.opened, None
        if entry is None:
            return True
        try:
            self.b.deps.store.settle(self.rule_key, self.b.owner, entry, NeverSent(entry.token),
                                     None, self.b.s.completed_ttl_s)
        except Exception as exc:  # noqa: BLE001 - LeaseLost or a store error: the entry may stay open
            self.b.log.warning("could not close an unsent request", rule=self.rule_key, error=repr(exc))
            return False
        return True

    def _wait_for_lock(self) -> RuleState | None:
        store = self.b.deps.store
        while True:
            state = store.lock_rules([self.rule_key], self.b.owner, self.b.s.lease_s)[self.rule_key]
            if state is not None:
                return state
            if time.monotonic() + _WAIT_S >= self.b.deadline:
                self._give_up(self.changes, "the rule is locked by another worker")
                return None
            time.sleep(_WAIT_S)

    def _give_up(self, changes: list[Change], why: str) -> None:
        for change in changes:
            closed = change is not self.planned or self._close_unsent()
            self.b.ledger.transient(change, SgruleError("Runtime.RetriesExhausted", why, source="runtime"),
                                    uncertain=not closed)

    def _unlock(self) -> None:
        """Free the rule, but never before the watermarks of its finished changes are stored: if a
        completion of this chain is still queued, the release goes with it (one atomic step in the flush)."""
        if any(c.released_rule for c in self.changes):
            return
        queued = self.b.ledger.queued(self.changes + self.moved)
        if queued is not None:
            queued.rule_key, queued.release_rule = self.rule_key, True
        else:
            self.b.deps.store.release_rule_lock(self.rule_key, self.b.owner)
            self.b.leases.drop(rules=[self.rule_key])

    def _prepare(self, state: RuleState) -> bool:
        """Settle the journal and make our copy of the rule current; False if the chain cannot go on."""
        try:
            if state.journal:
                ours = {c.key: c for c in self.changes}

                def count(key: str) -> None:  # the settle's calls are its change's attempts
                    if key in ours:
                        ours[key].attempts += 1

                learnt = settle(state.journal, store=self.b.deps.store, owner=self.b.owner, rule_key=self.rule_key,
                                client=self.b.deps.ecs(self.group_key[0]), retrier=self.b.retrier,
                                marks=self.marks, ttl_s=self.b.s.completed_ttl_s, on_attempt=count)
                for key, settled in learnt.items():
                    if key in ours:
                        # already counted
                        ours[key].settled = replace(settled, calls=0) if isinstance(settled, InEffect) else settled
            if state.journal or state.version > self.b.groups[self.group_key].seen(self.rule_id):
                live = self.b.groups.refresh_rule(self.group_key, self.rule_id)
                if live is None:
                    for change in self.changes:
                        self.b.ledger.finish(change, "rejected", error=SgruleError(
                            "SecurityGroupRule.NotFound", f"rule {self.rule_id} was deleted."))
                    return False
                moved = [c for c in self.changes if c.event.data.mode == "by_match"
                         and not matches({self.rule_id: live}, c)]
                for change in moved:  # the rule it matched changed: resolve it afresh on redelivery
                    self.b.ledger.transient(change, SgruleError(
                        "Runtime.RetriesExhausted", "the rule changed while the change waited", source="runtime"))
                if moved:
                    self.moved = moved
                    self.changes = [c for c in self.changes if c not in moved]
                    return bool(self.changes)
        except Transient as exc:
            journaled = {e.change_key for e in state.journal}  # settled or not: in effect, or it may be
            for change in self.changes:
                self.b.ledger.transient(change, exc.error, uncertain=change.key in journaled)
            return False
        except LeaseLost:
            for change in self.changes:
                self.b.ledger.lost(change)
            return False
        return True

    # ------------------------------------------------------------------ one change

    def _apply(self, change: Change) -> bool:
        """Work one change to its outcome; False if it left a request unsettled (the chain must stop)."""
        ledger = self.b.ledger
        settled = change.settlement()
        if isinstance(settled, InEffect) and change.sent is not None:  # put in effect by a settle
            change.attempts += settled.calls
            ledger.finish(change, "applied", after=live_fields(change.sent.params), request_id=settled.request_id)
            return True
        if isinstance(settled, Refused):
            ledger.finish(change, "rejected", error=_error(settled.error))
            return True
        decision = self._decide(change)
        if isinstance(decision, _Finish):
            if change is self.planned and not self._close_unsent():  # decided otherwise than planned
                ledger.transient(change, SgruleError("Runtime.RetriesExhausted", "its planned request could not be "
                                                     "closed", source="runtime"), uncertain=True)
                return False
            marks = self._mark(change, decision.wanted) if decision.status == "unchanged" else None
            ledger.finish(change, decision.status, before=decision.live, after=decision.after,
                          error=decision.error, marks=marks)
            return True
        params, live, desired, wanted = decision.params, decision.live, decision.desired, decision.wanted
        if change.sent is not None and not self._reconcile(change, params, live, desired, wanted):
            return True
        return self._call(change, params, live, desired, wanted)

    def _decide(self, change: Change) -> _Finish | _Call:
        """What a change comes to against our copy of the rule: an outcome without a call, or the request to
        send. Reads only (the batch plans first requests with it before the chains start)."""
        ev = change.event
        live = self.b.groups[self.group_key].rules[self.rule_id]  # type: ignore[index]
        wants = asked(change)
        wanted = {k: v for k, v in wants.items() if self.marks.get(k, -1) <= ev.time_us}
        if wants and not wanted:
            return _Finish("superseded", live, live)
        error = self._check(live, wanted)
        if error is not None:
            return _Finish("rejected", live, error=error)
        desired = {**live, **wanted}
        if desired == live and change.sent is None:
            return _Finish("unchanged", live, live, wanted=wanted)
        d = ev.data
        try:
            params = check_request({"RegionId": d.RegionId, "SecurityGroupId": d.SecurityGroupId,
                                    "SecurityGroupRuleId": self.rule_id, **desired, "ClientToken": change.token})
        except SgruleError as err:
            return _Finish("rejected", live, error=err)
        return _Call(params, live, desired, wanted)

    def _reconcile(self, change: Change, params: dict[str, str], live: dict[str, Any], desired: dict[str, Any],
                   wanted: dict[str, Any]) -> bool:
        """An earlier delivery recorded a request whose outcome nobody stored. True: send ``params`` (token
        adjusted); False: finished here.

        - The same request again: re-send it with its token -- ECS answers the first call's result if it went
          out, or applies it now; never twice.
        - A different request (the rule changed since): if what this change asks for is already in place,
          its call went out -- applied, no call; otherwise the new request gets a token of its own (the old
          token with new parameters is IdempotentParameterMismatch).
        """
        assert change.sent is not None  # reconciled only when an earlier delivery recorded a request
        sent = change.sent.params
        if without_token(params) == without_token(sent):
            change.token = params["ClientToken"] = sent["ClientToken"]
            return True
        if desired == live:
            self.b.ledger.finish(change, "applied", before=live, after=live, marks=self._mark(change, wanted))
            return False
        change.token = params["ClientToken"] = derived_token(change.token, params)
        return True

    def _check(self, live: dict[str, Any], wanted: dict[str, Any]) -> SgruleError | None:
        """What the API refuses for a rule that exists (its documented limits on modifying by ID)."""
        given = {k for k in wanted if k in DESTINATIONS}
        if given and entity(wanted) != entity(live):
            return SgruleError("InvalidOperation.ModifySgRuleEntityType",
                               f"the rule's destination is a {entity(live)}; it cannot become a {entity(wanted)}.",
                               field="data." + sorted(given)[0])
        for side in (("DestCidrIp", "Ipv6DestCidrIp"), ("SourceCidrIp", "Ipv6SourceCidrIp")):
            if any(k in wanted for k in side) and any(k in live for k in side) and \
                    not any(k in wanted and k in live for k in side):
                return SgruleError("InvalidParameter.Conflict", "the IP address family of a rule cannot change.",
                                   field="data." + next(k for k in side if k in wanted))
        if "NicType" in wanted and wanted["NicType"] != live.get("NicType", wanted["NicType"]):
            return SgruleError("InvalidOperation.ModifyNicType", field="data.NicType")
        other = self.b.groups[self.group_key].duplicate_of(self.rule_id, {**live, **wanted})
        if other is not None:
            return SgruleError("InvalidParam.InvalidModifyRuleRequest",
                               f"the modified rule would be the same as rule {other}.")
        return None

    def _call(self, change: Change, params: dict[str, str], live: dict[str, Any], desired: dict[str, Any],
              wanted: dict[str, Any]) -> bool:
        b, ledger = self.b, self.b.ledger
        change.attempts += 1  # the first attempt of this request, counted before it goes out
        entry = JournalEntry(change.key, change.token, params, {k: change.event.time_us for k in wanted},
                             change.attempts)
        planned = self.opened is not None and self.planned is change
        if planned and self.journaled and self.opened == entry:  # journaled by the batch, before the chains
            self.opened = None
            if not b.leases.holds(change.key, self.rule_key):  # the entry is the next holder's to settle
                change.attempts -= 1
                ledger.lost(change)
                return False
        else:
            if planned:  # maybe journaled, or decided otherwise since: this entry replaces it (the same token)
                self.opened = None
            try:
                if not b.leases.holds(change.key, self.rule_key):
                    raise LeaseLost(change.key, b.owner)
                b.deps.store.open_entry(change.key, b.owner, self.rule_key, entry)
            except LeaseLost:
                change.attempts -= 1
                ledger.lost(change)
                return False
        change.sent = SentRequest(params, change.attempts)
        first = True

        def count() -> None:
            nonlocal first
            if not first:
                change.attempts += 1
            first = False

        client = b.deps.ecs(params["RegionId"])
        try:
            request_id = b.retrier().call(lambda rt: modify(client, params, rt), on_attempt=count)
        except Transient as exc:  # it may or may not have taken effect: its entry stays open
            b.log.warning("transient failure", changeId=change.event.id, code=exc.error.code,
                          attempts=change.attempts, deliveries=change.deliveries)
            ledger.transient(change, exc.error, live, uncertain=True)
            return False
        except NotSent as exc:  # nothing went out: close the entry as never sent, redeliver
            b.deps.store.settle(self.rule_key, b.owner, entry, NeverSent(entry.token, exc.error.to_outcome()), None,
                                b.s.completed_ttl_s)
            change.attempts -= 1
            ledger.transient(change, exc.error, live)
            return True
        except SgruleError as err:  # refused: closed without watermarks
            ledger.finish(change, "rejected", before=live, error=err, entry=entry.token)
            return True
        b.groups[self.group_key].update(self.rule_id, desired)
        ledger.finish(change, "applied", before=live, after=desired, request_id=request_id,
                      marks=self._mark(change, wanted), entry=entry.token)
        return True

    def _mark(self, change: Change, wanted: dict[str, Any]) -> dict[str, int]:
        """The watermarks of the fields this change set: into the chain's copy now, into the store with the
        change's completion (one atomic step, before the rule lock is free)."""
        new = {k: change.event.time_us for k in wanted}
        for k, t in new.items():
            self.marks[k] = max(t, self.marks.get(k, t))
        return new


def _error(raw: dict[str, Any]) -> SgruleError:
    return SgruleError(raw.get("code", "InternalError"), raw.get("message"), http_status=raw.get("httpStatus"),
                       source=raw.get("source", "ecs"))


@dataclass
class _Finish:
    """A change's outcome without a call."""

    status: Status
    live: dict[str, Any]
    after: dict[str, Any] | None = None
    error: SgruleError | None = None
    wanted: dict[str, Any] = field(default_factory=dict)  # what an `unchanged` change sets (its watermarks)


@dataclass
class _Call:
    """The request a change sends."""

    params: dict[str, str]
    live: dict[str, Any]
    desired: dict[str, Any]
    wanted: dict[str, Any]

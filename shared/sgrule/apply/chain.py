"""One rule's changes, newest first, under the rule's lock.

1. Take the lock (it comes with the rule's watermarks, version and open journal entries).
2. Settle the journal: whatever a crashed holder left open is put in effect before anything else.
3. Read the rule again if the store says it was written since this batch read it (or after settling).
4. Each change: keep only the fields no newer change has set (watermarks); stateful checks; no-op
   detection; journal the intent; Modify with the change's ClientToken; queue the outcome with the new
   watermarks. If a request is left uncertain (transient failure), the chain stops: nothing older may
   touch the rule until that request is settled.
5. Free the lock -- in the same store step that records the last outcome's watermarks.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..clients.ecs import live_fields, modify
from ..clients.retry import NotSent, Transient
from ..contract.errors import SgruleError
from ..contract.event import check_request
from ..contract.rule import DESTINATIONS
from ..store import JournalEntry, LeaseLost, RuleState
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
                    self.b.ledger.transient(change, SgruleError("Runtime.Unexpected", repr(exc), source="runtime"))
                    go_on = False  # what it left behind is unknown: nothing older may follow it
                if not go_on:
                    return self._give_up(self.changes[i + 1:], "an earlier change to this rule is unsettled")
        finally:
            self._unlock()

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
            self.b.ledger.transient(change, SgruleError("Runtime.RetriesExhausted", why, source="runtime"))

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
                        ours[key].settled = {**settled, "calls": 0}  # already counted
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
        ledger, ev = self.b.ledger, change.event
        settled = change.settlement()
        if settled is not None and settled.get("error", {}).get("source") != "runtime":
            if "requestId" in settled:  # its request was put in effect by a settle
                change.attempts += int(settled.get("calls", 0))
                ledger.finish(change, "applied", after=live_fields(change.sent["params"]),  # type: ignore[index]
                              request_id=settled["requestId"])
            else:
                ledger.finish(change, "rejected", error=_error(settled["error"]))
            return True
        group = self.b.groups[self.group_key]
        live = group.rules[self.rule_id]  # type: ignore[index]
        wants = asked(change)
        wanted = {k: v for k, v in wants.items() if self.marks.get(k, -1) <= ev.time_us}
        if wants and not wanted:
            ledger.finish(change, "superseded", before=live, after=live)
            return True
        error = self._check(live, wanted)
        if error is not None:
            ledger.finish(change, "rejected", before=live, error=error)
            return True
        desired = {**live, **wanted}
        if desired == live and change.sent is None:
            ledger.finish(change, "unchanged", before=live, after=live, marks=self._mark(change, wanted))
            return True
        d = ev.data
        try:
            params = check_request({"RegionId": d.RegionId, "SecurityGroupId": d.SecurityGroupId,
                                    "SecurityGroupRuleId": self.rule_id, **desired, "ClientToken": change.token})
        except SgruleError as err:
            ledger.finish(change, "rejected", before=live, error=err)
            return True
        if change.sent is not None and not self._reconcile(change, params, live, desired, wanted):
            return True
        return self._call(change, params, live, desired, wanted)

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
        sent = change.sent["params"]  # type: ignore[index]
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
        try:
            if not b.leases.holds(change.key, self.rule_key):
                raise LeaseLost(change.key, b.owner)
            b.deps.store.open_entry(change.key, b.owner, self.rule_key, entry)
        except LeaseLost:
            change.attempts -= 1
            ledger.lost(change)
            return False
        change.sent = {"params": params, "attempts": change.attempts}
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
            b.deps.store.settle(self.rule_key, b.owner, entry, {"token": entry.token, "error": exc.error.to_outcome()},
                                None, b.s.completed_ttl_s)
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

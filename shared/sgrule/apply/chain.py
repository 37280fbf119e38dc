"""One rule's changes, newest first, under the rule's lock.

1. Take the lock (it comes with the rule's watermarks, version and open journal entries).
2. Settle the journal: whatever a crashed holder left open is put in effect before anything else.
3. Read the rule again if the store says it was written since this batch read it (or after settling).
4. Each change: keep only the fields no newer change has set (watermarks); stateful checks; no-op
   detection (:func:`.decide.decide`); journal the intent; Modify with the change's ClientToken; queue the
   outcome with the new watermarks. (A chain with nothing to settle may be given its first request planned
   and journaled by the batch, with every other chain's, in one store step before the chains start: see
   :mod:`.plan`.) If a request is left uncertain (transient failure), the chain stops: nothing older may
   touch the rule until that request is settled.
5. Free the lock -- in the same store step that records the last outcome's watermarks.

A chain receives a :class:`~.context.ChainContext` (the few collaborators it uses), never the batch.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from ..clients.budget import MODIFY, NoCallBeforeDeadline, no_call_error
from ..clients.ecs import live_fields, modify_answer
from ..clients.retry import NotSent, Transient
from ..contract.errors import SgruleError
from ..store import InEffect, JournalEntry, LeaseLost, NeverSent, Refused, RuleState, SentRequest
from .change import Change, derived_token, without_token
from .context import ChainContext
from .decide import Call, Finish, decide
from .groups import matches
from .journal import settle
from .plan import Planned

_WAIT_S = 0.05  # poll interval for a rule another worker holds


class RuleChain:
    def __init__(self, ctx: ChainContext, changes: list[Change], state: RuleState | None,
                 planned: Planned | None = None) -> None:
        assert changes[0].rule_id is not None  # chains are made of resolved changes
        self.ctx = ctx
        self.changes = changes
        self.state = state
        self.rule_key = changes[0].rule_key
        self.group_key = changes[0].group_key
        self.rule_id: str = changes[0].rule_id
        self.marks: dict[str, int] = {}
        self.moved: list[Change] = []  # by-match changes whose rule no longer matches (left for redelivery)
        # The change whose request the batch planned, and its entry (journaled or maybe journaled) until it is
        # sent or closed.
        self._planned = planned.change if planned else None
        self._opened = planned.entry if planned else None
        self._journaled = planned.journaled if planned else False
        self._no_call: NoCallBeforeDeadline | None = None  # the fleet budget had no ECS call left in time

    # ------------------------------------------------------------------ the chain

    def run(self) -> None:
        state = self.state or self._wait_for_lock()
        if state is None:
            return
        self.ctx.leases.hold(rules=[self.rule_key])
        try:
            self.marks = dict(state.marks)
            if not self._prepare(state):
                return
            self.changes[-1].last_in_chain = True
            for i, change in enumerate(self.changes):
                if time.monotonic() >= self.ctx.deadline:  # no new work past the budget: redeliver the rest
                    return self._give_up(self.changes[i:], "the invocation ran out of time before this change")
                try:
                    go_on = self._apply(change)
                except Exception as exc:  # noqa: BLE001 - one change's bug must not lose the others
                    self.ctx.log.error("unexpected error", changeId=change.event.id, error=repr(exc))
                    closed = change is not self._planned or self._close_unsent()
                    # A request journaled this delivery (``sent``) may have gone out before the error.
                    self.ctx.ledger.transient(change, SgruleError("Runtime.Unexpected", repr(exc), source="runtime"),
                                              uncertain=not closed or change.sent is not None)
                    go_on = False  # what it left behind is unknown: nothing older may follow it
                if not go_on:
                    return self._give_up(self.changes[i + 1:], "an earlier change to this rule is unsettled")
                if self._no_call is not None:  # the rest would find no call either: redelivered, as it was
                    return self._give_up(self.changes[i + 1:], "no ECS call was left for this batch in time")
        finally:
            try:
                self._close_unsent()  # nothing planned stays open past the chain (normally closed already)
            finally:
                self._unlock()

    def _close_unsent(self) -> bool:
        """The planned request, journaled (or maybe journaled) but not sent -- its change ended without it,
        or the chain gave up before it: closed as never sent, so no later holder of the rule puts it in
        effect. False if it may still be open (the store refused or failed): then whoever takes the rule
        next settles it, and the change must say its request may still take effect."""
        entry, self._opened = self._opened, None
        if entry is None:
            return True
        try:
            self.ctx.store.settle(self.rule_key, self.ctx.owner, entry, NeverSent(entry.token), None,
                                  self.ctx.completed_ttl_s)
        except Exception as exc:  # noqa: BLE001 - LeaseLost or a store error: the entry may stay open
            self.ctx.log.warning("could not close an unsent request", rule=self.rule_key, error=repr(exc))
            return False
        return True

    def _wait_for_lock(self) -> RuleState | None:
        ctx = self.ctx
        while True:
            state = ctx.store.lock_rules([self.rule_key], ctx.owner, ctx.lease_s)[self.rule_key]
            if state is not None:
                return state
            if time.monotonic() + _WAIT_S >= ctx.deadline:
                self._give_up(self.changes, "the rule is locked by another worker")
                return None
            time.sleep(_WAIT_S)

    def _give_up(self, changes: list[Change], why: str) -> None:
        """Leave ``changes`` for redelivery; after the fleet budget had no call in time, as not tried at all."""
        for change in changes:
            closed = change is not self._planned or self._close_unsent()
            if self._no_call is not None:
                self.ctx.ledger.no_call(change, no_call_error(self._no_call))
            else:
                self.ctx.ledger.transient(change, SgruleError("Runtime.RetriesExhausted", why, source="runtime"),
                                          uncertain=not closed)

    def _unlock(self) -> None:
        """Free the rule, but never before the watermarks of its finished changes are stored: if a
        completion of this chain is still queued, the release goes with it (one atomic step in the flush)."""
        if any(c.released_rule for c in self.changes):
            return
        if not self.ctx.ledger.release_with(self.changes + self.moved, self.rule_key):
            self.ctx.store.release_rule_lock(self.rule_key, self.ctx.owner)
            self.ctx.leases.drop(rules=[self.rule_key])

    def _prepare(self, state: RuleState) -> bool:
        """Settle the journal and make our copy of the rule current; False if the chain cannot go on."""
        ctx, ledger = self.ctx, self.ctx.ledger
        try:
            if state.journal:
                ours = {c.key: c for c in self.changes}

                def count(key: str) -> None:  # the settle's calls are its change's attempts
                    if key in ours:
                        ours[key].attempts += 1

                region = self.group_key[0]
                learnt = settle(state.journal, store=ctx.store, owner=ctx.owner, rule_key=self.rule_key,
                                client=ctx.ecs(region), retrier=lambda: ctx.retrier(region, MODIFY), marks=self.marks,
                                ttl_s=ctx.completed_ttl_s, on_attempt=count)
                for key, settled in learnt.items():
                    if key in ours:  # its calls are counted already
                        ours[key].settled = replace(settled, calls=0) if isinstance(settled, InEffect) else settled
            if state.journal or state.version > ctx.groups[self.group_key].seen(self.rule_id):
                live = ctx.groups.refresh_rule(self.group_key, self.rule_id)
                if live is None:
                    for change in self.changes:
                        ledger.finish(change, "rejected", error=SgruleError(
                            "SecurityGroupRule.NotFound", f"rule {self.rule_id} was deleted."))
                    return False
                moved = [c for c in self.changes if c.event.data.mode == "by_match"
                         and not matches({self.rule_id: live}, c)]
                for change in moved:  # the rule it matched changed: resolve it afresh on redelivery
                    ledger.transient(change, SgruleError(
                        "Runtime.RetriesExhausted", "the rule changed while the change waited", source="runtime"))
                if moved:
                    self.moved = moved
                    self.changes = [c for c in self.changes if c not in moved]
                    return bool(self.changes)
        except (Transient, SgruleError) as exc:  # the rule could not be read (a 4xx too): read again on redelivery
            error = exc.error if isinstance(exc, Transient) else exc
            journaled = {e.change_key for e in state.journal}  # settled or not: in effect, or it may be
            for change in self.changes:
                ledger.transient(change, error, uncertain=change.key in journaled)
            return False
        except NoCallBeforeDeadline as exc:  # a settle or a read found no call in time: open entries stay open
            self._no_call = exc
            for change in self.changes:
                ledger.no_call(change, no_call_error(exc))
            return False
        except LeaseLost:
            for change in self.changes:
                ledger.lost(change)
            return False
        return True

    # ------------------------------------------------------------------ one change

    def _apply(self, change: Change) -> bool:
        """Work one change to its outcome; False if it left a request unsettled (the chain must stop)."""
        ledger = self.ctx.ledger
        settled = change.settlement()
        if isinstance(settled, InEffect) and change.sent is not None:  # put in effect by a settle
            change.attempts += settled.calls
            ledger.finish(change, "applied", after=live_fields(change.sent.params), request_id=settled.request_id)
            return True
        if isinstance(settled, Refused):
            ledger.finish(change, "rejected", error=_error(settled.error))
            return True
        decision = decide(change, self.rule_id, self.ctx.groups[self.group_key], self.marks, self.ctx.guard)
        if isinstance(decision, Finish):
            if change is self._planned and not self._close_unsent():  # decided otherwise than planned
                ledger.transient(change, SgruleError("Runtime.RetriesExhausted", "its planned request could not be "
                                                     "closed", source="runtime"), uncertain=True)
                return False
            marks = self._mark(change, decision.wanted) if decision.status == "unchanged" else None
            ledger.finish(change, decision.status, before=decision.live, after=decision.after,
                          error=decision.error, marks=marks, guardrails=decision.guardrails)
            return True
        if change.sent is not None and not self._reconcile(change, change.sent, decision):
            return True
        return self._call(change, decision)

    def _reconcile(self, change: Change, sent: SentRequest, call: Call) -> bool:
        """An earlier delivery recorded a request (``sent``) whose outcome nobody stored. True: send
        ``call.params`` (token adjusted); False: finished here.

        - The same request again: re-send it with its token -- ECS answers the first call's result if it went
          out, or applies it now; never twice.
        - A different request (the rule changed since): if what this change asks for is already in place,
          its call went out -- applied, no call; otherwise the new request gets a token of its own (the old
          token with new parameters is IdempotentParameterMismatch).
        """
        params = call.params
        if without_token(params) == without_token(sent.params):
            change.token = params["ClientToken"] = sent.params["ClientToken"]
            return True
        if call.desired == call.live:
            self.ctx.ledger.finish(change, "applied", before=call.live, after=call.live,
                                   marks=self._mark(change, call.wanted), guardrails=call.guardrails)
            return False
        change.token = params["ClientToken"] = derived_token(change.token, params)
        return True

    def _call(self, change: Change, call: Call) -> bool:
        ctx, ledger = self.ctx, self.ctx.ledger
        params, live = call.params, call.live
        change.attempts += 1  # the first attempt of this request, counted before it goes out
        entry = JournalEntry(change.key, change.token, params, {k: change.event.time_us for k in call.wanted},
                             change.attempts)
        planned = self._opened is not None and self._planned is change
        if planned and self._journaled and self._opened == entry:  # journaled by the batch, before the chains
            self._opened = None
            if not ctx.leases.holds(change.key, self.rule_key):  # the entry is the next holder's to settle
                change.attempts -= 1
                ledger.lost(change)
                return False
        else:
            if planned:  # maybe journaled, or decided otherwise since: this entry replaces it (the same token)
                self._opened = None
            try:
                if not ctx.leases.holds(change.key, self.rule_key):
                    raise LeaseLost(change.key, ctx.owner)
                ctx.store.open_entry(change.key, ctx.owner, self.rule_key, entry)
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

        client = ctx.ecs(params["RegionId"])
        went_out = False  # an attempt got its call from the budget (and so may have taken effect)

        def send(runtime: Any) -> tuple[str, bool]:
            nonlocal went_out
            went_out = True
            return modify_answer(client, params, runtime)

        try:
            request_id, replayed = ctx.retrier(params["RegionId"], MODIFY).call(send, on_attempt=count)
        except NoCallBeforeDeadline as exc:  # the attempt that raised it sent nothing
            change.attempts -= 1
            self._no_call = exc
            if went_out:  # an earlier attempt may have taken effect: its entry stays open, the chain stops
                ledger.no_call(change, no_call_error(exc))
                return False
            try:
                ctx.store.settle(self.rule_key, ctx.owner, entry,
                                 NeverSent(entry.token, no_call_error(exc).to_outcome()), None, ctx.completed_ttl_s)
            except Exception as error:  # noqa: BLE001 - LeaseLost or a store error: whoever settles it re-sends it
                ctx.log.warning("could not close an unsent request", rule=self.rule_key, error=repr(error))
                ledger.no_call(change, no_call_error(exc))
                return False
            ledger.no_call(change, no_call_error(exc))
            return True  # nothing of it is in flight: the rest of the chain is given back as it is
        except Transient as exc:  # it may or may not have taken effect: its entry stays open
            ctx.log.warning("transient failure", changeId=change.event.id, code=exc.error.code,
                            attempts=change.attempts, deliveries=change.deliveries)
            ledger.transient(change, exc.error, live, uncertain=True)
            return False
        except NotSent as exc:  # nothing went out: close the entry as never sent, redeliver
            ctx.store.settle(self.rule_key, ctx.owner, entry, NeverSent(entry.token, exc.error.to_outcome()), None,
                             ctx.completed_ttl_s)
            change.attempts -= 1
            ledger.transient(change, exc.error, live)
            return True
        except SgruleError as err:  # refused: closed without watermarks
            ledger.finish(change, "rejected", before=live, error=err, entry=entry.token, guardrails=call.guardrails)
            return True
        if replayed:  # an old answer: what the rule is now is read, never assumed
            return self._replayed(change, entry.token, live, call, request_id)
        ctx.groups[self.group_key].update(self.rule_id, call.desired)
        ledger.finish(change, "applied", before=live, after=call.desired, request_id=request_id,
                      marks=self._mark(change, call.wanted), entry=entry.token, guardrails=call.guardrails)
        return True

    def _replayed(self, change: Change, token: str, live: dict[str, Any], call: Call, request_id: str) -> bool:
        """ECS answered a ClientToken replay: the outcome's ``after`` is the rule as read now. In place as
        wanted: ``applied``; otherwise ``rejected`` ``ClientToken.Replayed`` (nothing was changed now)."""
        ctx = self.ctx
        ledger = ctx.ledger
        ctx.log.warning("ClientToken replay answered", changeId=change.event.id, requestId=request_id)
        try:
            now = ctx.groups.refresh_rule(self.group_key, self.rule_id)
        except Transient as exc:  # the rule cannot be seen: its entry stays open, a redelivery looks again
            ledger.transient(change, exc.error, live, uncertain=True)
            return False
        except NoCallBeforeDeadline as exc:  # the same, for want of a call in time
            self._no_call = exc
            ledger.no_call(change, no_call_error(exc))
            return False
        except SgruleError as err:
            ledger.finish(change, "rejected", before=live, error=err, entry=token, guardrails=call.guardrails)
            return True
        if now == call.desired:
            ledger.finish(change, "applied", before=live, after=now, request_id=request_id,
                          marks=self._mark(change, call.wanted), entry=token, guardrails=call.guardrails)
            return True
        ledger.finish(change, "rejected", before=live, after=now, request_id=request_id, entry=token,
                      guardrails=call.guardrails,
                      error=SgruleError("ClientToken.Replayed", f"ECS answered ClientToken {token} with the result "
                                        f"of an earlier request ({request_id}) and changed nothing now; send the "
                                        "change again with a new id.", source="ecs"))
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

"""Where a batch's changes end: exactly one outcome each, and what the store must remember of it.

Outcomes of finished changes wait here and go to the store together (:meth:`Ledger.flush`): those of
every 16 changes whose chains have finished while the batch works, and the rest at the end of each pass.
A crash before that loses nothing, because each Modify's intent is in the rule's journal before the call,
and whoever takes the rule next settles it. Once stored, outcomes are handed to ``on_stored`` (the outbox that publishes them).
"""
from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

from ..contract.errors import SgruleError
from ..contract.outcome import Status, build
from ..store import Completion, RuleJournal
from .change import Change

if TYPE_CHECKING:
    from ..runtime.log import Logger
    from .config import ApplySettings
    from .leases import Heartbeat


class Ledger:
    def __init__(self, settings: ApplySettings, store: RuleJournal, owner: str, log: Logger,
                 leases: Heartbeat, on_stored: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        self.s, self.store, self.owner, self.log, self.leases = settings, store, owner, log, leases
        self.on_stored = on_stored
        self._outcomes: list[dict[str, Any] | None] = []
        self._redeliver: list[int] = []  # indexes of the changes left for redelivery
        self._pending: list[tuple[Change, Completion]] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ what the batch reads and sets

    def start(self, size: int) -> None:
        """A batch of ``size`` items: none has an outcome yet."""
        self._outcomes = [None] * size

    def outcome(self, index: int, outcome: dict[str, Any] | None) -> None:
        """Item ``index`` ends with ``outcome`` without any work here (rejected on admission, or its stored
        outcome replayed)."""
        self._outcomes[index] = outcome

    def same_as(self, index: int, original: int) -> None:
        """Item ``index`` is the same change as item ``original``: the same outcome, or redelivered too."""
        self._outcomes[index] = self._outcomes[original]
        with self._lock:
            if original in self._redeliver:
                self._redeliver.append(index)

    @property
    def outcomes(self) -> list[dict[str, Any] | None]:
        """Per item, its outcome (None: it must be redelivered)."""
        return list(self._outcomes)

    @property
    def redelivered(self) -> list[int]:
        """The indexes of the items left for redelivery (a change's may repeat)."""
        with self._lock:
            return list(self._redeliver)

    # ------------------------------------------------------------------ how a change ends

    def finish(self, change: Change, status: Status, *, before: dict[str, Any] | None = None,
               after: dict[str, Any] | None = None, error: SgruleError | None = None, request_id: str | None = None,
               store: bool = True, marks: dict[str, int] | None = None, entry: str | None = None,
               id_variant: str | None = None, guardrails: list[dict[str, Any]] | None = None) -> None:
        """The change's one outcome; with ``store``, queued for the store with its watermarks (``marks``)
        and the journal entry it closes. ``guardrails``: what the outcome records of them."""
        ev, d = change.event, change.event.data
        token = change.token if (request_id or change.attempts or change.sent) else None
        outcome = build(status=status, source=self.s.outcome_source, change_source=ev.source, change_id=ev.id,
                        region_id=d.RegionId, security_group_id=d.SecurityGroupId, rule_id=change.rule_id,
                        client_token=token, request_id=request_id, before=before, after=after, error=error,
                        attempts=change.attempts, correlation_id=ev.correlationid, id_variant=id_variant,
                        guardrails=guardrails)
        if store:
            in_chain = change.rule_id is not None and bool(marks or entry or change.last_in_chain)
            change.completion = Completion(ev.key, outcome, change.rule_key if in_chain else None, marks,
                                           release_rule=change.last_in_chain and in_chain, entry=entry)
            with self._lock:
                self._pending.append((change, change.completion))
        self._outcomes[change.index] = outcome

    def reject(self, change: Change, error: SgruleError, id_variant: str | None = None) -> None:
        """Rejected before the claim (nothing stored: the same input is rejected the same way again)."""
        self.finish(change, "rejected", error=error, store=False, id_variant=id_variant)

    def transient(self, change: Change, error: SgruleError, live: dict[str, Any] | None = None,
                  uncertain: bool = False) -> None:
        """Still failing transiently: left for redelivery, or ``failed`` after the last delivery.
        ``uncertain``: its request may have gone out (its journal entry stays open), which ``failed`` says."""
        if change.deliveries >= self.s.max_deliveries:
            note = (f"; its last request (ClientToken {change.token}) may still have taken effect: it is re-sent "
                    "before any other change to this rule" if uncertain else "")
            err = SgruleError("Runtime.RetriesExhausted", f"still failing after {change.deliveries} deliveries: "
                              f"{error.code}: {error.message}{note}", source="runtime")
            return self.finish(change, "failed", before=live, error=err)
        self.retry_later(change, error)

    def no_call(self, change: Change, error: SgruleError) -> None:
        """No ECS call could be had for it before the deadline (the fleet's call budget): left for
        redelivery, never ``failed``, and this delivery does not count towards ``max_deliveries``."""
        self.retry_later(change, error, uncount=True)

    def retry_later(self, change: Change, error: SgruleError, release: bool = True, uncount: bool = False) -> None:
        if release:  # the attempts made since its request was journaled go with it
            sent = replace(change.sent, attempts=change.attempts) if change.sent else None
            self.store.release(change.key, self.owner, sent, uncount=uncount)
            self.leases.drop(keys=[change.key])
        self.log.warning("left for redelivery", changeId=change.event.id, code=error.code)
        with self._lock:
            self._redeliver.append(change.index)

    def lost(self, change: Change) -> None:
        """Our lease ran out and another worker took the change (or its rule) over: it answers."""
        self.leases.drop(keys=[change.key])
        with self._lock:
            self._redeliver.append(change.index)

    def release_with(self, changes: list[Change], rule_key: str) -> bool:
        """Free ``rule_key``'s lock with the last completion of ``changes`` still waiting for the store (one
        atomic step in the flush, after its watermarks); False if none is queued (the caller frees it)."""
        queued = next((c.completion for c in reversed(changes) if c.completion is not None), None)
        if queued is None:
            return False
        queued.rule_key, queued.release_rule = rule_key, True
        return True

    def flush(self, busy: Callable[[Change], bool] | None = None) -> None:
        """Store the outcomes of finished changes (with watermarks and closed entries, freeing rules).
        ``busy``: changes whose chain still runs, left queued (the chain may still attach its rule's
        release to its last completion)."""
        with self._lock:
            if busy is None:
                pending, self._pending = self._pending, []
            else:
                pending = [p for p in self._pending if not busy(p[0])]
                self._pending = [p for p in self._pending if busy(p[0])]
        if not pending:
            return
        try:
            done = self.store.complete_many([item for _, item in pending], self.owner, self.s.completed_ttl_s)
        except BaseException:
            with self._lock:  # not stored: queued again, for the next flush
                self._pending[:0] = pending
            raise
        for (change, item), ok in zip(pending, done):
            if not ok:  # our lease ran out and another worker took the change over: it answers
                self._outcomes[change.index] = None
                self.lost(change)
                if item.release_rule and item.rule_key:
                    self.store.release_rule_lock(item.rule_key, self.owner)
        self.leases.drop(keys=[c.key for c, _ in pending],
                         rules=[item.rule_key for _, item in pending if item.release_rule and item.rule_key])
        if self.on_stored is not None:
            self.on_stored([item.outcome for (_, item), ok in zip(pending, done) if ok])

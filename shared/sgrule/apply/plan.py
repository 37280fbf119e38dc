"""First requests, decided and journaled before the chains start.

Each chain used to journal its first request itself while all of them ran, queueing for the store and the
GIL. Instead the batch decides every chain's first request that nothing stands before -- the rule's lock is
held, nothing is left to settle or read again, and the first change needs a call (decided by :func:`decide`
exactly as the chain will decide it) -- and journals them all in one store step. Each chain is then given its
:class:`Planned` request; one not planned, or not journaled, is journaled by its chain as before.
Planning changes nothing: a chain whose plan is not used decides afresh (and closes the planned entry).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..store import JournalEntry, LeaseLost, RuleState
from .change import Change
from .context import ChainContext
from .decide import Call, decide


@dataclass(frozen=True)
class Planned:
    """A chain's first request, journaled before it started (``journaled``), or perhaps journaled (the store
    step failed: it may be there)."""

    change: Change
    entry: JournalEntry
    journaled: bool


def first_request(changes: list[Change], state: RuleState | None, ctx: ChainContext) -> JournalEntry | None:
    """The journal entry of the first request of a chain of ``changes`` (its rule's lock came with ``state``),
    when nothing stands before it; else None."""
    first = changes[0]
    if state is None or state.journal or first.sent is not None or first.settlement() is not None \
            or first.rule_id is None:
        return None
    group = ctx.groups[first.group_key]
    if state.version > group.seen(first.rule_id):
        return None
    decision = decide(first, first.rule_id, group, dict(state.marks), ctx.guard)
    if not isinstance(decision, Call):
        return None
    return JournalEntry(first.key, first.token, decision.params, {k: first.event.time_us for k in decision.wanted},
                        first.attempts + 1)


def journal_first_requests(chains: dict[str, tuple[list[Change], RuleState | None]],
                           ctx: ChainContext) -> dict[str, Planned]:
    """Per rule key, the first request of its chain, journaled with every other chain's in one store step (one
    transaction for SQLite). A rule missing from the result plans nothing: its chain journals its own."""
    planned: list[tuple[str, Change, JournalEntry]] = []
    for rule_key, (changes, state) in chains.items():
        try:
            entry = first_request(changes, state, ctx)
        except Exception as exc:  # noqa: BLE001 - the chain meets it again, and answers for its change
            ctx.log.warning("could not plan a request", rule=rule_key, error=repr(exc))
            continue
        if entry is not None:
            planned.append((rule_key, changes[0], entry))
    if not planned:
        return {}
    try:
        results: list[int | LeaseLost | None] = list(ctx.store.open_entries(
            [(e.change_key, ctx.owner, rule_key, e) for rule_key, _, e in planned]))
    except Exception as exc:  # noqa: BLE001 - some may be written: each chain journals its own again
        ctx.log.warning("could not journal the first requests together", error=repr(exc))
        results = [None] * len(planned)
    # A lost lease wrote nothing: that chain plans nothing. Otherwise in the journal (a version), or maybe (None).
    return {rule_key: Planned(change, entry, journaled=result is not None)
            for (rule_key, change, entry), result in zip(planned, results) if not isinstance(result, LeaseLost)}

"""Settling a rule's journal: what a crashed (or timed-out) holder left open is put in effect first.

Each open entry is a Modify whose outcome nobody recorded: it may have taken effect, or not. Re-sending it
with its own ClientToken settles that: ECS applies it now, or answers the first call's result without a new
effect. Either way it is then in effect, and its watermarks are recorded before any other change -- an
older one above all -- may touch the rule. An entry ECS refuses (a definite 4xx) is closed without
watermarks; one whose request could not even be built is closed as never sent. Entries settle oldest first,
the order they were written in; a transient failure leaves the rest open for the next holder.
"""
from __future__ import annotations

from typing import Any, Callable

from ..clients.ecs import modify
from ..clients.retry import NotSent, Retrier
from ..contract.errors import SgruleError
from ..store import InEffect, JournalEntry, NeverSent, RuleJournal, Settlement
from ..store.records import failed


def settle(entries: list[JournalEntry], *, store: RuleJournal, owner: str, rule_key: str, client: Any,
           retrier: Callable[[], Retrier], marks: dict[str, int], ttl_s: float,
           on_attempt: Callable[[str], None] = lambda key: None) -> dict[str, Settlement]:
    """Settle ``entries`` (oldest first); ``marks`` (the rule's watermarks) gains theirs; ``on_attempt(change
    key)`` is told of every call. Returns, per change key, what its entry's settling learnt (``calls``: the
    Modify calls it took). Raises :class:`~sgrule.clients.retry.Transient` or
    :class:`~sgrule.clients.budget.NoCallBeforeDeadline` (entries from the failing one on stay open) or
    :class:`~sgrule.store.LeaseLost`."""
    learnt: dict[str, Settlement] = {}
    for entry in sorted(entries, key=lambda e: e.seq):
        times: dict[str, int] | None = None
        calls = 0

        def count(key: str = entry.change_key) -> None:
            nonlocal calls
            calls += 1
            on_attempt(key)

        try:
            # Called at once, within this entry's turn of the loop.
            request_id = retrier().call(lambda rt: modify(client, entry.params, rt), on_attempt=count)  # noqa: B023
        except SgruleError as err:  # refused: it never took effect
            settled: Settlement = failed(entry.token, err.to_outcome())
        except NotSent as exc:  # could not even be built: nothing went out
            settled = NeverSent(entry.token, exc.error.to_outcome())
        else:
            settled = InEffect(entry.token, request_id, calls)
            times = entry.field_times
        store.settle(rule_key, owner, entry, settled, times, ttl_s)
        for name, t in (times or {}).items():
            marks[name] = max(t, marks.get(name, t))
        learnt[entry.change_key] = settled
    return learnt

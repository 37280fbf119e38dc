"""The store the apply function keeps its promises in: change claims, rule locks, watermarks, the journal.

Events arrive at least once and in any order, on many Function Compute instances at once.

- A change key is **claimed** before any work; the claim is a short **lease**, renewed by a heartbeat while its
  holder lives, so a killed instance blocks the change for one lease at most. A completed change keeps its
  outcome: a redelivery replays it.
- A rule is **locked** (also a renewed lease) while one instance works on it. With the lock come the rule's
  **watermarks** (per field, the event time of the newest change that set it: an older change never
  overwrites a newer one) and its **version** (the store's own sequence at the rule's last journal event).
- Before a Modify goes out, its intent is written to the rule's **journal** (:meth:`IdempotencyStore.open_entry`),
  atomically with the check that the claim and the lock are still ours. An entry is closed when its change
  completes (with its watermarks), or **settled** by whoever next takes the rule after a crash: re-sent with
  its own ClientToken, so it is in effect before anything else touches the rule.

Every time in here is the store's: lease expiry uses the store's clock (Redis ``TIME``; SQLite: the one
machine's), versions the store's sequence. No decision compares two instances' wall clocks.
Backends: :mod:`.sqlite` (default, one machine) and :mod:`.redis` (many instances); both pass the same
contract tests.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, Protocol, overload, runtime_checkable

from .records import JournalEntry, SentRequest, Settlement

# How long an in-progress record outlives its lease at least, so a crashed claim's sent_request is still
# visible to the next delivery (redelivery can be late).
LEASE_MARGIN_S = 60.0
# Default retention of in-progress records. Keep it >= the ttl_s passed to complete(): a change that
# crashed mid-flight must be remembered at least as long as one that finished.
DEFAULT_RETENTION_S = 24 * 3600.0


class ClaimStatus(str, Enum):
    ACQUIRED = "acquired"        # the caller now holds the lease and must apply the change
    COMPLETED = "completed"      # already applied; record.outcome is the stored outcome event
    IN_PROGRESS = "in_progress"  # another owner holds a live lease; try again later
    MISMATCH = "mismatch"        # same key, different payload (fingerprint): IdempotentParameterMismatch


@dataclass
class Record:
    key: str
    fingerprint: str                    # hash of the change payload
    status: Literal["in_progress", "completed"]
    deliveries: int                     # times this key has been ACQUIRED (1 on first claim)
    owner: str | None                   # lease holder (in_progress); who completed it (completed)
    lease_expires_at: float             # epoch seconds (store clock); past this, may be taken over
    sent_request: SentRequest | None = None  # the change's last request, written before it went out
    outcome: dict[str, Any] | None = None       # the stored outcome event (completed)
    expires_at: float | None = None     # epoch seconds when the store forgets the record
    settled: Settlement | None = None   # what another instance's settle of that request learnt


@dataclass
class Claim:
    status: ClaimStatus
    record: Record


@dataclass
class RuleState:
    """A rule as the store knows it (read with its lock)."""

    marks: dict[str, int] = field(default_factory=dict)  # field -> time (epoch µs) of the newest change that set it
    version: int = 0     # the store's sequence at the rule's last journal event (0: never journaled)
    journal: list[JournalEntry] = field(default_factory=list)  # open entries, oldest first: settle them first


@dataclass
class Completion:
    """One :meth:`IdempotencyStore.complete` of a :meth:`IdempotencyStore.complete_many`."""

    key: str
    outcome: dict[str, Any]
    rule_key: str | None = None
    field_times: dict[str, int] | None = None
    release_rule: bool = False
    entry: str | None = None  # the token of the journal entry this completion closes


class LeaseLost(Exception):
    """A write by an owner that no longer holds the lease it needs (the change's claim, or the rule's lock):
    it expired and another owner took over, or the key is gone. The caller must not call the API."""

    def __init__(self, key: str, owner: str) -> None:
        super().__init__(f"{key!r} is not held by owner {owner!r}")
        self.key = key
        self.owner = owner


# The store is three small interfaces; each caller is typed with the one it uses, and a backend implements what
# it offers (both backends here offer all three: :class:`IdempotencyStore`).

class Claims(Protocol):
    """Claim a key, then complete it with a result or release it: what the webhook and notify keep (their
    deliveries and posts, with :mod:`sgrule.store.claims`), and how apply claims its changes."""

    def claim(self, key: str, fingerprint: str, owner: str, lease_s: float) -> Claim:
        """Atomically: new key -> ACQUIRED (deliveries=1); different fingerprint -> MISMATCH (any status);
        completed -> COMPLETED; in_progress with a live lease of another owner -> IN_PROGRESS; in_progress
        with an expired lease, released, or our own -> ACQUIRED with deliveries+1, sent_request kept."""
        ...

    def complete(self, key: str, owner: str, outcome: dict[str, Any], ttl_s: float) -> None:
        """Store the outcome; the completed record is kept ttl_s. Repeating it is a no-op. Raises
        :class:`LeaseLost` if another owner took the key over."""
        ...

    def release(self, key: str, owner: str) -> None:
        """End our lease now, so a retry (ours or another's) may claim the key at once (deliveries kept). No-op
        if not ours."""
        ...

    def get(self, key: str) -> Record | None: ...

    def close(self) -> None: ...


class RuleJournal(Claims, Protocol):
    """Apply's side of the store: changes claimed and completed many at a time, rule locks with their
    watermarks, version and journal, leases renewed together, the store's sequence."""

    def claim_many(self, items: list[tuple[str, str]], owner: str, lease_s: float) -> list[Claim]:
        """:meth:`claim` for each ``(key, fingerprint)``, in order, in one round trip / transaction."""
        ...

    def complete_many(self, items: list[Completion], owner: str, ttl_s: float) -> list[bool]:
        """:meth:`complete` for each, in order, in one round trip / transaction; False where the lease was
        lost (what ``complete`` raises :class:`LeaseLost` for)."""
        ...

    def release(self, key: str, owner: str, sent: SentRequest | None = None, *, uncount: bool = False) -> None:
        """Transient failure: end our lease now (deliveries kept; sent_request replaced by ``sent`` if given,
        e.g. with the attempts made since it was written). ``uncount``: this delivery does not count towards
        the change's deliveries (nothing was tried for it: no ECS call could be had in time). No-op if not
        ours."""
        ...

    # --- leases ------------------------------------------------------------------------------------------
    def renew(self, keys: list[str], rule_keys: list[str], owner: str, lease_s: float) -> set[str]:
        """Extend our claims on ``keys`` and locks on ``rule_keys`` by ``lease_s`` from now, in one round
        trip; returns those (of either list) that are no longer ours."""
        ...

    # --- rules: lock, watermarks, version, journal -----------------------------------------------------
    def sequence(self) -> int:
        """The store's sequence now: read it before reading rules from ECS; a rule whose version is higher
        when its lock is taken was written since."""
        ...

    def lock_rules(self, rule_keys: list[str], owner: str, lease_s: float) -> dict[str, RuleState | None]:
        """Take (or renew) each rule's lock, in one round trip; for each rule its state if the lock is now
        ours, else None (another owner holds it)."""
        ...

    def release_rule_lock(self, rule_key: str, owner: str) -> None:
        """Release only if the lock is still ours."""
        ...

    def open_entry(self, key: str, owner: str, rule_key: str, entry: JournalEntry) -> int:
        """Record a Modify's intent before it goes out: the entry into the rule's journal and
        ``{"params", "attempts"}`` as the change's sent_request, atomically with the check that the claim on
        ``key`` and the lock on ``rule_key`` are ours (else :class:`LeaseLost`). Re-opening the same token
        replaces the entry. Returns the rule's new version."""
        ...

    def open_entries(self, items: list[tuple[str, str, str, JournalEntry]]) -> list[int | LeaseLost]:
        """:meth:`open_entry` for many ``(key, owner, rule_key, entry)`` at once (a batch's first requests,
        journaled before its chains start): per item, the rule's new version or the :class:`LeaseLost` it
        would have raised. Each item stands alone: a lost lease writes nothing for that item only."""
        ...

    def settle(self, rule_key: str, owner: str, entry: JournalEntry, settled: Settlement,
               field_times: dict[str, int] | None, ttl_s: float) -> int:
        """Close an entry found open when the lock was taken, once its request is known to be in effect
        (``field_times``: its watermarks) or refused (None); the result ``settled`` goes on its change's
        record if that is still in progress. Needs our lock (else :class:`LeaseLost`). Returns the rule's
        new version."""
        ...

    def rule_state(self, rule_key: str) -> RuleState:
        """Read a rule's state without locking it (inspection, tests)."""
        ...


class KeyValue(Protocol):
    """Small text values with a lifetime, in their own key space (the normaliser's resume cursor)."""

    def get_value(self, key: str) -> str | None:
        """A small value stored with :meth:`put_value` (its own key space: never a claim, lock or watermark
        key); None when absent or expired."""
        ...

    def put_value(self, key: str, value: str, ttl_s: float) -> None:
        """Store (or replace) a small text value, kept ttl_s from now (e.g. a scan's resume cursor)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class IdempotencyStore(RuleJournal, KeyValue, Protocol):
    """A backend: all three (:func:`sgrule.store.open_store` opens one)."""

    def complete(self, key: str, owner: str, outcome: dict[str, Any], ttl_s: float, *,
                 rule_key: str | None = None, field_times: dict[str, int] | None = None,
                 release_rule: bool = False, entry: str | None = None) -> None:
        """:meth:`Claims.complete`; in the same atomic step, max-merge ``field_times`` into ``rule_key``'s
        watermarks, close the journal ``entry`` (a new rule version), and with ``release_rule`` release our lock
        on ``rule_key`` -- so whoever takes the rule next sees all of it."""
        ...


class SingleFromMany:
    """``complete`` in terms of ``complete_many`` and ``open_entry`` in terms of ``open_entries``, so a backend
    writes each logic once."""

    def complete_many(self, items: list[Completion], owner: str, ttl_s: float) -> list[bool]:
        raise NotImplementedError

    def open_entries(self, items: list[tuple[str, str, str, JournalEntry]]) -> list[int | LeaseLost]:
        raise NotImplementedError

    def open_entry(self, key: str, owner: str, rule_key: str, entry: JournalEntry) -> int:
        result = self.open_entries([(key, owner, rule_key, entry)])[0]
        if isinstance(result, LeaseLost):
            raise result
        return result

    def complete(self, key: str, owner: str, outcome: dict[str, Any], ttl_s: float, *,
                 rule_key: str | None = None, field_times: dict[str, int] | None = None,
                 release_rule: bool = False, entry: str | None = None) -> None:
        item = Completion(key, outcome, rule_key, field_times, release_rule, entry)
        if not self.complete_many([item], owner, ttl_s)[0]:
            raise LeaseLost(key, owner)


@overload
def dumps(value: dict[str, Any]) -> str: ...
@overload
def dumps(value: None) -> None: ...
def dumps(value: dict[str, Any] | None) -> str | None:
    # Compact, key-sorted JSON so a stored request reads the same however the dict was built.
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True,
                                                   ensure_ascii=False)


@overload
def loads(text: str | bytes) -> dict[str, Any]: ...
@overload
def loads(text: str | bytes | None) -> dict[str, Any] | None: ...
def loads(text: str | bytes | None) -> dict[str, Any] | None:
    if text is None:
        return None
    value: dict[str, Any] = json.loads(text)  # every value the store writes is an object
    return value


def check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0 seconds, got {value!r}")

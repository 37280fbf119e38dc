"""The idempotency store the apply function uses: claims on change keys, rule locks, field watermarks.

Events arrive at least once and in any order, on many Function Compute instances at once. A change key is
*claimed* before its ModifySecurityGroupEgressRule call; the claim is a lease, so a crashed instance's work
is taken over once the lease runs out, and the request it sent (``mark_sent``, written *before* the call)
is still there for the next delivery to reconcile. Backends: :mod:`.sqlite` (default, one machine) and
:mod:`.redis` (many instances). Both implement :class:`IdempotencyStore` and pass the same contract tests.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, Protocol, runtime_checkable

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
    lease_expires_at: float             # epoch seconds; past this an in_progress record may be taken over
    sent_request: dict[str, Any] | None = None  # exact API params, persisted before the call
    outcome: dict[str, Any] | None = None       # the stored outcome event (completed)
    expires_at: float | None = None     # epoch seconds when the store forgets the record


@dataclass
class Claim:
    status: ClaimStatus
    record: Record


@dataclass
class Completion:
    """One :meth:`IdempotencyStore.complete` of a :meth:`IdempotencyStore.complete_many`."""

    key: str
    outcome: dict[str, Any]
    rule_key: str | None = None
    field_times: dict[str, int] | None = None
    release_rule: bool = False


class LeaseLost(Exception):
    """``mark_sent``/``complete`` by an owner that no longer holds the key's in-progress lease (it expired
    and another owner took over, or the key is gone). The caller must not call the API / store an outcome."""

    def __init__(self, key: str, owner: str) -> None:
        super().__init__(f"idempotency key {key!r} is not in progress under owner {owner!r}")
        self.key = key
        self.owner = owner


@runtime_checkable
class IdempotencyStore(Protocol):
    def claim(self, key: str, fingerprint: str, owner: str, lease_s: float) -> Claim:
        """Atomically: new key -> ACQUIRED (deliveries=1); different fingerprint -> MISMATCH (any status);
        completed -> COMPLETED; in_progress with a live lease of another owner -> IN_PROGRESS; in_progress
        with an expired lease, released, or our own -> ACQUIRED with deliveries+1 and sent_request kept."""
        ...

    def mark_sent(self, key: str, owner: str, request: dict[str, Any]) -> None:
        """Persist the exact request before the API call. Raises :class:`LeaseLost` if not ours."""
        ...

    def complete(self, key: str, owner: str, outcome: dict[str, Any], ttl_s: float, *,
                 rule_key: str | None = None, field_times: dict[str, int] | None = None,
                 release_rule: bool = False) -> None:
        """Store the outcome; the completed record is kept ttl_s. Repeating it is a no-op.
        In the same atomic step (one round trip): max-merge ``field_times`` into ``rule_key``'s watermarks
        and, with ``release_rule``, release our lock on ``rule_key`` -- so another instance that takes the
        rule next sees the watermarks. Raises :class:`LeaseLost` if another owner took the key over."""
        ...

    def complete_many(self, items: list[Completion], owner: str, ttl_s: float) -> list[bool]:
        """:meth:`complete` for each, in order, in one round trip / transaction; False where the lease was
        lost (what ``complete`` raises :class:`LeaseLost` for)."""
        ...

    def claim_many(self, items: list[tuple[str, str]], owner: str, lease_s: float) -> list[Claim]:
        """:meth:`claim` for each ``(key, fingerprint)``, in order, in one round trip / transaction."""
        ...

    def release(self, key: str, owner: str) -> None:
        """Transient failure: end our lease now (deliveries and sent_request kept). No-op if not ours."""
        ...

    def get(self, key: str) -> Record | None: ...

    def acquire_rule_lock(self, rule_key: str, owner: str, lease_s: float) -> bool:
        """Exclusive per-rule lock with a lease; re-acquiring our own lock renews it."""
        ...

    def lock_rules(self, rule_keys: list[str], owner: str, lease_s: float) -> dict[str, dict[str, int] | None]:
        """:meth:`acquire_rule_lock` for many rules in one round trip / transaction; for each rule, its
        :meth:`field_times` if the lock is now ours, else None."""
        ...

    def release_rule_lock(self, rule_key: str, owner: str) -> None:
        """Release only if the lock is still ours."""
        ...

    def field_times(self, rule_key: str) -> dict[str, int]:
        """Per rule field: request time (epoch microseconds) of the newest applied change that set it."""
        ...

    def record_field_times(self, rule_key: str, times: dict[str, int], ttl_s: float) -> None:
        """Atomic per-field max-merge; the rule's watermarks are kept at least ttl_s from now."""
        ...

    def get_value(self, key: str) -> str | None:
        """A small value stored with :meth:`put_value` (its own key space: never a claim, lock or watermark
        key); None when absent or expired."""
        ...

    def put_value(self, key: str, value: str, ttl_s: float) -> None:
        """Store (or replace) a small text value, kept ttl_s from now (e.g. a scan's resume cursor)."""
        ...

    def close(self) -> None: ...


class SingleFromMany:
    """``complete`` in terms of ``complete_many``, so a backend writes the logic once."""

    def complete_many(self, items: list[Completion], owner: str, ttl_s: float) -> list[bool]:
        raise NotImplementedError

    def complete(self, key: str, owner: str, outcome: dict[str, Any], ttl_s: float, *,
                 rule_key: str | None = None, field_times: dict[str, int] | None = None,
                 release_rule: bool = False) -> None:
        if not self.complete_many([Completion(key, outcome, rule_key, field_times, release_rule)], owner, ttl_s)[0]:
            raise LeaseLost(key, owner)


def dumps(value: dict[str, Any] | None) -> str | None:
    # Compact, key-sorted JSON so a stored request reads the same however the dict was built.
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True,
                                                   ensure_ascii=False)


def loads(text: str | bytes | None) -> dict[str, Any] | None:
    return None if text is None else json.loads(text)


def check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0 seconds, got {value!r}")

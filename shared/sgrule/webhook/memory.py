"""What the webhook remembers, in the idempotency store (its own namespace): deliveries and ticket changes.

- **Deliveries** (key: sender + delivery id, fingerprint: the body's digest). The first request claims
  the key; its answer is stored with ``complete`` and every later request with that id gets it back and
  enqueues nothing. A request that could not enqueue ``release``s the claim, so the sender's retry does the
  work later. The same id with another body is refused (``IdempotentParameterMismatch``).
- **Ticket changes** (key: sender + change id, fingerprint: the ``time`` first given to the change).
  Ticket systems re-send the whole ticket on every edit; a change already enqueued is not sent again, and
  a change whose first send failed is re-sent with the time it was first given -- so the apply function
  sees the same event (never an ``IdempotentParameterMismatch``) and the change keeps its place in order.

It needs only :class:`sgrule.store.Claims` (claim, complete, release), with :func:`sgrule.store.claims.claim`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..store import Claims, ClaimStatus
from ..store.claims import claim as claim_key


@dataclass
class DeliveryClaim:
    status: Literal["new", "replay", "busy", "mismatch"]
    response: dict[str, Any] | None = None  # the stored response (replay)


@dataclass
class ChangeClaim:
    change_id: str
    time: str    # the time the change was first given
    fresh: bool  # True: ours to enqueue now; False: already enqueued by an earlier delivery


class Busy(Exception):
    """A concurrent request holds a change of this one; retry later."""


class Memory:
    def __init__(self, store: Claims, owner: str, lease_s: float, delivery_ttl_s: float,
                 change_ttl_s: float) -> None:
        self.store = store
        self.owner = owner
        self.lease_s = lease_s
        self.delivery_ttl_s = delivery_ttl_s
        self.change_ttl_s = change_ttl_s

    # ------------------------------------------------------------------------------ deliveries

    @staticmethod
    def delivery_key(sender: str, delivery_id: str) -> str:
        return f"delivery\x1f{sender}\x1f{delivery_id}"

    def claim_delivery(self, key: str, body_digest: str, wait_until: float) -> DeliveryClaim:
        """Claim a delivery; while another request holds it, wait (until ``wait_until``, monotonic) for its
        answer rather than answer 503 at once."""
        claim = claim_key(self.store, key, body_digest, self.owner, self.lease_s, wait_until)
        if claim.status is ClaimStatus.ACQUIRED:
            return DeliveryClaim("new")
        if claim.status is ClaimStatus.COMPLETED:
            return DeliveryClaim("replay", claim.record.outcome)
        if claim.status is ClaimStatus.MISMATCH:
            return DeliveryClaim("mismatch")
        return DeliveryClaim("busy")

    def finish_delivery(self, key: str, response: dict[str, Any]) -> None:
        self.store.complete(key, self.owner, response, self.delivery_ttl_s)

    # ------------------------------------------------------------------------------ ticket changes

    @staticmethod
    def change_key(sender: str, change_id: str) -> str:
        return f"change\x1f{sender}\x1f{change_id}"

    def claim_changes(self, sender: str, proposed: list[tuple[str, str]], wait_until: float) -> list[ChangeClaim]:
        """For each ``(change id, time)``: claim it with that time, or with the time an earlier delivery
        gave it. Raises :class:`Busy` (after releasing what it claimed) if another request holds one."""
        claims: list[ChangeClaim] = []
        try:
            for change_id, when in proposed:
                claims.append(self._claim_change(self.change_key(sender, change_id), change_id, when, wait_until))
        except BaseException:
            self.release_changes(sender, [c for c in claims if c.fresh])
            raise
        return claims

    def _claim_change(self, key: str, change_id: str, when: str, wait_until: float) -> ChangeClaim:
        claim = claim_key(self.store, key, when, self.owner, self.lease_s, wait_until)
        if claim.status is ClaimStatus.MISMATCH and when != claim.record.fingerprint:
            # Seen before, with its first time: claim it again under that time.
            when = claim.record.fingerprint
            claim = claim_key(self.store, key, when, self.owner, self.lease_s, wait_until)
        if claim.status is ClaimStatus.ACQUIRED:
            return ChangeClaim(change_id, when, fresh=True)
        if claim.status is ClaimStatus.COMPLETED:
            return ChangeClaim(change_id, when, fresh=False)
        raise Busy(change_id)

    def finish_changes(self, sender: str, claims: list[ChangeClaim]) -> None:
        for c in claims:
            if c.fresh:
                self.store.complete(self.change_key(sender, c.change_id), self.owner, {"time": c.time},
                                    self.change_ttl_s)

    def release_changes(self, sender: str, claims: list[ChangeClaim]) -> None:
        for c in claims:
            if c.fresh:
                self.store.release(self.change_key(sender, c.change_id), self.owner)

    def release(self, key: str) -> None:
        self.store.release(key, self.owner)

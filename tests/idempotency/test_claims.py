"""The one claim helper the webhook and notify use (``sgrule.store.claims.claim``), on every backend."""
from __future__ import annotations

import threading
import time

from sgrule.store import Claims, ClaimStatus
from sgrule.store.claims import claim


def test_a_claim_held_elsewhere_is_waited_for_until_its_result_lands(store: Claims) -> None:
    assert claim(store, "k", "fp", "a", 60.0).status is ClaimStatus.ACQUIRED
    done = threading.Timer(0.3, lambda: store.complete("k", "a", {"answer": 1}, 60.0))
    done.start()
    try:
        got = claim(store, "k", "fp", "b", 60.0, wait_until=time.monotonic() + 10)
    finally:
        done.join()
    assert got.status is ClaimStatus.COMPLETED and got.record.outcome == {"answer": 1}


def test_a_claim_held_elsewhere_is_not_waited_for_past_the_deadline_or_without_one(store: Claims) -> None:
    assert claim(store, "k", "fp", "a", 60.0).status is ClaimStatus.ACQUIRED
    assert claim(store, "k", "fp", "b", 60.0).status is ClaimStatus.IN_PROGRESS  # no deadline: no wait
    started = time.monotonic()
    got = claim(store, "k", "fp", "b", 60.0, wait_until=started + 0.3)
    assert got.status is ClaimStatus.IN_PROGRESS and 0.2 <= time.monotonic() - started < 5


def test_a_released_claim_is_taken_and_another_fingerprint_is_a_mismatch(store: Claims) -> None:
    assert claim(store, "k", "fp", "a", 60.0).status is ClaimStatus.ACQUIRED
    assert claim(store, "k", "other", "b", 60.0).status is ClaimStatus.MISMATCH
    store.release("k", "a")
    got = claim(store, "k", "fp", "b", 60.0, wait_until=time.monotonic() + 10)
    assert (got.status, got.record.deliveries, got.record.owner) == (ClaimStatus.ACQUIRED, 2, "b")

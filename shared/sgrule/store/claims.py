"""Claiming a key for one piece of work, the same way wherever a door does it once (a webhook delivery, a
ticket change, a notify post): the caller then completes the claim with its result, or releases it.

A claim another owner holds is waited for until a deadline (its answer may land), never past it.
"""
from __future__ import annotations

import time

from .base import Claim, Claims, ClaimStatus

POLL_S = 0.05  # how often a claim another owner holds is looked at again


def claim(store: Claims, key: str, fingerprint: str, owner: str, lease_s: float,
          wait_until: float | None = None) -> Claim:
    """Claim ``key``: ACQUIRED (ours), COMPLETED (its stored result), MISMATCH (another fingerprint), or
    IN_PROGRESS when another owner still holds it at ``wait_until`` (``time.monotonic()``; None: do not wait)."""
    while True:
        got = store.claim(key, fingerprint, owner, lease_s)
        if got.status is not ClaimStatus.IN_PROGRESS or wait_until is None \
                or time.monotonic() + POLL_S >= wait_until:
            return got
        time.sleep(POLL_S)

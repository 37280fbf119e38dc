"""Child-process body for the multi-process claim test (a module of its own so spawn can import it)."""
from __future__ import annotations

from typing import Any


def claim_all(url: str, namespace: str, owner: str, keys: list[str], barrier: Any, out: Any) -> None:
    from sgrule.store import ClaimStatus, open_store

    store = open_store(url, namespace=namespace)
    try:
        barrier.wait(timeout=60)  # start together, so the claims really race
        won = [k for k in keys if store.claim(k, "fp", owner, 60.0).status is ClaimStatus.ACQUIRED]
        out.put((owner, won))
    except BaseException as exc:
        out.put((owner, repr(exc)))
        raise
    finally:
        store.close()

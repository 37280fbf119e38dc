"""Child-process body for the multi-process budget test (a module of its own so spawn can import it)."""
from __future__ import annotations

import random
import time
from typing import Any


def ask_all(url: str, namespace: str, name: str, calls: float, seconds: float, asks: int, max_wait_s: float,
            barrier: Any, out: Any) -> None:
    from sgrule.store import open_budget
    from sgrule.store.budget import Rate

    budget = open_budget(url, namespace=namespace)
    try:
        rate = Rate(calls, seconds)
        barrier.wait(timeout=60)  # start together, so the asks really race
        answers = []
        for _ in range(asks):
            answers.append(budget.acquire("cn-hangzhou", "ModifySecurityGroupEgressRule", rate, max_wait_s))
            time.sleep(random.uniform(0, 0.001))  # as between calls: the processes' asks interleave
        out.put((name, [(d.granted, d.wait_s, d.slot) for d in answers]))
    except BaseException as exc:
        out.put((name, repr(exc)))
        raise
    finally:
        budget.close()

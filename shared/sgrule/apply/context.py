"""What a rule's chain is given: the few collaborators it uses, built by the batch, nothing that owns them.

A chain settles its rule's journal, decides each change, sends Modify and queues outcomes: it needs the store's
rule journal (not its claims or values), the ECS clients, the batch's leases, ledger and copy of the groups,
retries bounded by the invocation's deadline -- each ECS call taken from the fleet's call budget when there is
one (``retrier(region, api)``) -- and the log. It never sees the batch itself, its settings or its pool. What
later steps add to a call arrives here, as another field, so the chain asks its context, never the batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from ..clients.retry import Retrier
    from ..runtime.log import Logger
    from ..store import RuleJournal
    from ..guardrails import Guard
    from .groups import Groups
    from .leases import Heartbeat
    from .ledger import Ledger


@dataclass(frozen=True)
class ChainContext:
    store: RuleJournal
    ecs: Callable[[str], Any]       # region -> official ECS client
    owner: str                      # this batch's name on every lease it holds
    lease_s: float                  # a rule lock's lease
    completed_ttl_s: float          # how long a closed entry's result is kept on its change's record
    deadline: float                 # time.monotonic() past which no new work starts
    leases: Heartbeat
    ledger: Ledger
    groups: Groups
    # region, ECS API -> a fresh retrier (its own backoff) bounded by the deadline, whose every attempt takes
    # its call from the fleet budget if one is configured (NoCallBeforeDeadline when none is left in time)
    retrier: Callable[[str, str], Retrier]
    log: Logger
    guard: Guard | None = None      # the guardrails policy's decisions (None: no policy configured)

"""Outcome events onto the bus while the batch is still working, each once it is stored.

Publishing at the end of a batch left the instance idle while the bus answered, after the last chain.
The outbox instead takes outcomes as soon as the store has them (:class:`~sgrule.apply.ledger.Ledger` hands
them over after each flush) and sends every full PutEvents call (16 outcomes) at once on its own small pool,
so the calls overlap the chains still running. Outcomes therefore reach the bus in the order they finish,
not in input order (the returned array keeps input order). :meth:`Outbox.close` sends the rest (outcomes never stored, such as
rejections, and the last partial call) and waits for every call: the first failure raises
:class:`~sgrule.clients.eventbridge.PublishError`, the invocation fails and the platform redelivers.

Only stored outcomes go out early: a crash after a publish finds the outcome in the store, and its
redelivery replays it (the same id: consumers drop the duplicate). Each outcome id is published once per
invocation, whatever order the outcomes arrive in.
"""
from __future__ import annotations

import threading
from concurrent.futures import Executor, Future
from typing import Any

from ..clients.eventbridge import MAX_EVENTS_PER_CALL, Publisher
from ..clients.retry import Retrier


class Outbox:
    def __init__(self, publisher: Publisher, retrier: Retrier, pool: Executor) -> None:
        self.publisher, self.retrier, self.pool = publisher, retrier, pool
        self._seen: set[str] = set()
        self._waiting: list[dict[str, Any]] = []
        self._calls: list[Future[int]] = []
        self._lock = threading.Lock()

    def add(self, outcomes: list[dict[str, Any]]) -> None:
        """Outcomes the store now holds: every full call's worth goes out at once."""
        with self._lock:
            for outcome in outcomes:
                if outcome["id"] not in self._seen:
                    self._seen.add(outcome["id"])
                    self._waiting.append(outcome)
            while len(self._waiting) >= MAX_EVENTS_PER_CALL:
                self._send(self._waiting[:MAX_EVENTS_PER_CALL])
                del self._waiting[:MAX_EVENTS_PER_CALL]

    def close(self, outcomes: list[dict[str, Any]]) -> int:
        """Send what is left of ``outcomes`` (the invocation's finished outcomes), wait for every call and
        return how many PutEvents calls were made; raises the first call's ``PublishError``."""
        self.add(outcomes)
        with self._lock:
            if self._waiting:
                self._send(self._waiting)
                self._waiting = []
            calls = list(self._calls)
        # Every call is waited for before the first failure is raised: none is left running unseen.
        errors = [f.exception() for f in calls]
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first
        return sum(f.result() for f in calls)

    def wait(self) -> None:
        """Wait for the calls already made (the batch failed: their outcomes are stored, so a failed call
        only means a redelivery republishes them; nothing is raised here)."""
        with self._lock:
            calls = list(self._calls)
        for call in calls:
            call.exception()

    def _send(self, events: list[dict[str, Any]]) -> None:
        self._calls.append(self.pool.submit(self.publisher.publish, list(events), self.retrier))

"""Short leases, renewed while the instance lives.

A batch holds two kinds of lease in the store: its changes' claims and the locks of the rules it works on.
Each is a few seconds long (``SGRULE_LEASE_S``); a heartbeat thread renews all of them every third of a
lease in one round trip. A killed instance stops renewing, so its claims and rules are free again one
lease later -- not at the end of the function's timeout. An instance that cannot renew (the store is
unreachable) knows its leases may be gone once a lease has passed since its last renewal, and stops before
its next call (:meth:`Heartbeat.holds`).
"""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from ..runtime.log import Logger
    from ..store import RuleJournal


class Heartbeat:
    def __init__(self, store: RuleJournal, owner: str, lease_s: float, log: Logger) -> None:
        self.store, self.owner, self.lease_s, self.log = store, owner, lease_s, log
        self._keys: set[str] = set()
        self._rules: set[str] = set()
        self.lost: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._valid_until = 0.0

    def start(self) -> None:
        """Call just before taking the first lease: every lease taken later is at least this fresh."""
        self._valid_until = time.monotonic() + self.lease_s
        self._thread = threading.Thread(target=self._run, name=f"sgrule-heartbeat-{self.owner}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def hold(self, keys: Iterable[str] = (), rules: Iterable[str] = ()) -> None:
        with self._lock:
            self._keys.update(keys)
            self._rules.update(rules)

    def drop(self, keys: Iterable[str] = (), rules: Iterable[str] = ()) -> None:
        with self._lock:
            self._keys.difference_update(keys)
            self._rules.difference_update(rules)

    def holds(self, *names: str) -> bool:
        """Whether we may still act on these leases: none reported lost, and renewed within a lease."""
        with self._lock:
            return time.monotonic() < self._valid_until and not self.lost.intersection(names)

    def _run(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            with self._lock:
                keys, rules = list(self._keys), list(self._rules)
            if not keys and not rules:
                self._valid_until = time.monotonic() + self.lease_s  # nothing held: nothing to lose
                continue
            started = time.monotonic()
            try:
                lost = self.store.renew(keys, rules, self.owner, self.lease_s)
            except Exception as exc:  # noqa: BLE001 - the store is away: stop acting once a lease has passed
                self.log.warning("could not renew leases", error=f"{type(exc).__name__}: {exc}")
                continue
            with self._lock:
                self._valid_until = started + self.lease_s
                if lost:
                    self.lost.update(lost)
                    self._keys.difference_update(lost)
                    self._rules.difference_update(lost)
            if lost:
                self.log.warning("leases lost to another worker", count=len(lost))

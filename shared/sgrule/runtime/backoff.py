"""One full-jitter exponential backoff loop under a deadline, for any kind of call.

:class:`Backoff` knows nothing of the Alibaba SDKs (``sgrule.clients.retry.Retrier`` adds what their calls
need), so a function that only posts over HTTP (notify) loads and carries none of them.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable, TypeVar

T = TypeVar("T")


class Retry(Exception):
    """Raised by an attempt of :meth:`Backoff.run`: try again after the backoff, and not before ``wait_s``.
    ``failure`` is what the caller gets when no try is left."""

    def __init__(self, failure: Exception, wait_s: float = 0.0) -> None:
        super().__init__(str(failure))
        self.failure = failure
        self.wait_s = wait_s


@dataclass
class Backoff:
    """Full-jitter exponential backoff bounded by a deadline (time.monotonic seconds)."""

    deadline: float
    base_s: float = 0.1
    cap_s: float = 5.0
    max_attempts: int = 8
    rng: random.Random = field(default_factory=random.Random)

    def run(self, attempt: Callable[[int], T], gave_up: Callable[[int, Exception | None], Exception]) -> T:
        """The loop: ``attempt(n)`` for n = 1, 2, ... until one returns. One that raises :class:`Retry` is
        followed by the backoff (at least its ``wait_s``) and the next; anything else it raises ends the loop.
        Out of tries, or when the next try could not start before the deadline, raise
        ``gave_up(attempts made, the last failure or None if the deadline came before a try)``."""
        n = 0
        while True:
            if time.monotonic() >= self.deadline:
                raise gave_up(n, None)
            n += 1
            try:
                return attempt(n)
            except Retry as retry:
                if not self.pause(n, retry.wait_s):
                    raise gave_up(n, retry.failure) from None

    def pause(self, attempt: int, wait_at_least_s: float = 0.0) -> bool:
        """After failed try number ``attempt``: sleep the full-jitter backoff (never less than
        ``wait_at_least_s``, what the service asked) and return True, or return False at once when out of
        tries, or when the sleep would end past the deadline."""
        delay = max(wait_at_least_s, self.rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1))))
        if attempt >= self.max_attempts or time.monotonic() + delay >= self.deadline:
            return False
        time.sleep(delay)
        return True

"""One HTTP request to a ticket system, retried the way their APIs ask: 5xx, 429 and network errors are
retried with full-jitter exponential backoff, waiting at least what ``Retry-After`` says (seconds or an HTTP
date), never past the deadline; any other 4xx is final. The loop is sgrule's one retry loop
(:meth:`sgrule.clients.retry.Retrier.run`). Redirects are not followed (a POST must not turn into a GET).
Standard library only (``http.client``): no extra start-up cost for a few requests."""
from __future__ import annotations

import http.client
import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Callable
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]  # lower-case names


class Transient(Exception):
    """Still failing (5xx, 429, network) when tries or time ran out: worth trying again later."""


class Refused(Exception):
    """A final answer (4xx other than 429): retrying will not help."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status


@dataclass
class Poster:
    deadline: float                 # time.monotonic() by which every attempt must be over
    timeout_s: float = 10.0         # per attempt
    base_s: float = 0.1
    cap_s: float = 5.0
    max_attempts: int = 8
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0               # made so far, over every request of this poster

    def send(self, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
             done_already: Callable[[], bool] | None = None) -> Reply | None:
        """The first 2xx reply. ``done_already`` is asked before each retry: a failed attempt may still have
        taken effect (a lost reply); if it says so, stop and return None."""
        from ..runtime.backoff import Backoff, Retry

        def attempt(n: int) -> Reply | None:
            if n > 1 and done_already is not None and done_already():
                return None
            self.attempts += 1
            try:
                reply = _request(method, url, body, headers or {},
                                 max(0.001, min(self.timeout_s, self.deadline - time.monotonic())))
            except (OSError, http.client.HTTPException) as exc:
                raise Retry(Transient(f"network error: {type(exc).__name__}")) from None
            if 200 <= reply.status < 300:
                return reply
            if reply.status != 429 and reply.status < 500:
                raise Refused(reply.status, reply.body[:300].decode("utf-8", "replace"))
            raise Retry(Transient(f"HTTP {reply.status}"), retry_after(reply.headers.get("retry-after")))

        def gave_up(attempts: int, last: Exception | None) -> Exception:
            return Transient(f"{method} {_where(url)}: {last or 'out of time'} after {attempts} attempt(s)")

        retrier = Backoff(self.deadline, base_s=self.base_s, cap_s=self.cap_s, max_attempts=self.max_attempts,
                          rng=self.rng)
        return retrier.run(attempt, gave_up)


def retry_after(value: str | None) -> float:
    """Seconds to wait per a Retry-After header (delta-seconds or an HTTP date); 0 if absent or unreadable."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), 86400))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return 0.0
    if when is None or when.tzinfo is None:
        return 0.0
    return max(0.0, when.timestamp() - time.time())


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"  # never the query or credentials


def _request(method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float) -> Reply:
    parts = urlsplit(url)
    cls: Any = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, data, {k.lower(): v for k, v in response.getheaders()})
    finally:
        conn.close()

"""ECS API rate quotas: at most ``calls`` calls of one API, per account and region, in each window of ``seconds``.

ECS counts every API on its own, per account and per region, whoever calls (console, Terraform, SDKs), and
refuses a call over the quota with ``Throttling.User`` ("Request was denied due to user flow control.",
HTTP 400); an API throttled in window T is allowed again in window T+1. localcloud models exactly that
with **fixed windows**: window k of an API is ``[start + k*seconds, start + (k+1)*seconds)`` on the server's
own clock, ``start`` being when the quotas were set; the first ``calls`` calls in a window go through, every
other call in it is refused (a refused call does not count). Quota Center writes a quota as ``40/1(s)`` or
``2400/60(s)``: ``ACTION=40`` here means 40 calls a second, ``ACTION=2400/60`` 2,400 a minute.

The refusal carries no ``x-acs-retry-after`` header unless the quota asks for it (``retryAfter``): then the
header says, in **milliseconds** (the unit the SDKs' ``ThrottlingException.retry_after`` and their retry
policy read), how long until the next window, and the official SDK raises ``ThrottlingException`` instead of
``ClientException``.
"""
from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

THROTTLED = (400, "Throttling.User", "Request was denied due to user flow control.")
_ACTION = re.compile(r"[A-Z][A-Za-z0-9]{0,127}")
_SPEC = re.compile(r"(\d+)(?:/(\d+(?:\.\d+)?))?")


@dataclass(frozen=True)
class Quota:
    calls: int
    seconds: float = 1.0
    retry_after: bool = False  # send x-acs-retry-after (ms to the next window) with the refusal

    @classmethod
    def parse(cls, text: str) -> Quota:
        """``"40"`` (a second) or ``"2400/60"`` (calls / seconds), as Quota Center writes them."""
        m = _SPEC.fullmatch(text.strip())
        if not m:
            raise ValueError(f"bad quota {text!r}: expected CALLS (a second) or CALLS/SECONDS, e.g. 40 or 2400/60")
        return cls.checked(int(m.group(1)), float(m.group(2) or 1))

    @classmethod
    def checked(cls, calls: Any, seconds: Any = 1.0, retry_after: Any = False) -> Quota:
        if isinstance(calls, bool) or not isinstance(calls, int) or calls < 1:
            raise ValueError("a quota's calls must be a positive integer")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0.01 <= seconds <= 86400:
            raise ValueError("a quota's seconds must be a number from 0.01 to 86400")
        if not isinstance(retry_after, bool):
            raise ValueError("a quota's retryAfter must be true or false")
        return cls(calls, float(seconds), retry_after)

    @classmethod
    def from_json(cls, raw: Any) -> Quota:
        """``40``, ``"2400/60"`` or ``{"calls": 40, "seconds": 1, "retryAfter": true}``."""
        if isinstance(raw, str):
            return cls.parse(raw)
        if isinstance(raw, Mapping):
            unknown = set(raw) - {"calls", "seconds", "retryAfter"}
            if unknown:
                raise ValueError(f"unknown quota fields {sorted(unknown)}; known: calls, seconds, retryAfter")
            return cls.checked(raw.get("calls"), raw.get("seconds", 1.0), raw.get("retryAfter", False))
        return cls.checked(raw)

    def to_json(self) -> dict[str, Any]:
        return {"calls": self.calls, "seconds": self.seconds, "retryAfter": self.retry_after}


def parse_quotas(raw: Mapping[str, Any] | None) -> dict[str, Quota]:
    """``{ACTION: quota}`` checked whole (all or nothing)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError("quotas must be an object {\"ActionName\": calls | \"calls/seconds\" | {...}}")
    out = {}
    for action, spec in raw.items():
        if not isinstance(action, str) or not _ACTION.fullmatch(action):
            raise ValueError(f"quota for {action!r}: not an API action name (e.g. ModifySecurityGroupEgressRule)")
        try:
            out[action] = Quota.from_json(spec)
        except ValueError as exc:
            raise ValueError(f"quota for {action}: {exc}") from None
    return out


def parse_quota_args(items: list[str]) -> dict[str, Quota]:
    """``--ecs-quota ACTION=CALLS[/SECONDS]`` values (repeatable; the last one of an action wins)."""
    raw: dict[str, str] = {}
    for item in items:
        action, sep, spec = item.partition("=")
        if not sep:
            raise ValueError(f"bad --ecs-quota {item!r}: expected ACTION=CALLS_PER_SECOND (or ACTION=CALLS/SECONDS), "
                             "e.g. ModifySecurityGroupEgressRule=40")
        raw[action.strip()] = spec
    return parse_quotas(raw)


class Quotas:
    """The quotas in force and their windows' counts (thread-safe; the server's monotonic clock)."""

    def __init__(self, defaults: Mapping[str, Quota] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.defaults = dict(defaults or {})
        self._clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Back to the start-up quotas, with fresh windows."""
        self.set(self.defaults)

    def set(self, quotas: Mapping[str, Quota]) -> None:
        with self._lock:
            self._quotas = dict(quotas)
            self._start = self._clock()
            self._counts: dict[tuple[str, str, str], tuple[int, int]] = {}  # key -> (window, calls in it)

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {action: q.to_json() for action, q in sorted(self._quotas.items())}

    def take(self, account: str, region: str, action: str) -> tuple[bool, int | None]:
        """Count one call: ``(True, None)`` if it may go on, else ``(False, retry_after_ms or None)``."""
        with self._lock:
            quota = self._quotas.get(action)
            if quota is None:
                return True, None
            elapsed = self._clock() - self._start
            window = int(elapsed // quota.seconds)
            key = (account, region, action)
            seen, calls = self._counts.get(key, (window, 0))
            if seen != window:
                calls = 0
            if calls < quota.calls:
                self._counts[key] = (window, calls + 1)
                return True, None
            left_ms = max(1, math.ceil(((window + 1) * quota.seconds - elapsed) * 1000))
            return False, left_ms if quota.retry_after else None

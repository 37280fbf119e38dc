"""Fault injection: make chosen API calls fail, slow down, or lose their reply.

A rule (JSON, as posted to ``/_emulator/faults``)::

    {"action": "AuthorizeSecurityGroupEgress" | "*",       # required
     "securityGroupId": "sg-...",                           # optional: match the request's SecurityGroupId
     "times": 2,                                            # optional: fire N times (default: forever)
     "probability": 0.3,                                    # optional: fire with probability p (seedable)
     "phase": "before" | "after",                           # optional, default "before"
     # exactly one of:
     "error": {"status": 503, "code": "ServiceUnavailable", "message": "...", "retryAfterMs": 1000},
     "latencyMs": 50,
     "drop": true,
     "hold": "gate-name"}                                   # wait until the test releases the gate

``phase: "after"`` runs the action first — its effect happens — then replaces, drops or delays the reply:
"the call went out but the answer was lost (or is late)", which is what idempotency (ClientToken) is for; a
late reply also gives a test the moment to kill a caller between the effect and its bookkeeping.
Rules are checked in order; the first one that matches *and fires* wins.

``retryAfterMs`` sets the ``x-acs-retry-after`` header as the services send it: an integer number of
milliseconds (the SDK raises ``ThrottlingException`` with ``retry_after`` = that number and, when its own
retries are on, sleeps that many milliseconds).

``hold`` parks the call on a named gate until the test releases it (``POST /_emulator/holds/NAME/release``):
an event, not a guess at a latency, decides when the call goes on. In phase "after" the call is logged (its
effect in place) before it parks. A test waits for a call to park with ``GET /_emulator/holds/NAME?count=N``.
"""
from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping

PHASES = ("before", "after")


@dataclass
class FaultError:
    status: int = 503
    code: str = "ServiceUnavailable"
    message: str = "The request has failed due to a temporary failure of the server."
    retry_after_ms: int | None = None  # x-acs-retry-after (milliseconds): the SDK raises ThrottlingException

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.retry_after_ms is not None:
            out["retryAfterMs"] = self.retry_after_ms
        return out


@dataclass
class FaultRule:
    action: str = "*"
    security_group_id: str | None = None
    times: int | None = None
    probability: float | None = None
    phase: str = "before"
    error: FaultError | None = None
    latency_ms: int | None = None
    drop: bool = False
    hold: str | None = None
    fired: int = 0

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FaultRule:
        if not isinstance(raw, Mapping):
            raise ValueError("a fault rule must be a JSON object")
        known = {"action", "securityGroupId", "times", "probability", "phase", "error", "latencyMs", "drop", "hold"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown fault rule fields: {sorted(unknown)}")
        action = raw.get("action")
        if not isinstance(action, str) or not action:
            raise ValueError("fault rule needs 'action' (an API action name or '*')")
        kinds = [k for k in ("error", "latencyMs", "drop", "hold") if raw.get(k) not in (None, False)]
        if len(kinds) != 1:
            raise ValueError("fault rule needs exactly one of 'error', 'latencyMs', 'drop', 'hold'")
        hold = raw.get("hold")
        if hold is not None and (not isinstance(hold, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", hold)):
            raise ValueError("'hold' must be a gate name (letters, digits, '_', '.', '-')")
        phase = raw.get("phase", "before")
        if phase not in PHASES:
            raise ValueError(f"'phase' must be one of {PHASES}")
        times = raw.get("times")
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            raise ValueError("'times' must be a positive integer")
        prob = raw.get("probability")
        if prob is not None and (not isinstance(prob, (int, float)) or not 0 <= prob <= 1):
            raise ValueError("'probability' must be a number in [0, 1]")
        error = None
        if kinds[0] == "error":
            e = raw["error"]
            if not isinstance(e, Mapping):
                raise ValueError("'error' must be an object {status, code, message[, retryAfterMs]}")
            if "retryAfter" in e:  # a unit left unsaid is a wait off by a thousand
                raise ValueError("'error.retryAfter' is 'error.retryAfterMs' (milliseconds, the header's unit)")
            error = FaultError()
            error.status = int(e.get("status", error.status))
            if not 400 <= error.status <= 599:
                raise ValueError("'error.status' must be 4xx or 5xx")
            error.code = str(e.get("code", error.code))
            error.message = str(e.get("message", error.message))
            if e.get("retryAfterMs") is not None:
                error.retry_after_ms = int(e["retryAfterMs"])
                if error.retry_after_ms <= 0:
                    raise ValueError("'error.retryAfterMs' must be > 0 (the SDK ignores 0)")
        latency = raw.get("latencyMs")
        if latency is not None and (not isinstance(latency, (int, float)) or latency < 0):
            raise ValueError("'latencyMs' must be a non-negative number")
        sg = raw.get("securityGroupId")
        return cls(
            action=action,
            security_group_id=str(sg) if sg is not None else None,
            times=times,
            probability=float(prob) if prob is not None else None,
            phase=phase,
            error=error,
            latency_ms=int(latency) if latency is not None else None,
            drop=bool(raw.get("drop", False)),
            hold=hold,
        )

    @property
    def kind(self) -> str:
        if self.hold is not None:
            return "hold"
        return "error" if self.error else "latency" if self.latency_ms is not None else "drop"

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def applies_to(self, action: str, params: Mapping[str, str]) -> bool:
        if self.action != "*" and self.action != action:
            return False
        if self.security_group_id is not None and params.get("SecurityGroupId") != self.security_group_id:
            return False
        return True

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "phase": self.phase, "fired": self.fired}
        if self.security_group_id is not None:
            out["securityGroupId"] = self.security_group_id
        if self.times is not None:
            out["times"] = self.times
            out["remaining"] = max(self.times - self.fired, 0)
        if self.probability is not None:
            out["probability"] = self.probability
        if self.error:
            out["error"] = self.error.to_json()
        elif self.latency_ms is not None:
            out["latencyMs"] = self.latency_ms
        elif self.hold is not None:
            out["hold"] = self.hold
        else:
            out["drop"] = True
        return out


class FaultInjector:
    """Thread-safe ordered list of rules; :meth:`take` decides (and counts) atomically."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._rng = random.Random(seed)
        self.gates = Gates()

    def add(self, raw_rules: list[Mapping[str, Any]], seed: int | None = None) -> list[dict[str, Any]]:
        """Validate all rules first (all-or-nothing), append them, return every rule."""
        if not isinstance(raw_rules, list):
            raise ValueError("'rules' must be a list")
        parsed = [FaultRule.from_json(r) for r in raw_rules]
        with self._lock:
            if seed is not None:
                self._rng.seed(seed)
            self._rules.extend(parsed)
            return [r.to_json() for r in self._rules]

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.to_json() for r in self._rules]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
        self.gates.release_all()  # nothing stays parked past a reset

    def seed(self, seed: int | None) -> None:
        with self._lock:
            self._rng.seed(seed)

    def take(self, action: str, params: Mapping[str, str]) -> FaultRule | None:
        """The first rule that matches this call and fires; its counter is consumed."""
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.applies_to(action, params):
                    continue
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule
        return None


# A parked call gives up after this long, so a test that forgets to release a gate never hangs the server.
MAX_HOLD_S = 120.0


@dataclass
class _Gate:
    held: int = 0  # calls that have parked on it
    opened: threading.Event = field(default_factory=threading.Event)


class Gates:
    """Named gates for ``hold`` rules: calls park on a gate until it is released; tests wait for calls to
    park. A released gate stays open (later calls pass) until :meth:`release_all` (reset) forgets it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._gates: dict[str, _Gate] = {}

    def park(self, name: str) -> None:
        with self._cond:
            gate = self._gates.setdefault(name, _Gate())
            gate.held += 1
            self._cond.notify_all()
        gate.opened.wait(MAX_HOLD_S)

    def release(self, name: str) -> dict[str, Any]:
        with self._cond:
            self._gates.setdefault(name, _Gate()).opened.set()
            return self._status(name)

    def wait(self, name: str, count: int, timeout: float) -> dict[str, Any] | None:
        """Block until ``count`` calls have parked on the gate; None if ``timeout`` s pass first."""
        with self._cond:
            if self._cond.wait_for(lambda: name in self._gates and self._gates[name].held >= count, timeout):
                return self._status(name)
            return None

    def release_all(self) -> None:
        with self._cond:
            gates, self._gates = self._gates, {}
        for gate in gates.values():
            gate.opened.set()

    def _status(self, name: str) -> dict[str, Any]:
        gate = self._gates.get(name, _Gate())
        return {"name": name, "held": gate.held, "released": gate.opened.is_set()}

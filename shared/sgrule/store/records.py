"""The journal's records, typed: what a change sent, and what settling that request learnt.

They travel between the apply engine and the store as these dataclasses, and become JSON only here, at the
store's edge (:func:`sent_to_json`, :func:`settlement_to_json` and their readers). The stored shapes are the
ones earlier versions wrote, so a record already in a store reads the same:

- a sent request: ``{"params": {...}, "attempts": n}``
- a settlement: ``{"token", "requestId", "calls"}`` (in effect), ``{"token", "error"}`` (refused by ECS, or
  -- an error whose source is ``runtime`` -- never built, so never sent), ``{"token", "sent": false}`` (journaled
  but closed before it was sent).

They live in the store, not in the engine, because the store is below the engine: a record the store keeps
must not make the store import its caller.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The outcome event's ``data.error`` shape: {"code", "message", "httpStatus", "source"}.
ErrorBody = dict[str, Any]


@dataclass(frozen=True)
class SentRequest:
    """A Modify a change recorded before it went out: the request exactly as sent, and the calls made for the
    change so far (counted before each call)."""

    params: dict[str, str]
    attempts: int = 0

    @property
    def token(self) -> str | None:
        return self.params.get("ClientToken")


@dataclass(frozen=True)
class InEffect:
    """Settling re-sent the request and ECS answered: it is in effect (``calls``: the Modify calls it took)."""

    token: str
    request_id: str
    calls: int = 0


@dataclass(frozen=True)
class Refused:
    """ECS refused the request (a definite 4xx): it never took effect."""

    token: str
    error: ErrorBody


@dataclass(frozen=True)
class NeverSent:
    """The request never went out: journaled and closed before it was sent (``error`` None), or it could not
    even be built (``error`` says why, source ``runtime``)."""

    token: str
    error: ErrorBody | None = None


Settlement = InEffect | Refused | NeverSent


@dataclass
class JournalEntry:
    """A Modify's intent, recorded before it goes out: enough to re-send it and to know what it set."""

    change_key: str
    token: str                     # its ClientToken; also the entry's id within the rule's journal
    params: dict[str, str]         # the full request, exactly as sent
    field_times: dict[str, int]    # the fields it sets -> its change's time: its watermarks once in effect
    attempts: int = 0              # Modify calls made for the change before this entry
    seq: int = 0                   # the store's sequence when it was opened (entries settle in this order)

    @property
    def sent(self) -> SentRequest:
        """What the change's record says it sent when this entry is opened."""
        return SentRequest(self.params, self.attempts)

    def to_json(self) -> dict[str, Any]:
        return {"changeKey": self.change_key, "token": self.token, "params": self.params,
                "fieldTimes": self.field_times, "attempts": self.attempts}

    @classmethod
    def from_json(cls, raw: dict[str, Any], seq: int) -> JournalEntry:
        return cls(raw["changeKey"], raw["token"], raw["params"], {k: int(v) for k, v in raw["fieldTimes"].items()},
                   int(raw.get("attempts", 0)), seq)


def sent_to_json(sent: SentRequest) -> dict[str, Any]:
    return {"params": sent.params, "attempts": sent.attempts}


def sent_from_json(raw: dict[str, Any] | None) -> SentRequest | None:
    if raw is None:
        return None
    return SentRequest(dict(raw["params"]), int(raw.get("attempts", 0)))


def settlement_to_json(settled: Settlement) -> dict[str, Any]:
    if isinstance(settled, InEffect):
        return {"token": settled.token, "requestId": settled.request_id, "calls": settled.calls}
    if isinstance(settled, Refused):
        return {"token": settled.token, "error": settled.error}
    if settled.error is not None:
        return {"token": settled.token, "error": settled.error}
    return {"token": settled.token, "sent": False}


def settlement_from_json(raw: dict[str, Any] | None) -> Settlement | None:
    if raw is None:
        return None
    token = str(raw.get("token", ""))
    if "requestId" in raw:
        return InEffect(token, str(raw["requestId"]), int(raw.get("calls", 0)))
    error = raw.get("error")
    return failed(token, error) if isinstance(error, dict) else NeverSent(token)


def failed(token: str, error: ErrorBody) -> Refused | NeverSent:
    """A request that ended in ``error``: refused by ECS, or -- a ``runtime`` error, ours -- never built."""
    return NeverSent(token, error) if error.get("source") == "runtime" else Refused(token, error)

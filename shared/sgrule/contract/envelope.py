"""What the apply function can be handed, unwrapped into rule-change events.

Accepted shapes (FC gives the handler bytes):
- a JSON array of EventBridge events wrapping MNS messages (``data.messageBody`` holds the rule-change
  event as JSON text, or base64 of it when the trigger does not decode bodies), or one such object;
- a bare rule-change event (a synchronous invoke from a workflow), or a JSON array of them.
A payload that is not JSON, or a single value of no known shape, raises :class:`InvocationError` (an
unrecognised shape is never a silent no-op). Inside an array, each element stands alone: an element of no
known shape, or a message whose body cannot be decoded, still becomes an item carrying its error, so it gets
a ``rejected`` outcome and never blocks its neighbours. A wrapper whose ``messageBody`` is misspelt
(``data.MessageBody``, ``data.message_body``, or ``messageBody`` outside ``data``) is told so
(``InvalidEvent.UnknownField``, "did you mean").
"""
from __future__ import annotations

import base64
import binascii
import difflib
from dataclasses import dataclass
from typing import Any

from .errors import SgruleError
from .safe import NotJson, loads


class InvocationError(ValueError):
    """The invocation payload has no shape the apply function knows; nothing was processed."""


@dataclass(frozen=True)
class Delivered:
    raw: Any  # the decoded rule-change event (validated later), or None when undecodable
    error: SgruleError | None = None
    message_id: str | None = None  # MNS message id (or the wrapper's id): names an undecodable change


def _is_wrapper(obj: dict[str, Any]) -> bool:
    data = obj.get("data")
    return isinstance(data, dict) and "messageBody" in data


def _misspelt_wrapper(obj: dict[str, Any]) -> Delivered | None:
    """An attempt at an MNS-message wrapper whose body attribute is misspelt or misplaced, told so."""
    data = obj.get("data")
    if isinstance(data, dict) and "messageBody" not in data:
        where, keys = "data.", list(data)
    elif "messageBody" in obj or any(_near_body(k) for k in obj):
        where, keys = "", list(obj)
    else:
        return None
    for key in keys:
        if isinstance(key, str) and (key == "messageBody" or _near_body(key)):
            mid = _id(data.get("messageId")) if isinstance(data, dict) else _id(obj.get("messageId"))
            return Delivered(None, SgruleError(
                "InvalidEvent.UnknownField",
                f"Unknown attribute {where + key!r}; did you mean 'data.messageBody'? An MNS message delivered "
                "through EventBridge carries the rule-change event in data.messageBody.", field=where + key),
                message_id=mid or _id(obj.get("id")))
    return None


def _near_body(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    k = key.lower()
    # The cheap test first: a rule change's own fields never contain "body" nor start with "mess".
    if "body" not in k and not k.startswith("mess"):
        return False
    similar = difflib.SequenceMatcher(None, k, "messagebody").ratio()
    return similar >= (0.5 if "body" in k else 0.85)  # messageBdy, message_body, msgBody, Body; not messageId


def _is_change(obj: dict[str, Any]) -> bool:
    return "specversion" in obj and "data" in obj and not _is_wrapper(obj)


def _decode_body(body: Any) -> Any:
    if isinstance(body, dict):
        return body
    if not isinstance(body, str):
        raise ValueError("messageBody is not text")
    try:
        doc = loads(body)
        if isinstance(doc, dict):
            return doc
    except NotJson as exc:
        if exc.line is None:  # JSON, but beyond what is read (a huge integer, deep nesting): say so
            raise ValueError(f"messageBody: {exc}") from None
    try:
        decoded = base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("messageBody is neither a JSON event nor base64 of one") from None
    try:
        return loads(decoded)
    except NotJson as exc:
        if exc.line is None:
            raise ValueError(f"messageBody (base64): {exc}") from None
        raise ValueError("messageBody is neither a JSON event nor base64 of one") from None


def _unwrap(obj: dict[str, Any]) -> Delivered:
    data = obj["data"]
    mid = _id(data.get("messageId")) or _id(obj.get("id"))
    try:
        return Delivered(_decode_body(data["messageBody"]), message_id=mid)
    except ValueError as exc:
        return Delivered(None, SgruleError("InvalidEvent.Malformed", str(exc), field="data.messageBody"),
                         message_id=mid)


_UNKNOWN = ("not an EventBridge event wrapping an MNS message (data.messageBody) nor a rule-change "
            "CloudEvent (specversion, data)")


def item(obj: Any) -> Delivered | None:
    """One element of a payload: an MNS-message wrapper (unwrapped) or a rule-change event; None when it has
    neither shape."""
    if isinstance(obj, dict):
        if _is_wrapper(obj):
            return _unwrap(obj)
        misspelt = _misspelt_wrapper(obj)
        if misspelt is not None:
            return misspelt
        if _is_change(obj):
            return Delivered(obj, message_id=_id(obj.get("id")))
    return None


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def unwrap(payload: bytes | str | Any) -> list[Delivered]:
    """Every change in the invocation payload, in input order."""
    if isinstance(payload, (bytes, bytearray, str)):
        try:
            payload = loads(payload)
        except NotJson as exc:
            raise InvocationError(f"the event is not JSON: {exc}") from None
    if isinstance(payload, list):
        items = []
        for i, obj in enumerate(payload):
            delivered = item(obj)
            if delivered is None:
                delivered = Delivered(None, SgruleError("InvalidEvent.Malformed", f"event[{i}]: {_UNKNOWN}",
                                                        field=f"[{i}]"), message_id=_id(obj.get("id"))
                                      if isinstance(obj, dict) else None)
            items.append(delivered)
        return items
    delivered = item(payload)
    if delivered is None:
        raise InvocationError(f"event: {_UNKNOWN}")
    return [delivered]

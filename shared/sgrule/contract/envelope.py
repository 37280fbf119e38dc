"""What the apply function can be handed, unwrapped into rule-change events.

Accepted shapes (FC gives the handler bytes):
- a JSON array of EventBridge events wrapping MNS messages (``data.messageBody`` holds the rule-change
  event as JSON text, or base64 of it when the trigger does not decode bodies), or one such object;
- a bare rule-change event (a synchronous invoke from a workflow), or a JSON array of them.
A payload that is not JSON, or a single value of no known shape, raises :class:`InvocationError` (an
unrecognised shape is never a silent no-op). Inside an array, each element stands alone: an element of no
known shape, or a message whose body cannot be decoded, still becomes an item carrying its error, so it gets
a ``rejected`` outcome and never blocks its neighbours.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from .errors import SgruleError


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


def _is_change(obj: dict[str, Any]) -> bool:
    return "specversion" in obj and "data" in obj and not _is_wrapper(obj)


def _decode_body(body: Any) -> Any:
    if isinstance(body, dict):
        return body
    if not isinstance(body, str):
        raise ValueError("messageBody is not text")
    try:
        doc = json.loads(body)
        if isinstance(doc, dict):
            return doc
    except (json.JSONDecodeError, RecursionError):
        pass
    try:
        return json.loads(base64.b64decode(body, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
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


def _item(obj: Any) -> Delivered | None:
    if isinstance(obj, dict):
        if _is_wrapper(obj):
            return _unwrap(obj)
        if _is_change(obj):
            return Delivered(obj, message_id=_id(obj.get("id")))
    return None


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def unwrap(payload: bytes | str | Any) -> list[Delivered]:
    """Every change in the invocation payload, in input order."""
    if isinstance(payload, (bytes, bytearray, str)):
        try:
            payload = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise InvocationError(f"the event is not JSON: {type(exc).__name__}: {exc}") from None
    if isinstance(payload, list):
        items = []
        for i, obj in enumerate(payload):
            item = _item(obj)
            if item is None:
                item = Delivered(None, SgruleError("InvalidEvent.Malformed", f"event[{i}]: {_UNKNOWN}",
                                                   field=f"[{i}]"), message_id=_id(obj.get("id"))
                                 if isinstance(obj, dict) else None)
            items.append(item)
        return items
    item = _item(payload)
    if item is None:
        raise InvocationError(f"event: {_UNKNOWN}")
    return [item]

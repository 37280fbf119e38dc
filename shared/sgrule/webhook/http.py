"""The FC 3.0 HTTP trigger's event in, its response out, and the webhook's documented answers.

Event: ``{"version": "v1", "rawPath", "body", "isBase64Encoded", "headers", "queryParameters",
"requestContext": {"http": {"method", "path", ...}, "requestId", ...}}`` (repeated headers comma-joined).
Response: ``{"statusCode", "headers", "body", "isBase64Encoded"}``. Every answer is JSON; errors are
``{"errors": [{"index", "code", "message", "field"}]}``.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ..contract.safe import NotJson, loads

MAX_BODY_BYTES = 256 * 1024
MAX_CHANGES = 100

# code -> (HTTP status, message). Change-level codes (400) are the contract's; these are the request's own.
ANSWERS: dict[str, tuple[int, str]] = {
    "Webhook.BadRequest": (400, "The request is not an HTTP trigger event."),
    "Webhook.Unauthorized": (401, "The request could not be authenticated."),
    "Webhook.NotAuthorized": (403, "No change in this request is authorized by the sender's policy "
                                   "(authorize); nothing was accepted."),
    "Webhook.UnknownSender": (404, "No sender is configured at this path: POST <function URL>/<sender>."),
    "Webhook.MethodNotAllowed": (405, "Only POST is accepted."),
    "Webhook.PayloadTooLarge": (413, f"The body is larger than {MAX_BODY_BYTES // 1024} KB."),
    "Webhook.TooManyChanges": (413, f"A request may carry at most {MAX_CHANGES} changes; split it."),
    "Webhook.UnsupportedMediaType": (415, "The body must be JSON (Content-Type: application/json)."),
    "Webhook.DeliveryInProgress": (503, "This delivery is being processed; retry later for its response."),
    "Webhook.QueueUnavailable": (503, "The change queue could not be reached; nothing was accepted. Retry later."),
    "Webhook.StoreUnavailable": (503, "The delivery store could not be reached; nothing was accepted. Retry later."),
    "Webhook.Misconfigured": (503, "The webhook is misconfigured; its operators have been told in the log."),
    "Webhook.InternalError": (500, "The request failed unexpectedly; nothing was accepted."),
}


class BadRequest(Exception):
    """The event is not an HTTP trigger event (or its body cannot be decoded)."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or ANSWERS[code][1])
        self.code = code
        self.message = message or ANSWERS[code][1]


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    request_id: str | None

    @property
    def sender_name(self) -> str:
        """The last path segment: ``/jira`` and ``/hooks/jira`` are both sender ``jira``."""
        segments = [s for s in self.path.split("/") if s]
        return segments[-1] if segments else ""

    def is_json(self) -> bool:
        media = self.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def parse_event(event: Any) -> HttpRequest:
    """The HTTP trigger event (bytes, text or a dict) -> :class:`HttpRequest`; :class:`BadRequest` if it
    is none, :class:`BadRequest` ``Webhook.PayloadTooLarge`` before decoding a body that is too big."""
    if isinstance(event, (bytes, bytearray, str)):
        try:
            event = loads(event)
        except NotJson:
            raise BadRequest("Webhook.BadRequest") from None
    if not isinstance(event, dict):
        raise BadRequest("Webhook.BadRequest")
    context = event.get("requestContext") if isinstance(event.get("requestContext"), dict) else {}
    http = context.get("http") if isinstance(context.get("http"), dict) else {}
    method = http.get("method")
    path = http.get("path")
    if not isinstance(path, str):
        raw = event.get("rawPath")
        path = unquote(raw) if isinstance(raw, str) else None
    raw_headers = event.get("headers") if event.get("headers") is not None else {}
    if not isinstance(method, str) or not isinstance(path, str) or not isinstance(raw_headers, dict):
        raise BadRequest("Webhook.BadRequest")
    headers = {str(k).lower(): v for k, v in raw_headers.items() if isinstance(v, str)}
    request_id = context.get("requestId") if isinstance(context.get("requestId"), str) else None
    return HttpRequest(method=method.upper(), path=path, headers=headers, body=_body(event), request_id=request_id)


def _body(event: dict[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise BadRequest("Webhook.BadRequest")
    if event.get("isBase64Encoded") is True:
        if len(body) > (MAX_BODY_BYTES + 2) // 3 * 4 + 4:
            raise BadRequest("Webhook.PayloadTooLarge")
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("Webhook.BadRequest", "The body is marked base64 but is not.") from None
    if len(body) > MAX_BODY_BYTES:  # characters <= bytes: a cheap first cut
        raise BadRequest("Webhook.PayloadTooLarge")
    # FC hands text bodies over decoded; their bytes are the UTF-8 encoding (lone surrogates kept, so a
    # body that never was UTF-8 fails verification or parsing instead of crashing here).
    return body.encode("utf-8", "surrogatepass")


def respond(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"statusCode": status,
            "headers": {"Content-Type": "application/json", **(headers or {})},
            "body": json.dumps(body, ensure_ascii=True, separators=(",", ":")),
            "isBase64Encoded": False}


RETRY_AFTER_S = 10  # a 503 without its own says when to try again (senders back off on it)


def answer(code: str, message: str | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    status, default = ANSWERS[code]
    if status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_S), **(headers or {})}
    return respond(status, {"errors": [{"index": None, "code": code, "message": message or default,
                                        "field": None}]}, headers)

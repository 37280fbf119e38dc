"""Verifying a webhook request: one scheme per ticket system, each over the raw body bytes.

Every scheme compares in constant time (:func:`hmac.compare_digest`) against *every* configured secret
(so a rotated secret and its successor both verify), and returns the delivery id the replay guard keys on.
A failure raises :class:`Unauthorized`; its ``reason`` goes to the log, never into the response.

| scheme      | signature header                                   | signed bytes            | delivery id                     |
|-------------|----------------------------------------------------|-------------------------|---------------------------------|
| standard    | webhook-signature: v1,<b64> ... (+ id, timestamp)  | id.timestamp.body       | webhook-id                      |
| github      | X-Hub-Signature-256: sha256=<hex>                   | body                    | X-GitHub-Delivery               |
| jira        | X-Hub-Signature: sha256=<hex>                       | body                    | X-Atlassian-Webhook-Identifier  |
| pagerduty   | X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]       | body                    | X-Webhook-Id                    |
| zendesk     | X-Zendesk-Webhook-Signature: <b64> (+ timestamp)    | timestamp + body        | X-Zendesk-Webhook-Id            |
| token       | Authorization: Bearer <token>                       | -                       | deliveryHeader, or body digest  |
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import datetime, timezone
from typing import Callable, Mapping

from .config import Sender
from .times import parse_iso8601

MAX_HEADER_CHARS = 4096  # longer signature headers are refused before any work
_DELIVERY_ID = re.compile(r"^[\x21-\x7e]{1,256}$")  # printable ASCII: safe as a store key and in logs
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_DIGITS = re.compile(r"^[0-9]{1,12}$")


class Unauthorized(Exception):
    """The request is not authentic (or not fresh). ``reason`` is for operators' logs only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Headers = Mapping[str, str]  # lower-case names
Verifier = Callable[[Sender, Headers, bytes, float], str]


def verify(sender: Sender, headers: Headers, body: bytes, now: float) -> str:
    """Check the request against the sender's scheme and secrets; return its delivery id."""
    return _VERIFIERS[sender.scheme](sender, headers, body, now)


# --------------------------------------------------------------------------------------------- helpers

def _header(headers: Headers, name: str) -> str:
    value = headers.get(name)
    if value is None or not value.strip():
        raise Unauthorized(f"missing {name}")
    if len(value) > MAX_HEADER_CHARS:
        raise Unauthorized(f"{name} too long")
    return value.strip()


def _delivery_id(headers: Headers, name: str) -> str:
    value = _header(headers, name)
    if not _DELIVERY_ID.match(value):
        raise Unauthorized(f"malformed {name}")
    return value


def _secrets(sender: Sender) -> list[bytes]:
    return [s.get_secret_value().encode() for s in sender.secrets]


def _any_equal(expected: list[bytes], given: list[bytes]) -> bool:
    # Every pair is compared (no early exit): the time taken says nothing about which secret matched.
    ok = False
    for e in expected:
        for g in given:
            ok |= hmac.compare_digest(e, g)
    return ok


def _hmac(secret: bytes, *parts: bytes) -> bytes:
    mac = hmac.new(secret, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.digest()


def _fresh(when: float, now: float, tolerance: float, name: str) -> None:
    if when < now - tolerance:
        raise Unauthorized(f"{name} too old")
    if when > now + tolerance:
        raise Unauthorized(f"{name} in the future")


def _hex_signature(value: str, prefix: str, name: str) -> bytes:
    if not value.startswith(prefix) or not _HEX64.match(value[len(prefix):]):
        raise Unauthorized(f"malformed {name}")
    return bytes.fromhex(value[len(prefix):])


# --------------------------------------------------------------------------------------------- schemes

def _standard(sender: Sender, headers: Headers, body: bytes, now: float) -> str:
    # Standard Webhooks, through the reference package's signer; the header parsing and the tolerance are
    # ours (its verify() has a fixed 5-minute window, reads the clock itself and raises on odd headers).
    from standardwebhooks import Webhook

    msg_id = _delivery_id(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    if not _DIGITS.match(stamp):
        raise Unauthorized("malformed webhook-timestamp")
    _fresh(int(stamp), now, sender.tolerance_seconds, "webhook-timestamp")
    given: list[bytes] = []
    for item in _header(headers, "webhook-signature").split():
        version, _, sig = item.partition(",")
        if version != "v1":
            continue  # other versions (e.g. asymmetric v1a) are not ours to check
        try:
            given.append(base64.b64decode(sig, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not given:
        raise Unauthorized("no v1 signature in webhook-signature")
    try:
        text = body.decode("utf-8")  # the package signs text: a body that is not UTF-8 cannot verify
    except UnicodeDecodeError:
        raise Unauthorized("body is not UTF-8") from None
    moment = datetime.fromtimestamp(int(stamp), tz=timezone.utc)
    expected = [base64.b64decode(Webhook(s.get_secret_value()).sign(msg_id, moment, text).split(",", 1)[1])
                for s in sender.secrets]
    if not _any_equal(expected, given):
        raise Unauthorized("signature mismatch")
    return msg_id


def _hub(signature_header: str, delivery_header: str) -> Verifier:
    """GitHub and Jira: ``sha256=<hex>`` of the body under the shared secret."""

    def check(sender: Sender, headers: Headers, body: bytes, now: float) -> str:
        delivery = _delivery_id(headers, delivery_header)
        given = _hex_signature(_header(headers, signature_header), "sha256=", signature_header)
        if not _any_equal([_hmac(s, body) for s in _secrets(sender)], [given]):
            raise Unauthorized("signature mismatch")
        return delivery

    return check


def _pagerduty(sender: Sender, headers: Headers, body: bytes, now: float) -> str:
    delivery = _delivery_id(headers, "x-webhook-id")
    given: list[bytes] = []
    for item in _header(headers, "x-pagerduty-signature").split(","):
        item = item.strip()
        if item.startswith("v1="):  # one per active secret on PagerDuty's side
            given.append(_hex_signature(item, "v1=", "x-pagerduty-signature"))
    if not given:
        raise Unauthorized("no v1 signature in x-pagerduty-signature")
    if not _any_equal([_hmac(s, body) for s in _secrets(sender)], given):
        raise Unauthorized("signature mismatch")
    return delivery


def _zendesk(sender: Sender, headers: Headers, body: bytes, now: float) -> str:
    delivery = _delivery_id(headers, "x-zendesk-webhook-id")
    stamp = _header(headers, "x-zendesk-webhook-signature-timestamp")
    when = parse_iso8601(stamp)
    if when is None:
        raise Unauthorized("malformed x-zendesk-webhook-signature-timestamp")
    _fresh(when.timestamp(), now, sender.tolerance_seconds, "x-zendesk-webhook-signature-timestamp")
    try:
        given = base64.b64decode(_header(headers, "x-zendesk-webhook-signature"), validate=True)
    except (binascii.Error, ValueError):
        raise Unauthorized("malformed x-zendesk-webhook-signature") from None
    # Signed: the timestamp header's text immediately followed by the body.
    expected = [_hmac(s, stamp.encode("utf-8", "surrogatepass"), body) for s in _secrets(sender)]
    if not _any_equal(expected, [given]):
        raise Unauthorized("signature mismatch")
    return delivery


def _token(sender: Sender, headers: Headers, body: bytes, now: float) -> str:
    scheme, _, token = _header(headers, "authorization").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("authorization is not a bearer token")
    given = token.strip().encode("utf-8", "surrogatepass")
    if not _any_equal([hashlib.sha256(s).digest() for s in _secrets(sender)], [hashlib.sha256(given).digest()]):
        raise Unauthorized("token mismatch")
    if sender.delivery_header:
        return _delivery_id(headers, sender.delivery_header)
    # No delivery id in the protocol: the same body is the same delivery.
    return "sha256:" + hashlib.sha256(body).hexdigest()


_VERIFIERS: dict[str, Verifier] = {
    "standard": _standard,
    "github": _hub("x-hub-signature-256", "x-github-delivery"),
    "jira": _hub("x-hub-signature", "x-atlassian-webhook-identifier"),
    "pagerduty": _pagerduty,
    "zendesk": _zendesk,
    "token": _token,
}

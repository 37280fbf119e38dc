"""Putting rule-change events on the change queue with the official ``aliyun-mns-sdk`` (module ``mns``).

Each event becomes one message: its compact JSON text, which the SDK base64-encodes on the wire (its
default, kept: the queue's EventBridge trigger decodes it, and sgrule's envelope accepts both forms).
Messages go in ``BatchSendMessage`` calls of at most 16 messages and 64 KB of (encoded) bodies, the MNS
limits. Transient failures -- network errors, 5xx codes, throttling -- are retried with full-jitter
backoff until the deadline; anything else is final. What cannot be sent raises :class:`EnqueueError`
carrying the message ids that did go.

MNS has no idempotency token: a batch re-sent after a lost reply (and the SDK itself re-sends once when a
connection closes without a reply) can enqueue a message twice. The apply function's idempotency store
(keyed by the event's ``source`` and ``id``) absorbs such duplicates.

The SDK is imported on the first send (cold start).
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

from ..runtime.config import CommonSettings
from .base import static_credentials
from .retry import Retrier

MAX_MESSAGES_PER_BATCH = 16  # MNS BatchSendMessage
MAX_BYTES_PER_BATCH = 64 * 1024
MAX_BYTES_PER_MESSAGE = 64 * 1024  # a queue's largest MaximumMessageSize (its default)
# Codes worth another try: the service's own trouble or its throttling (the SDK's exception has no status).
_TRANSIENT_CODES = ("InternalError", "InternalServerError", "ServiceUnavailable", "QpsLimitExceeded",
                    "Throttling", "RequestTimeout", "Timeout")


class EnqueueError(RuntimeError):
    """The queue could not be reached or refused the messages; ``sent`` holds the ids that did go.

    ``code`` is the last MNS error code (or ``NetworkError``); ``transient`` says whether trying again
    later may succeed (the queue was unreachable, busy or failing) or not (the request itself was refused).
    """

    def __init__(self, message: str, sent: list[str] | None = None, *, code: str | None = None,
                 transient: bool = False) -> None:
        super().__init__(message)
        self.sent = sent or []
        self.code = code
        self.transient = transient


def encode(event: dict[str, Any]) -> str:
    """An event's message body before the SDK's base64: compact JSON (``\\u`` escapes only where UTF-8
    cannot carry the text, e.g. lone surrogates). Raises ValueError for NaN/infinity or non-JSON values."""
    text = json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(event, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text


def wire_size(body: str) -> int:
    """Bytes of ``body`` on the wire after the SDK's base64 encoding (what MNS counts)."""
    return 4 * ((len(body.encode("utf-8")) + 2) // 3)


def batches(bodies: list[str]) -> list[list[int]]:
    """Indexes of ``bodies`` grouped greedily, in order, into batches of <= 16 messages and <= 64 KB."""
    out: list[list[int]] = []
    size = 0
    for i, body in enumerate(bodies):
        n = wire_size(body)
        if not out or len(out[-1]) >= MAX_MESSAGES_PER_BATCH or size + n > MAX_BYTES_PER_BATCH:
            out.append([])
            size = 0
        out[-1].append(i)
        size += n
    return out


def is_transient(code: str) -> bool:
    return code.startswith(_TRANSIENT_CODES)


class _ChainCredentials:
    """The MNS SDK's credentials-provider interface over the default Alibaba Cloud credential chain (env,
    profile, RAM role), asked again on every request so rotating STS keys keep working."""

    def __init__(self) -> None:
        from alibabacloud_credentials.client import Client as CredentialClient

        self._client = CredentialClient()

    def get_credentials(self) -> Any:
        from mns.auth import Credentials

        c = self._client.get_credential()
        return Credentials(c.get_access_key_id(), c.get_access_key_secret(), c.get_security_token() or "")


class ChangeQueue:
    """The change queue (``SGRULE_CHANGE_QUEUE`` at ``SGRULE_MNS_ENDPOINT``), one per FC instance.

    Safe to share across threads: the SDK's client holds one connection, so each thread gets its own.
    """

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self._local = threading.local()

    def send(self, events: list[dict[str, Any]], deadline: float | None = None) -> list[str]:
        """Send each event as one message (JSON text), in batches of <= 16 messages and <= 64 KB, retrying
        transient failures until ``deadline`` (time.monotonic); returns the MNS message ids in order.
        Raises :class:`EnqueueError` if any message could not be sent."""
        if not events:
            return []
        bodies: list[str] = []
        for i, event in enumerate(events):
            try:
                body = encode(event)
            except (TypeError, ValueError) as exc:
                raise EnqueueError(f"event #{i} is not JSON-serialisable: {exc}", code="InvalidArgument") from None
            if wire_size(body) > MAX_BYTES_PER_MESSAGE:
                raise EnqueueError(f"event #{i} ({_event_id(event)}) is {wire_size(body)} bytes encoded; an MNS "
                                   f"message holds at most {MAX_BYTES_PER_MESSAGE}", code="InvalidArgument")
            bodies.append(body)
        s = self.settings
        if deadline is None:
            deadline = time.monotonic() + s.default_timeout_s
        retrier = Retrier.of(s, deadline)
        ids: list[str | None] = [None] * len(bodies)
        for batch in batches(bodies):
            self._send_batch(batch, bodies, ids, retrier)
        return [i for i in ids if i is not None]

    # --- one batch ------------------------------------------------------------------------------------------

    def _send_batch(self, batch: list[int], bodies: list[str], ids: list[str | None], retrier: Retrier) -> None:
        from mns.mns_exception import MNSClientNetworkException, MNSServerException
        from mns.queue import Message

        pending = list(batch)
        attempt = 0
        while True:
            if time.monotonic() >= retrier.deadline:
                raise self._error(ids, f"out of time after {attempt} attempt(s)", "Runtime.RetriesExhausted", True)
            attempt += 1
            queue = self._queue(retrier.deadline)
            try:
                sent = queue.batch_send_message([Message(bodies[i]) for i in pending])
                for i, message in zip(pending, sent):
                    ids[i] = message.message_id
                return
            except MNSServerException as exc:
                code, message = str(exc.type), str(exc.message)
                if exc.sub_errors:  # per-message results: some went, some did not
                    failed: list[tuple[int, str, str]] = []
                    for i, entry in zip(pending, exc.sub_errors):
                        if entry.get("MessageId"):
                            ids[i] = entry["MessageId"]
                        else:
                            failed.append((i, entry.get("ErrorCode", code), entry.get("ErrorMessage", message)))
                    final = [f for f in failed if not is_transient(f[1])]
                    if final:
                        i, code, message = final[0]
                        raise self._error(ids, f"MNS refused message #{i}: {code}: {message}", code, False) from None
                    if not failed:
                        return
                    pending = [i for i, _, _ in failed]
                    code, message = failed[0][1], failed[0][2]
                elif not is_transient(code):
                    raise self._error(ids, f"BatchSendMessage failed: {code}: {message}", code, False) from None
            except MNSClientNetworkException as exc:
                code, message = "NetworkError", f"{exc.type}: {exc.message}"
                self._local.account = None  # a fresh connection next time
            except Exception as exc:  # noqa: BLE001 - the SDK's own parameter checks and anything unforeseen: final
                raise self._error(ids, f"BatchSendMessage failed: {type(exc).__name__}: {exc}",
                                  type(exc).__name__, False) from None
            if not retrier.pause(attempt):
                raise self._error(ids, f"BatchSendMessage kept failing after {attempt} attempt(s): {code}: {message}",
                                  code, True)

    def _error(self, ids: list[str | None], message: str, code: str, transient: bool) -> EnqueueError:
        return EnqueueError(message, [i for i in ids if i is not None], code=code, transient=transient)

    def _queue(self, deadline: float) -> Any:
        """This thread's queue object, its socket timeout ending no later than the deadline."""
        account = getattr(self._local, "account", None)
        if account is None:
            account = self._local.account = self._account()
            self._local.timeout = None
        timeout = max(0.1, min(self.settings.read_timeout_ms / 1000, deadline - time.monotonic()))
        current = self._local.timeout
        if current is None or timeout < current - 0.05 or timeout > current + 1:
            account.get_client().set_connection_timeout(timeout)  # the SDK's connect and read timeout
            self._local.timeout = timeout
        return account.get_queue(self.settings.change_queue)

    def _account(self) -> Any:
        from mns.account import Account

        if not self.settings.mns_endpoint:
            raise EnqueueError("SGRULE_MNS_ENDPOINT is not set: no change queue to send to "
                               "(e.g. http://<account-id>.mns.<region>.aliyuncs.com)", code="Config")
        creds = static_credentials(self.settings)
        if creds is None:
            return Account(self.settings.mns_endpoint, credentials_provider=_ChainCredentials())
        return Account(self.settings.mns_endpoint, *creds)


def _event_id(event: dict[str, Any]) -> str:
    return f"id {event.get('id')!r}" if isinstance(event, dict) and "id" in event else "no id"

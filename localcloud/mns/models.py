"""MNS state: queues and their messages. Thread-safe; the one object both the wire side
(``localcloud.mns.responses``) and in-process users (FC's eventbridge trigger, async destinations) call.

One :class:`threading.Condition` guards everything: every change notifies it, so a long poll
(:meth:`MnsBackend.receive` with ``wait_seconds``) returns as soon as a message can be received -- sent,
its delay over, its visibility timeout expired, or the clock advanced. Time comes from :class:`Clock`
(wall clock + an offset tests advance), so visibility, delay and retention are testable without sleeping.

A message is *delayed* (never received, ``next_visible_time`` in the future), *visible*
(``next_visible_time`` reached) or *in flight* (received, ``next_visible_time`` in the future). Receiving
picks visible messages by priority (1 first), then enqueue order; expired messages (past the queue's
MessageRetentionPeriod since enqueue) are dropped whenever their queue is touched.
"""
from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import itertools
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Iterable

from localcloud.mns.exceptions import MnsError, error, fail, out_of_range

MAX_BATCH_MESSAGES = 16  # BatchSendMessage / BatchReceiveMessage / BatchPeekMessage
MAX_BATCH_BYTES = 64 * 1024  # BatchSendMessage: all bodies together
MAX_WAIT_SECONDS = 30  # ReceiveMessage waitseconds
_QUEUE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")

# attribute -> (low, high, unit): the documented ranges.
ATTRIBUTE_RANGES: dict[str, tuple[int, int, str]] = {
    "delay_seconds": (0, 604800, "seconds"),
    "maximum_message_size": (1024, 65536, "bytes"),
    "message_retention_period": (60, 604800, "seconds"),
    "visibility_timeout": (1, 43200, "seconds"),
    "polling_wait_seconds": (0, MAX_WAIT_SECONDS, "seconds"),
}
WIRE_NAMES = {"delay_seconds": "DelaySeconds", "maximum_message_size": "MaximumMessageSize",
              "message_retention_period": "MessageRetentionPeriod", "visibility_timeout": "VisibilityTimeout",
              "polling_wait_seconds": "PollingWaitSeconds", "logging_enabled": "LoggingEnabled"}


@dataclass
class QueueAttributes:
    delay_seconds: int = 0  # 0-604800
    maximum_message_size: int = 65536  # 1024-65536 bytes
    message_retention_period: int = 345600  # 60-604800 s
    visibility_timeout: int = 30  # 1-43200 s
    polling_wait_seconds: int = 0  # 0-30 s: the default long poll of ReceiveMessage
    logging_enabled: bool = False

    def validate(self) -> None:
        for name, (low, high, unit) in ATTRIBUTE_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                out_of_range(WIRE_NAMES[name], low, high, unit)


@dataclass
class Message:
    """A message as ReceiveMessage/PeekMessage return it."""

    message_id: str
    body: str  # exactly as sent (the SDK base64-encodes unless told not to)
    body_md5: str  # hex MD5 of the body, upper-case as MNS returns it
    enqueue_time_ms: int
    first_dequeue_time_ms: int = 0
    next_visible_time_ms: int = 0
    dequeue_count: int = 0
    priority: int = 8  # 1 (highest) - 16
    receipt_handle: str | None = None  # set on receive; changes on every receive and visibility change
    extra: dict[str, Any] = field(default_factory=dict)

    def state(self, now_ms: int) -> str:
        """``visible``, ``inflight`` or ``delayed`` at ``now_ms``."""
        if self.next_visible_time_ms <= now_ms:
            return "visible"
        return "inflight" if self.dequeue_count > 0 else "delayed"


class Clock:
    """Milliseconds since the epoch, plus an offset that only moves forward (``advance``)."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    def advance(self, seconds: float) -> int:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset_ms += int(round(seconds * 1000))
        return self.offset_ms


@dataclass
class _Queue:
    name: str
    attributes: QueueAttributes
    create_time_ms: int
    last_modify_time_ms: int
    messages: dict[str, Message] = field(default_factory=dict)  # insertion order = enqueue order


def body_md5(body: str) -> str:
    return hashlib.md5(body.encode("utf-8")).hexdigest().upper()


def validate_queue_name(name: str) -> None:
    if not 1 <= len(name) <= 256:
        fail("queue_name_length")
    if not _QUEUE_NAME.fullmatch(name):
        fail("queue_name_invalid")


class MnsBackend:
    """Queues of one account and region."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self._cond = threading.Condition()
        self._queues: dict[str, _Queue] = {}
        self._id_prefix = uuid.uuid4().hex[:16].upper()  # message ids stay unique across resets
        self._seq = itertools.count(1)
        self._waiting: dict[str, int] = {}  # queue -> receivers in a long poll right now

    # --- queues ---------------------------------------------------------------------------------------------

    def create_queue(self, name: str, attributes: QueueAttributes | None = None) -> None:
        """Create ``name`` (or keep it if it exists with the same attributes; MNS answers QueueAlreadyExist
        for different ones)."""
        self.ensure_queue(name, attributes)

    def ensure_queue(self, name: str, attributes: QueueAttributes | None = None) -> bool:
        """:meth:`create_queue` that says whether the queue is new (CreateQueue's 201) or was there with the
        same attributes (its 204)."""
        validate_queue_name(name)
        attrs = copy.copy(attributes) if attributes is not None else QueueAttributes()
        attrs.validate()
        with self._cond:
            existing = self._queues.get(name)
            if existing is not None:
                if existing.attributes != attrs:
                    fail("queue_exists")
                return False
            now = self.clock.now_ms()
            self._queues[name] = _Queue(name, attrs, now, now)
            return True

    def delete_queue(self, name: str) -> None:
        """Delete ``name`` and its messages (deleting a missing queue succeeds, as in MNS)."""
        with self._cond:
            self._queues.pop(name, None)
            self._cond.notify_all()  # long polls on it end (empty)

    def has_queue(self, name: str) -> bool:
        with self._cond:
            return name in self._queues

    def queue_names(self, prefix: str = "") -> list[str]:
        with self._cond:
            return sorted(n for n in self._queues if n.startswith(prefix))

    def get_attributes(self, name: str) -> QueueAttributes:
        with self._cond:
            return copy.copy(self._queue(name).attributes)

    def set_attributes(self, name: str, **changes: Any) -> QueueAttributes:
        """Change the given attributes (``visibility_timeout=60`` ...); the others keep their values."""
        with self._cond:
            queue = self._queue(name)
            unknown = set(changes) - {f.name for f in fields(QueueAttributes)}
            if unknown:
                raise ValueError(f"unknown queue attributes: {sorted(unknown)}")
            attrs = replace(queue.attributes, **changes)
            attrs.validate()
            queue.attributes = attrs
            queue.last_modify_time_ms = self.clock.now_ms()
            self._cond.notify_all()
            return copy.copy(attrs)

    def queue_info(self, name: str) -> dict[str, Any]:
        """Attributes, times and message counts (what GetQueueAttributes returns)."""
        with self._cond:
            queue = self._queue(name)
            now = self._purge(queue)
            counts = {"visible": 0, "inflight": 0, "delayed": 0}
            for m in queue.messages.values():
                counts[m.state(now)] += 1
            return {"attributes": copy.copy(queue.attributes), "create_time_ms": queue.create_time_ms,
                    "last_modify_time_ms": queue.last_modify_time_ms, "counts": counts}

    # --- messages -------------------------------------------------------------------------------------------

    def send(self, queue: str, body: str, delay_seconds: int | None = None, priority: int = 8) -> Message:
        """Enqueue one message (raises the MNS error for an unknown queue or an oversized body)."""
        with self._cond:
            q = self._queue(queue)
            self._purge(q)
            message = self._enqueue(q, body, delay_seconds, priority)
            self._cond.notify_all()
            return copy.deepcopy(message)

    def send_batch(self, queue: str, entries: Iterable[tuple[str, int | None, int]]) -> list[Message | MnsError]:
        """BatchSendMessage: ``(body, delay_seconds, priority)`` each; at most 16 entries and 64 KB of bodies
        (else the whole batch is refused). Returns, per entry, the enqueued message or its own error."""
        batch = list(entries)
        if not 1 <= len(batch) <= MAX_BATCH_MESSAGES:
            out_of_range("Messages", 1, MAX_BATCH_MESSAGES, "messages")
        if sum(len(body.encode("utf-8")) for body, _, _ in batch) > MAX_BATCH_BYTES:
            out_of_range("Messages (all MessageBody together)", 1, MAX_BATCH_BYTES, "bytes")
        results: list[Message | MnsError] = []
        with self._cond:
            q = self._queue(queue)
            self._purge(q)
            for body, delay, priority in batch:
                try:
                    results.append(copy.deepcopy(self._enqueue(q, body, delay, priority)))
                except MnsError as err:
                    results.append(err)
            self._cond.notify_all()
        return results

    def receive(self, queue: str, max_messages: int = 1, wait_seconds: float = 0) -> list[Message]:
        """Up to ``max_messages`` visible messages (priority, then enqueue order), made invisible for the
        queue's visibility timeout, DequeueCount + 1 each; waits up to ``wait_seconds`` for the first one
        (returns as soon as one arrives). Empty list: nothing arrived in time."""
        if not 1 <= max_messages <= MAX_BATCH_MESSAGES:
            out_of_range("numOfMessages", 1, MAX_BATCH_MESSAGES, "messages")
        if not 0 <= wait_seconds <= MAX_WAIT_SECONDS:
            out_of_range("waitseconds", 0, MAX_WAIT_SECONDS)
        deadline = time.monotonic() + wait_seconds
        waiting = False
        with self._cond:
            self._queue(queue)  # QueueNotExist before waiting
            try:
                while True:
                    q = self._queues.get(queue)
                    if q is None:  # deleted while we waited
                        return []
                    now = self._purge(q)
                    ready = sorted((m for m in q.messages.values() if m.next_visible_time_ms <= now),
                                   key=lambda m: m.priority)[:max_messages]
                    if ready:
                        return [copy.deepcopy(self._take(q, m, now)) for m in ready]
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return []
                    if not waiting:
                        waiting = True
                        self._waiting[queue] = self._waiting.get(queue, 0) + 1
                        self._cond.notify_all()  # for wait_for_receivers
                    # Wake for a send/advance (notify) or when the next message becomes visible on its own.
                    upcoming = [m.next_visible_time_ms for m in q.messages.values()]
                    if upcoming:
                        left = min(left, max(0.001, (min(upcoming) - now) / 1000))
                    self._cond.wait(left)
            finally:
                if waiting:
                    self._waiting[queue] -= 1

    def waiting(self, queue: str) -> int:
        """How many receivers are in a long poll on ``queue`` right now."""
        with self._cond:
            return self._waiting.get(queue, 0)

    def wait_for_receivers(self, queue: str, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` receivers are in a long poll on ``queue`` (False on timeout): lets a
        test send only once a receiver is provably waiting."""
        with self._cond:
            return self._cond.wait_for(lambda: self._waiting.get(queue, 0) >= count, timeout)

    def delete(self, queue: str, receipt_handle: str) -> None:
        """Delete a received message by its latest receipt handle."""
        with self._cond:
            q = self._queue(queue)
            message = self._by_handle(q, receipt_handle, self._purge(q))
            del q.messages[message.message_id]

    def delete_batch(self, queue: str, receipt_handles: Iterable[str]) -> list[tuple[str, MnsError]]:
        """BatchDeleteMessage (at most 16 handles): deletes what it can; returns the failures."""
        handles = list(receipt_handles)
        if not 1 <= len(handles) <= MAX_BATCH_MESSAGES:
            out_of_range("ReceiptHandles", 1, MAX_BATCH_MESSAGES, "receipt handles")
        failures: list[tuple[str, MnsError]] = []
        with self._cond:
            q = self._queue(queue)
            now = self._purge(q)
            for handle in handles:
                try:
                    del q.messages[self._by_handle(q, handle, now).message_id]
                except MnsError as err:
                    failures.append((handle, err))
        return failures

    def change_visibility(self, queue: str, receipt_handle: str, visibility_timeout: int) -> Message:
        """Make a received message visible again after ``visibility_timeout`` seconds; a new receipt handle."""
        if not 0 <= visibility_timeout <= 43200:
            out_of_range("VisibilityTimeout", 0, 43200)
        with self._cond:
            q = self._queue(queue)
            now = self._purge(q)
            message = self._by_handle(q, receipt_handle, now)
            message.next_visible_time_ms = now + visibility_timeout * 1000
            message.receipt_handle = self._new_handle(message)
            self._cond.notify_all()
            return copy.deepcopy(message)

    def peek(self, queue: str, max_messages: int = 1) -> list[Message]:
        """Up to ``max_messages`` visible messages, in receive order, unchanged (no receipt handle)."""
        if not 1 <= max_messages <= MAX_BATCH_MESSAGES:
            out_of_range("numOfMessages", 1, MAX_BATCH_MESSAGES, "messages")
        with self._cond:
            q = self._queue(queue)
            now = self._purge(q)
            ready = sorted((m for m in q.messages.values() if m.next_visible_time_ms <= now),
                           key=lambda m: m.priority)[:max_messages]
            return [replace(copy.deepcopy(m), receipt_handle=None) for m in ready]

    def messages(self, queue: str) -> list[Message]:
        """Every message in the queue, visible or not (the control API's view)."""
        with self._cond:
            q = self._queue(queue)
            self._purge(q)
            return [copy.deepcopy(m) for m in q.messages.values()]

    # --- time -----------------------------------------------------------------------------------------------

    def advance_clock(self, seconds: float) -> int:
        """Move the queues' clock forward (visibility, delay and retention follow); returns the offset in ms."""
        with self._cond:
            offset = self.clock.advance(seconds)
            self._cond.notify_all()
            return offset

    def now_ms(self) -> int:
        return self.clock.now_ms()

    # --- state ----------------------------------------------------------------------------------------------

    def reset(self) -> None:
        with self._cond:
            self._queues.clear()
            self.clock.offset_ms = 0
            self._cond.notify_all()

    def dump_state(self) -> dict[str, Any]:
        with self._cond:
            return {"clockOffsetMs": self.clock.offset_ms, "queues": {
                q.name: {"attributes": asdict(q.attributes), "createTime": q.create_time_ms,
                         "lastModifyTime": q.last_modify_time_ms,
                         "messages": [_message_json(m) for m in q.messages.values()]}
                for q in self._queues.values()}}

    def load_state(self, state: dict[str, Any]) -> None:
        """Replace the queues named in ``state`` (the :meth:`dump_state` format; messages optional)."""
        if not isinstance(state, dict) or not isinstance(state.get("queues", {}), dict):
            raise ValueError("mns state must be {\"queues\": {name: {\"attributes\": {...}, \"messages\": [...]}}}")
        loaded: dict[str, _Queue] = {}
        now = self.clock.now_ms()
        for name, spec in state.get("queues", {}).items():
            if not isinstance(spec, dict):
                raise ValueError(f"queue {name!r}: expected an object")
            try:
                validate_queue_name(name)
                attrs = QueueAttributes(**spec.get("attributes", {}))
                attrs.validate()
            except (MnsError, TypeError) as e:
                raise ValueError(f"queue {name!r}: {e}") from None
            queue = _Queue(name, attrs, int(spec.get("createTime", now)), int(spec.get("lastModifyTime", now)))
            for raw in spec.get("messages", []):
                message = _message_from_json(raw, now)
                queue.messages[message.message_id] = message
            loaded[name] = queue
        with self._cond:
            if "clockOffsetMs" in state:
                self.clock.offset_ms = int(state["clockOffsetMs"])
            self._queues.update(loaded)
            self._cond.notify_all()

    # --- internals (call with the condition held) ---------------------------------------------------------

    def _queue(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            raise error("queue_not_exist")
        return queue

    def _purge(self, queue: _Queue) -> int:
        """Drop messages past the retention period; returns now (ms)."""
        now = self.clock.now_ms()
        horizon = now - queue.attributes.message_retention_period * 1000
        expired = [mid for mid, m in queue.messages.items() if m.enqueue_time_ms <= horizon]
        for mid in expired:
            del queue.messages[mid]
        return now

    def _enqueue(self, queue: _Queue, body: str, delay_seconds: int | None, priority: int) -> Message:
        if not isinstance(body, str) or body == "":
            out_of_range("MessageBody", 1, queue.attributes.maximum_message_size, "bytes")
        if len(body.encode("utf-8")) > queue.attributes.maximum_message_size:
            out_of_range("MessageBody", 1, queue.attributes.maximum_message_size, "bytes")
        delay = queue.attributes.delay_seconds if delay_seconds is None else delay_seconds
        if not 0 <= delay <= 604800:
            out_of_range("DelaySeconds", 0, 604800)
        if not 1 <= priority <= 16:
            out_of_range("Priority", 1, 16, "(1 highest)")
        now = self.clock.now_ms()
        message_id = f"{self._id_prefix}-1-{now:X}-{next(self._seq):09X}"
        message = Message(message_id=message_id, body=body, body_md5=body_md5(body), enqueue_time_ms=now,
                          next_visible_time_ms=now + delay * 1000, priority=priority)
        queue.messages[message_id] = message
        return message

    def _take(self, queue: _Queue, message: Message, now: int) -> Message:
        message.dequeue_count += 1
        if not message.first_dequeue_time_ms:
            message.first_dequeue_time_ms = now
        message.next_visible_time_ms = now + queue.attributes.visibility_timeout * 1000
        message.receipt_handle = self._new_handle(message)
        return message

    def _new_handle(self, message: Message) -> str:
        raw = f"{message.message_id}|{next(self._seq)}".encode()
        return "1-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")  # URL-safe: the SDK doesn't quote it

    def _by_handle(self, queue: _Queue, handle: str, now: int) -> Message:
        message_id = _handle_message_id(handle)
        message = queue.messages.get(message_id)
        # Deleted, visible again (the handle expired at NextVisibleTime), or received since: MessageNotExist.
        if message is None or message.receipt_handle != handle or message.next_visible_time_ms <= now:
            raise error("message_not_exist")
        return message


def _handle_message_id(handle: str) -> str:
    if not handle.startswith("1-"):
        raise error("receipt_handle_invalid")
    token = handle[2:]
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise error("receipt_handle_invalid") from None
    message_id, sep, generation = raw.rpartition("|")
    if not sep or not message_id or not generation.isdigit():
        raise error("receipt_handle_invalid")
    return message_id


_MESSAGE_FIELDS = {"messageId": "message_id", "body": "body", "bodyMd5": "body_md5", "enqueueTime": "enqueue_time_ms",
                   "firstDequeueTime": "first_dequeue_time_ms", "nextVisibleTime": "next_visible_time_ms",
                   "dequeueCount": "dequeue_count", "priority": "priority", "receiptHandle": "receipt_handle"}


def _message_json(m: Message) -> dict[str, Any]:
    return {key: getattr(m, attr) for key, attr in _MESSAGE_FIELDS.items()}


def _message_from_json(raw: Any, now: int) -> Message:
    if not isinstance(raw, dict) or not isinstance(raw.get("body"), str) or not raw["body"]:
        raise ValueError(f"a message needs a non-empty string \"body\": {raw!r}")
    unknown = set(raw) - set(_MESSAGE_FIELDS)
    if unknown:
        raise ValueError(f"unknown message fields: {sorted(unknown)}")
    body = raw["body"]
    enqueue = int(raw.get("enqueueTime", now))
    return Message(message_id=str(raw.get("messageId") or f"LOADED-{uuid.uuid4().hex.upper()}"), body=body,
                   body_md5=body_md5(body), enqueue_time_ms=enqueue,
                   first_dequeue_time_ms=int(raw.get("firstDequeueTime", 0)),
                   next_visible_time_ms=int(raw.get("nextVisibleTime", enqueue)),
                   dequeue_count=int(raw.get("dequeueCount", 0)), priority=int(raw.get("priority", 8)),
                   receipt_handle=raw.get("receiptHandle"))

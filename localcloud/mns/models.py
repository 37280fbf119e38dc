"""MNS state: queues and their messages. Thread-safe; the one object both the wire side
(``localcloud.mns.responses``) and in-process users (FC's eventbridge trigger, async destinations) call.

INTERFACE FIRST: the signatures below are the contract between the MNS product and the FC runtime, which
are written side by side. Bodies raise NotImplementedError until the MNS product lands.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class QueueAttributes:
    delay_seconds: int = 0  # 0-604800
    maximum_message_size: int = 65536  # 1024-65536 bytes
    message_retention_period: int = 345600  # 60-604800 s
    visibility_timeout: int = 30  # 1-43200 s
    polling_wait_seconds: int = 0  # 0-30 s: the default long poll of ReceiveMessage


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


class MnsBackend:
    """Queues of one account and region."""

    def create_queue(self, name: str, attributes: QueueAttributes | None = None) -> None:
        """Create ``name`` (or keep it if it exists with the same attributes; MNS answers QueueAlreadyExist
        for different ones)."""
        raise NotImplementedError

    def delete_queue(self, name: str) -> None:
        raise NotImplementedError

    def has_queue(self, name: str) -> bool:
        raise NotImplementedError

    def send(self, queue: str, body: str, delay_seconds: int | None = None, priority: int = 8) -> Message:
        """Enqueue one message (raises the MNS error for an unknown queue or an oversized body)."""
        raise NotImplementedError

    def receive(self, queue: str, max_messages: int = 1, wait_seconds: float = 0) -> list[Message]:
        """Up to ``max_messages`` visible messages (priority, then enqueue order), made invisible for the
        queue's visibility timeout, DequeueCount + 1 each; waits up to ``wait_seconds`` for the first one
        (returns as soon as one arrives). Empty list: nothing arrived in time."""
        raise NotImplementedError

    def delete(self, queue: str, receipt_handle: str) -> None:
        """Delete a received message by its latest receipt handle."""
        raise NotImplementedError

    def change_visibility(self, queue: str, receipt_handle: str, visibility_timeout: int) -> Message:
        """Make a received message visible again after ``visibility_timeout`` seconds; a new receipt handle."""
        raise NotImplementedError

    def peek(self, queue: str, max_messages: int = 1) -> list[Message]:
        raise NotImplementedError

    def messages(self, queue: str) -> list[Message]:
        """Every message in the queue, visible or not (the control API's view)."""
        raise NotImplementedError

"""Putting rule-change events on the change queue with the official ``aliyun-mns-sdk`` (module ``mns``).

INTERFACE FIRST: the ticket webhook and the description normaliser enqueue through :class:`ChangeQueue`;
its body lands with the MNS product in localcloud.
"""
from __future__ import annotations

from typing import Any

from ..runtime.config import CommonSettings

MAX_MESSAGES_PER_BATCH = 16  # MNS BatchSendMessage
MAX_BYTES_PER_BATCH = 64 * 1024


class EnqueueError(RuntimeError):
    """The queue could not be reached or refused the messages; ``sent`` holds the ids that did go."""

    def __init__(self, message: str, sent: list[str] | None = None) -> None:
        super().__init__(message)
        self.sent = sent or []


class ChangeQueue:
    """The change queue (``SGRULE_CHANGE_QUEUE`` at ``SGRULE_MNS_ENDPOINT``), one per FC instance."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings

    def send(self, events: list[dict[str, Any]], deadline: float | None = None) -> list[str]:
        """Send each event as one message (JSON text), in batches of <= 16 messages and <= 64 KB, retrying
        transient failures until ``deadline`` (time.monotonic); returns the MNS message ids in order.
        Raises :class:`EnqueueError` if any message could not be sent."""
        raise NotImplementedError

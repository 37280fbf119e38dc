"""localcloud's MNS (Simple Message Queue) data plane: queues and messages, XML over REST.

``models`` holds the state (:class:`MnsBackend`), which in-process parts of localcloud (FC triggers and
destinations) use directly; ``responses`` is the wire side the official ``aliyun-mns-sdk`` talks to;
``exceptions`` is the one table of error codes. Routing and the MNS signature live in
``localcloud.server.mns``.
"""
from __future__ import annotations

from localcloud.mns.models import Clock, Message, MnsBackend, QueueAttributes
from localcloud.mns.responses import VERSION, MnsService

__all__ = ["Clock", "Message", "MnsBackend", "MnsService", "QueueAttributes", "VERSION"]

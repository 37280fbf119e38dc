"""MNS 2015-06-06 wire layer: each queue action as ``aliyun-mns-sdk`` calls it -- XML request bodies in, XML
response bodies out, with the status codes the SDK expects.

Routing (method + path + query) and the signature are the protocol's (``localcloud.server.mns``); this
module gets the action name, the decoded URL parameters and the raw body, and answers a :class:`Reply`.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Callable
from xml.sax.saxutils import escape

from localcloud.base import CallContext
from localcloud.mns.exceptions import (BATCH_DELETE_ROOT, BATCH_SEND_ROOT, MnsBatchError, MnsError, fail,
                                       out_of_range)
from localcloud.mns.models import (ATTRIBUTE_RANGES, WIRE_NAMES, Message, MnsBackend, QueueAttributes)

VERSION = "2015-06-06"
XMLNS = "http://mns.aliyuncs.com/doc/v1/"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
_ESCAPES = {"\r": "&#13;", '"': "&quot;"}  # keep CR through XML's newline normalisation


@dataclass
class Reply:
    """A successful MNS answer: status, XML body (may be empty), extra headers."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def xml_document(root: str, children: list[tuple[str, Any]] | None = None, items: list[list[tuple[str, Any]]] | None = None,
                 item_tag: str = "") -> bytes:
    """``<root xmlns=...>`` with simple ``<k>v</k>`` children, or ``<item_tag>`` groups of them."""
    def flat(pairs: list[tuple[str, Any]]) -> str:
        return "".join(f"<{k}>{escape(str(v), _ESCAPES)}</{k}>" for k, v in pairs)

    inner = flat(children or [])
    for group in items or []:
        inner += f"<{item_tag}>{flat(group)}</{item_tag}>"
    return f'{_XML_HEAD}<{root} xmlns="{XMLNS}">{inner}</{root}>'.encode("utf-8")


def _parse(body: bytes, root: str) -> ET.Element:
    if not body:
        fail("xml_invalid", element=f"<{root}> (empty body)")
    try:
        element = ET.fromstring(body)
    except ET.ParseError:
        fail("xml_malformed")
    if _local(element.tag) != root:
        fail("xml_invalid", element=f"<{_local(element.tag)}> (expected <{root}>)")
    return element


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element) -> dict[str, str]:
    out: dict[str, str] = {}
    for child in element:
        name = _local(child.tag)
        if name in out:
            fail("xml_invalid", element=f"<{name}> given twice")
        out[name] = child.text or ""
    return out


def _int(value: str | None, element: str, low: int, high: int, unit: str = "seconds") -> int | None:
    if value is None:
        return None
    text = value.strip()
    if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 12:
        fail("xml_invalid", element=element)
    number = int(text)
    if not low <= number <= high:
        out_of_range(element, low, high, unit)
    return number


def _query_int(params: dict[str, str], name: str, low: int, high: int, unit: str = "seconds") -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        fail("query_invalid", item=f"{name}={raw}")
    number = int(raw)
    if not low <= number <= high:
        out_of_range(name, low, high, unit)
    return number


def _queue_attributes(element: ET.Element, base: QueueAttributes | None) -> dict[str, Any]:
    """The attributes a ``<Queue>`` body sets (only those present)."""
    given = _children(element)
    changes: dict[str, Any] = {}
    for attr, wire in WIRE_NAMES.items():
        if wire not in given:
            continue
        if attr == "logging_enabled":
            text = given[wire].strip().lower()
            if text not in ("true", "false"):
                fail("xml_invalid", element="LoggingEnabled")
            changes[attr] = text == "true"
        else:
            low, high, unit = ATTRIBUTE_RANGES[attr]
            changes[attr] = _int(given[wire], wire, low, high, unit)
    return changes


class MnsService:
    """MNS (queues) on localcloud's one port. Thread-safe on its own (``concurrent``): a long poll must not
    hold a product-wide lock."""

    name = "mns"
    version = VERSION
    wire = "mns"  # served by localcloud.server.mns, never by the RPC protocol
    concurrent = True

    def __init__(self, backend: MnsBackend | None = None) -> None:
        self.backend = backend or MnsBackend()
        self._actions: dict[str, Callable[[dict[str, str], bytes, str], Reply]] = {
            "CreateQueue": self._create_queue, "SetQueueAttributes": self._set_queue_attributes,
            "GetQueueAttributes": self._get_queue_attributes, "DeleteQueue": self._delete_queue,
            "ListQueue": self._list_queue, "SendMessage": self._send_message,
            "BatchSendMessage": self._batch_send_message, "ReceiveMessage": self._receive_message,
            "BatchReceiveMessage": self._batch_receive_message, "PeekMessage": self._peek_message,
            "BatchPeekMessage": self._batch_peek_message, "DeleteMessage": self._delete_message,
            "BatchDeleteMessage": self._batch_delete_message,
            "ChangeMessageVisibility": self._change_message_visibility,
        }

    @property
    def actions(self) -> list[str]:
        return list(self._actions)

    def handle(self, action: str, params: dict[str, str], ctx: CallContext, body: bytes = b"",
               endpoint: str = "") -> Reply:
        """Run one action. ``params``: ``QueueName`` plus the URL's query items and list headers;
        ``endpoint``: ``http://host:port`` as the caller reached us (for QueueURL/Location)."""
        handler = self._actions.get(action)
        if handler is None:
            fail("url_invalid", detail=f"{action} is not an MNS queue action localcloud serves")
        return handler(params, body, endpoint)

    def reset(self) -> None:
        self.backend.reset()

    def dump_state(self) -> dict[str, Any]:
        return self.backend.dump_state()

    def load_state(self, state: dict[str, Any]) -> None:
        self.backend.load_state(state)

    # --- queues ---------------------------------------------------------------------------------------------

    def _create_queue(self, params: dict[str, str], body: bytes, endpoint: str) -> Reply:
        name = params["QueueName"]
        changes = _queue_attributes(_parse(body, "Queue"), None) if body else {}
        created = self.backend.ensure_queue(name, QueueAttributes(**changes))
        # 201 new, 204 already there with the same attributes; the SDK reads Location either way.
        return Reply(201 if created else 204, headers={"Location": f"{endpoint}/queues/{name}"})

    def _set_queue_attributes(self, params: dict[str, str], body: bytes, endpoint: str) -> Reply:
        changes = _queue_attributes(_parse(body, "Queue"), None)
        self.backend.set_attributes(params["QueueName"], **changes)
        return Reply(204)

    def _get_queue_attributes(self, params: dict[str, str], body: bytes, endpoint: str) -> Reply:
        name = params["QueueName"]
        return Reply(200, xml_document("Queue", self._queue_meta(name)))

    def _queue_meta(self, name: str) -> list[tuple[str, Any]]:
        info = self.backend.queue_info(name)
        attrs: QueueAttributes = info["attributes"]
        counts = info["counts"]
        return [("QueueName", name), ("CreateTime", info["create_time_ms"] // 1000),
                ("LastModifyTime", info["last_modify_time_ms"] // 1000),
                ("DelaySeconds", attrs.delay_seconds), ("MaximumMessageSize", attrs.maximum_message_size),
                ("MessageRetentionPeriod", attrs.message_retention_period),
                ("VisibilityTimeout", attrs.visibility_timeout), ("PollingWaitSeconds", attrs.polling_wait_seconds),
                ("ActiveMessages", counts["visible"]), ("InactiveMessages", counts["inflight"]),
                ("DelayMessages", counts["delayed"]), ("LoggingEnabled", "True" if attrs.logging_enabled else "False")]

    def _delete_queue(self, params: dict[str, str], body: bytes, endpoint: str) -> Reply:
        self.backend.delete_queue(params["QueueName"])
        return Reply(204)

    def _list_queue(self, params: dict[str, str], body: bytes, endpoint: str) -> Reply:
        prefix = params.get("x-mns-prefix", "")
        limit = _query_int(params, "x-mns-ret-number", 1, 1000, "queues") or 1000
        marker = params.get("x-mns-marker", "")
        with_meta = params.get("x-mns-with-meta", "").lower() == "true"
        names = [n for n in self.backend.queue_names(prefix) if n > marker] if marker else \
            self.backend.queue_names(prefix)
        page, rest = names[:limit], names[limit:]
        groups = []
        for name in page:
            group: list[tuple[str, Any]] = [("QueueURL", f"{endpoint}/queues/{name}")]
            if with_meta:
                try:
                    group += self._queue_meta(name)
                except MnsError:  # deleted meanwhile
                    continue
            groups.append(group)
        children = [("NextMarker", page[-1])] if rest else []
        return Reply(200, xml_document("Queues", children, groups, "Queue"))

    # --- messages -------------------------------------------------------------------------------------------

    def _send_message(self, params: dict[str, str], body: bytes, endpoint: str) -> Reply:
        entry = self._message_entry(_parse(body, "Message"))
        message = self.backend.send(params["QueueName"], *entry)
        return Reply(201, xml_document("Message", [("MessageId", message.message_id),
                                                   ("MessageBodyMD5", message.body_md5)]))

    def _batch_send_message(self, params: dict[str, str], body: bytes, endpoint: str) -> Reply:
        root = _parse(body, "Messages")
        entries = [self._message_entry(child) for child in root if _local(child.tag) == "Message"]
        results = self.backend.send_batch(params["QueueName"], entries)
        groups: list[list[tuple[str, Any]]] = []
        failed: list[MnsError] = []
        for result in results:
            if isinstance(result, MnsError):
                failed.append(result)
                groups.append([("ErrorCode", result.code), ("ErrorMessage", result.message)])
            else:
                groups.append([("MessageId", result.message_id), ("MessageBodyMD5", result.body_md5)])
        if failed:
            items = [dict(g) for g in groups]
            raise MnsBatchError(max(e.status for e in failed), failed[0].code, failed[0].message, BATCH_SEND_ROOT,
                                items)
        return Reply(201, xml_document("Messages", items=groups, item_tag="Message"))

    def _message_entry(self, element: ET.Element) -> tuple[str, int | None, int]:
        given = _children(element)
        if "MessageBody" not in given:
            fail("xml_invalid", element="MessageBody (missing)")
        delay = _int(given.get("DelaySeconds"), "DelaySeconds", 0, 604800)
        priority = _int(given.get("Priority"), "Priority", 1, 16, "(1 highest)")
        return given["MessageBody"], delay, 8 if priority is None else priority

    def _wait(self, params: dict[str, str]) -> int:
        wait = _query_int(params, "waitseconds", 0, 30)
        if wait is None:  # the queue's default long poll
            wait = self.backend.get_attributes(params["QueueName"]).polling_wait_seconds
        return wait

    def _receive_message(self, params: dict[str, str], body: bytes, endpoint: str) -> Reply:
        wait = self._wait(params)
        messages = self.backend.receive(params["QueueName"], 1, wait)
        if not messages:
            fail("message_not_exist")
        return Reply(200, xml_document("Message", _received(messages[0])))

    def _batch_receive_message(self, params: dict[str, str], body: bytes, endpoint: str) -> Reply:
        count = _query_int(params, "numOfMessages", 1, 16, "messages") or 16
        wait = self._wait(params)
        messages = self.backend.receive(params["QueueName"], count, wait)
        if not messages:
            fail("message_not_exist")
        return Reply(200, xml_document("Messages", items=[_received(m) for m in messages], item_tag="Message"))

    def _peek_message(self, params: dict[str, str], body: bytes, endpoint: str) -> Reply:
        messages = self.backend.peek(params["QueueName"], 1)
        if not messages:
            fail("message_not_exist")
        return Reply(200, xml_document("Message", _peeked(messages[0])))

    def _batch_peek_message(self, params: dict[str, str], body: bytes, endpoint: str) -> Reply:
        count = _query_int(params, "numOfMessages", 1, 16, "messages") or 16
        messages = self.backend.peek(params["QueueName"], count)
        if not messages:
            fail("message_not_exist")
        return Reply(200, xml_document("Messages", items=[_peeked(m) for m in messages], item_tag="Message"))

    def _delete_message(self, params: dict[str, str], body: bytes, endpoint: str) -> Reply:
        handle = params.get("ReceiptHandle") or fail("receipt_handle_missing")
        self.backend.delete(params["QueueName"], handle)
        return Reply(204)

    def _batch_delete_message(self, params: dict[str, str], body: bytes, endpoint: str) -> Reply:
        root = _parse(body, "ReceiptHandles")
        handles = [(child.text or "").strip() for child in root if _local(child.tag) == "ReceiptHandle"]
        failures = self.backend.delete_batch(params["QueueName"], handles)
        if failures:
            items = [{"ErrorCode": err.code, "ErrorMessage": err.message, "ReceiptHandle": handle}
                     for handle, err in failures]
            first = failures[0][1]
            raise MnsBatchError(max(err.status for _, err in failures), first.code, first.message,
                                BATCH_DELETE_ROOT, items)
        return Reply(204)

    def _change_message_visibility(self, params: dict[str, str], body: bytes, endpoint: str) -> Reply:
        handle = params.get("ReceiptHandle") or fail("receipt_handle_missing")
        if params.get("VisibilityTimeout") is None:
            fail("visibility_timeout_missing")
        timeout = _query_int(params, "VisibilityTimeout", 0, 43200)
        assert timeout is not None
        message = self.backend.change_visibility(params["QueueName"], handle, timeout)
        return Reply(200, xml_document("ChangeVisibility", [("ReceiptHandle", message.receipt_handle),
                                                            ("NextVisibleTime", message.next_visible_time_ms)]))


def _peeked(m: Message) -> list[tuple[str, Any]]:
    return [("MessageId", m.message_id), ("MessageBodyMD5", m.body_md5), ("MessageBody", m.body),
            ("EnqueueTime", m.enqueue_time_ms), ("FirstDequeueTime", m.first_dequeue_time_ms),
            ("DequeueCount", m.dequeue_count), ("Priority", m.priority)]


def _received(m: Message) -> list[tuple[str, Any]]:
    return [*_peeked(m), ("ReceiptHandle", m.receipt_handle), ("NextVisibleTime", m.next_visible_time_ms)]

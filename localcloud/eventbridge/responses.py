"""EventBridge 2020-04-01 over the wire: ``PutEvents`` as the official ``alibabacloud_eventbridge20200401``
client sends it (RPC style, form body ``EventBusName`` + ``EventList`` = JSON array of
``{Id, Source, Type, SpecVersion, Data, DataContentType, DataSchema, Subject, Time}``).

Limits (https://www.alibabacloud.com/help/en/eventbridge/product-overview/limits, updated Mar 10 2026):
at most 16 events per batch, 256 KB per event, 1 MB per batch; ``id`` <= 128 chars, starts with a letter or
digit, letters/digits/hyphens only; ``source`` <= 128; ``subject`` <= 512; ``type`` <= 64.
Error codes: ``EventBusNotExist`` and ``JsonAttributeInvalid`` (HTTP 409) are the ones of Apache RocketMQ
EventBridge (``EventBridgeErrorCode``); the other codes below are emulator-chosen — see docs/localcloud.md.
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Any

from localcloud import wirejson
from localcloud.base import ApiError, CallContext
from localcloud.eventbridge.models import EventBridgeBackend, ReceivedEvent, _now

VERSION = "2020-04-01"
REGION = "cn-hangzhou"  # the one region localcloud serves

MAX_EVENTS_PER_REQUEST = 16
MAX_EVENT_BYTES = 256 * 1024
MAX_REQUEST_BYTES = 1024 * 1024
MAX_ID_LEN = 128
MAX_SOURCE_LEN = 128
MAX_SUBJECT_LEN = 512
MAX_TYPE_LEN = 64
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
# A custom bus's name: letters, digits, '_' and '-', starting with a letter or digit, at most 127 characters.
_BUS_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,126}$")


class EventBridgeService:
    """The EventBridge product behind ``x-acs-version: 2020-04-01``."""

    version = VERSION
    name = "eventbridge"
    host_id = "eventbridge.cn-hangzhou.aliyuncs.com"

    def __init__(self, buses: list[str] | None = None) -> None:
        self.backend = EventBridgeBackend(buses)

    # --- Service protocol -----------------------------------------------------------------------------

    def handle(self, action: str, params: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        handler = getattr(self, f"_action_{action}", None)
        if handler is None:
            raise ApiError(404, "InvalidAction.NotFound",
                           f"Specified api is not found, please check your url and method. Action: {action}")
        return handler(params, ctx)

    def reset(self) -> None:
        self.backend.reset()

    # --- test settings (control API: GET/PUT /_emulator/settings) ---------------------------------------

    def settings(self) -> dict[str, Any]:
        refuse = self.backend.refuse
        return {"refuseEntries": dict(refuse) if refuse else None}

    def configure(self, values: dict[str, Any]) -> None:
        """``refuseEntries``: the next ``calls`` PutEvents (null: every one) refuse their first ``count``
        otherwise valid entries with ``code``/``message`` -- the per-entry failure a client must not ignore
        (``FailedEntryCount`` > 0 in a 200 reply). null clears it."""
        unknown = set(values) - {"refuseEntries"}
        if unknown:
            raise ValueError(f"unknown EventBridge settings {sorted(unknown)}; known: refuseEntries")
        raw = values.get("refuseEntries")
        if raw is None:
            self.backend.refuse = None
            return
        if not isinstance(raw, dict) or set(raw) - {"count", "calls", "code", "message"}:
            raise ValueError("refuseEntries must be {count, calls, code, message} or null")
        count, calls = raw.get("count", 1), raw.get("calls", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError("refuseEntries.count must be a positive integer")
        if calls is not None and (not isinstance(calls, int) or isinstance(calls, bool) or calls < 1):
            raise ValueError("refuseEntries.calls must be a positive integer, or null for every call")
        self.backend.refuse = {"count": count, "calls": calls,
                               "code": str(raw.get("code", "EventBridgeInternalError")),
                               "message": str(raw.get("message", "The event could not be stored; retry it."))}

    def dump_state(self) -> dict[str, Any]:
        return self.backend.dump()

    def load_state(self, state: dict[str, Any]) -> None:
        self.backend.load(state or {})

    # --- emulator-only helpers (control API) -----------------------------------------------------------

    def events(self, bus: str | None = None) -> list[dict[str, Any]]:
        return self.backend.list_events(bus)

    def clear_events(self) -> None:
        self.backend.clear_events()

    def create_bus(self, name: str, description: str = "") -> dict[str, Any]:
        return self.backend.create_bus(name, description).to_json()

    # --- actions ---------------------------------------------------------------------------------------

    def _action_CreateEventBus(self, params: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        """A custom bus (``EventBusName``, ``Description``) in the caller's account; a name in use is refused
        with ``EventBusAlreadyExist`` (409), so creating twice is seen, not merged."""
        name = params.get("EventBusName")
        if not name:
            raise ApiError(400, "MissingEventBusName", "EventBusName is mandatory for this action.")
        if not _BUS_NAME_RE.match(name):
            raise ApiError(400, "EventBusNameInvalid",
                           f"The event bus name [{name}] is invalid: letters, digits, '_' and '-', starting "
                           "with a letter or digit, at most 127 characters.")
        if self.backend.has_bus(name):
            raise ApiError(409, "EventBusAlreadyExist", f"The event bus [{name}] already existed!")
        self.backend.create_bus(name, params.get("Description") or "")
        return {"Code": "Success", "Success": True, "Message": "success",
                "Data": {"EventBusARN": f"acs:eventbridge:{REGION}:{ctx.account_id}:eventbus/{name}"}}

    def _action_PutEvents(self, params: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        bus = params.get("EventBusName")
        if not bus:
            raise ApiError(400, "MissingEventBusName", "EventBusName is mandatory for this action.")
        raw_list = params.get("EventList")
        if raw_list is None:
            raise ApiError(400, "MissingEventList", "EventList is mandatory for this action.")
        if len(raw_list.encode("utf-8")) > MAX_REQUEST_BYTES:
            raise ApiError(409, "PutEventsRequestTooLarge",
                           f"The total size of the events in one request exceeds {MAX_REQUEST_BYTES} bytes.")
        try:
            entries = wirejson.loads(raw_list)
        except ValueError:
            raise ApiError(409, "JsonAttributeInvalid", "The Json attribute is invalid") from None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ApiError(409, "JsonAttributeInvalid", "The Json attribute is invalid")
        if not entries:
            raise ApiError(409, "PutEventsRequestEmpty", "The put events request contains no event.")
        if len(entries) > MAX_EVENTS_PER_REQUEST:
            raise ApiError(409, "PutEventsRequestTooManyEvents",
                           f"The put events request contains {len(entries)} events, "
                           f"more than the limit {MAX_EVENTS_PER_REQUEST}.")
        if not self.backend.has_bus(bus):
            raise ApiError(409, "EventBusNotExist", f"The event bus [{bus}] not existed!")

        results: list[dict[str, Any]] = []
        accepted: list[ReceivedEvent] = []
        received_at = _now()
        refusal = self.backend.take_refusal()
        refused = 0
        for entry in entries:
            trace_id = uuid.uuid4().hex
            error = _entry_error(entry)
            if error is None and refusal is not None and refused < refusal[0]:
                refused += 1
                error = refusal[1], refusal[2]
            event_id = str(_field(entry, "id") or "")
            if error:
                code, message = error
                results.append({"EventId": event_id, "TraceId": trace_id, "ErrorCode": code, "ErrorMessage": message})
                continue
            results.append({"EventId": event_id, "TraceId": trace_id})
            accepted.append(ReceivedEvent(bus, event_id, trace_id, ctx.request_id, received_at, entry))
        self.backend.append(accepted)
        failed = len(entries) - len(accepted)
        return {
            "Code": "Success",
            "Success": True,
            "Message": "success",
            "Data": {"FailedEntryCount": failed, "EntryList": results},
        }


def _field(entry: dict[str, Any], name: str) -> Any:
    """CloudEvents attribute by name, accepting the SDK's PascalCase (``Id``) or CloudEvents lower case."""
    for key, value in entry.items():
        if key.lower() == name:
            return value
    return None


def _entry_error(entry: dict[str, Any]) -> tuple[str, str] | None:
    event_id = _field(entry, "id")
    if not isinstance(event_id, str) or not event_id:
        return "EventMissingAttribute", "Missing the attribute [id] of the event."
    if len(event_id) > MAX_ID_LEN or not _ID_RE.match(event_id):
        return ("EventAttributeInvalid", f"The attribute [id] must be at most {MAX_ID_LEN} characters, start with "
                "a letter or digit and contain only letters, digits and hyphens.")
    for name, limit in (("source", MAX_SOURCE_LEN), ("type", MAX_TYPE_LEN)):
        value = _field(entry, name)
        if not isinstance(value, str) or not value:
            return "EventMissingAttribute", f"Missing the attribute [{name}] of the event."
        if len(value) > limit:
            return "EventAttributeInvalid", f"The attribute [{name}] exceeds {limit} characters."
    subject = _field(entry, "subject")
    if subject is not None and (not isinstance(subject, str) or len(subject) > MAX_SUBJECT_LEN):
        return "EventAttributeInvalid", f"The attribute [subject] exceeds {MAX_SUBJECT_LEN} characters."
    size = len(json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_EVENT_BYTES:
        return "EventSizeExceedLimit", f"The event is {size} bytes, more than the limit {MAX_EVENT_BYTES}."
    return None

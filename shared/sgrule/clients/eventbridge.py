"""Outcome events onto an EventBridge bus with the official ``alibabacloud_eventbridge20200401`` client.

As few PutEvents calls as the bus allows: up to 16 events per call and 1 MB per call (EventBridge limits).
Entries the bus refuses are retried once with the transient ones; what still fails raises
:class:`PublishError` so the handler fails and the platform redelivers (stored outcomes replay with the
same deterministic ids, so consumers see duplicates they can drop, never a lost outcome).
"""
from __future__ import annotations

import json
from concurrent.futures import Executor
from typing import Any, Protocol

from ..runtime.config import CommonSettings, endpoint_parts
from .base import first_request_alone, sdk_config
from .retry import Retrier, Transient

MAX_EVENTS_PER_CALL = 16
MAX_BYTES_PER_CALL = 1024 * 1024


class PublishError(RuntimeError):
    pass


class Publisher(Protocol):
    def publish(self, events: list[dict[str, Any]], retrier: Retrier, pool: Executor | None = None) -> int:
        """Publish (batches in parallel on ``pool`` if given); return the number of PutEvents calls made."""
        ...


class NullPublisher:
    """No bus configured: outcomes are only returned and logged."""

    def publish(self, events: list[dict[str, Any]], retrier: Retrier, pool: Executor | None = None) -> int:
        return 0


def batches(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Greedy split by count and encoded size, in order."""
    out: list[list[dict[str, Any]]] = []
    size = 0
    for event in events:
        n = len(json.dumps(event, separators=(",", ":")).encode())
        if not out or len(out[-1]) >= MAX_EVENTS_PER_CALL or size + n > MAX_BYTES_PER_CALL:
            out.append([])
            size = 0
        out[-1].append(event)
        size += n
    return out


class EventBridgePublisher:
    def __init__(self, settings: CommonSettings) -> None:
        from ..runtime.sdk import lazy_models

        lazy_models("alibabacloud_eventbridge20200401")
        from alibabacloud_eventbridge20200401.client import Client

        config = sdk_config(settings, settings.region)
        if settings.eventbridge_endpoint:
            config.protocol, config.endpoint = endpoint_parts(settings.eventbridge_endpoint)
        self.client = Client(config)
        self.bus = settings.outcome_bus

    def publish(self, events: list[dict[str, Any]], retrier: Retrier, pool: Executor | None = None) -> int:
        # One entry per outcome id: a change delivered twice in one batch has one outcome, published once.
        events = list({e["id"]: e for e in events}.values())
        groups = batches(events)
        if pool is None or len(groups) < 2:
            return sum(self._publish_batch(batch, retrier) for batch in groups)
        # The batches are independent: send them at once (the first PublishError propagates).
        return sum(pool.map(lambda batch: self._publish_batch(batch, retrier), groups))

    def _publish_batch(self, batch: list[dict[str, Any]], retrier: Retrier) -> int:
        from alibabacloud_eventbridge20200401.models import PutEventsRequest, PutEventsRequestEventList

        calls = 0
        pending = batch
        for _ in range(2):  # a second pass re-sends only the entries the bus refused
            entries = [PutEventsRequestEventList(
                id=e["id"], source=e["source"], type=e["type"], spec_version=e["specversion"],
                subject=e["subject"], time=e["time"], data_content_type=e["datacontenttype"],
                data=e["data"]) for e in pending]
            request = PutEventsRequest(event_bus_name=self.bus, event_list=entries)
            try:
                calls += 1
                body = retrier.call(first_request_alone(
                    self.client, retrier,
                    lambda rt: self.client.put_events_with_options(request, rt).body))  # noqa: B023 - called at once
            except Transient as exc:
                raise PublishError(f"PutEvents kept failing: {exc.error.code}") from None
            except Exception as exc:  # noqa: BLE001 - a final 4xx (bad bus, bad request): nothing to retry
                raise PublishError(f"PutEvents failed: {exc}") from None
            if body.success is False:  # the service can answer 200 with Success=false (e.g. no such bus)
                raise PublishError(f"PutEvents failed: {body.code}: {body.message}")
            failed = {entry.event_id for entry in (body.data.entry_list or []) if entry.error_code} \
                if body.data else set()
            pending = [e for e in pending if e["id"] in failed]
            if not pending:
                break
        if pending:
            raise PublishError(f"EventBridge refused {len(pending)} outcome event(s)")
        return calls


def make_publisher(settings: CommonSettings) -> Publisher:
    if not settings.outcome_bus:
        return NullPublisher()
    return EventBridgePublisher(settings)


BUS_EXISTS = "EventBusAlreadyExist"  # CreateEventBus's code for a name already taken in the account and region


def create_event_bus(settings: CommonSettings, name: str, description: str = "") -> bool:
    """Create the custom bus ``name`` in the settings' region with ``CreateEventBus``; True when it was made
    now, False when it already existed (so running it again -- a stack update, a retry -- changes nothing).
    Any other refusal raises the SDK's error (its code and message say why)."""
    from alibabacloud_eventbridge20200401.client import Client
    from alibabacloud_eventbridge20200401.models import CreateEventBusRequest
    from darabonba.runtime import RuntimeOptions

    config = sdk_config(settings, settings.region)
    if settings.eventbridge_endpoint:
        config.protocol, config.endpoint = endpoint_parts(settings.eventbridge_endpoint)
    request = CreateEventBusRequest(event_bus_name=name, description=description or None)
    client = Client(config)
    try:
        body = client.create_event_bus_with_options(request, RuntimeOptions()).body
    except Exception as exc:  # the SDK raises its error with the service's code
        if getattr(exc, "code", None) == BUS_EXISTS:
            return False
        raise
    if body.success is False:  # the service may answer 200 with Success=false
        if body.code == BUS_EXISTS:
            return False
        raise RuntimeError(f"CreateEventBus failed: {body.code}: {body.message}")
    return True

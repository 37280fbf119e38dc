"""EventBridge state: event buses and the events accepted onto them (kept in order for inspection)."""
from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

DEFAULT_BUS = "default"


@dataclass
class EventBus:
    name: str
    description: str = ""
    create_time: str = field(default_factory=lambda: _now())

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "createTime": self.create_time}


@dataclass
class ReceivedEvent:
    """One accepted event. ``event`` is the entry as the client sent it (SDK field names: Id, Source, ...)."""

    bus: str
    event_id: str
    trace_id: str
    request_id: str
    received_at: str
    event: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "bus": self.bus,
            "eventId": self.event_id,
            "traceId": self.trace_id,
            "requestId": self.request_id,
            "receivedAt": self.received_at,
            "event": copy.deepcopy(self.event),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ReceivedEvent:
        return cls(raw["bus"], raw["eventId"], raw.get("traceId", ""), raw.get("requestId", ""),
                   raw.get("receivedAt", _now()), dict(raw.get("event", {})))


class EventBridgeBackend:
    """Buses + events for one account/region. All methods are thread-safe."""

    def __init__(self, buses: list[str] | None = None) -> None:
        self._lock = threading.RLock()
        # Buses named at start-up (``--bus``) survive :meth:`reset`, like the default bus.
        self._initial_buses = [b for b in (buses or []) if b != DEFAULT_BUS]
        self.buses: dict[str, EventBus] = {}
        self.events: list[ReceivedEvent] = []
        # Called with (bus, entries as sent, receive time) after events are accepted: EventBridge rules.
        self.listeners: list[Callable[[str, list[dict[str, Any]], str], None]] = []
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.buses = {DEFAULT_BUS: EventBus(DEFAULT_BUS, "default event bus")}
            for name in self._initial_buses:
                self.buses[name] = EventBus(name)
            self.events = []
            # Test setting: refuse entries one by one ({"count", "calls", "code", "message"}), see
            # EventBridgeService.configure.
            self.refuse: dict[str, Any] | None = None

    def take_refusal(self) -> tuple[int, str, str] | None:
        """The per-entry refusal for this PutEvents call, if one is set (counting down its calls)."""
        with self._lock:
            r = self.refuse
            if r is None:
                return None
            if r["calls"] is not None:
                r["calls"] -= 1
                if r["calls"] <= 0:
                    self.refuse = None
            return r["count"], r["code"], r["message"]

    def create_bus(self, name: str, description: str = "") -> EventBus:
        with self._lock:
            if name not in self.buses:
                self.buses[name] = EventBus(name, description)
            return self.buses[name]

    def keep_buses(self) -> None:
        """Every bus that exists now survives :meth:`reset` (the application's, made as it started)."""
        with self._lock:
            self._initial_buses = [b for b in self.buses if b != DEFAULT_BUS]

    def has_bus(self, name: str) -> bool:
        with self._lock:
            return name in self.buses

    def append(self, events: list[ReceivedEvent]) -> None:
        with self._lock:
            self.events.extend(events)
        by_bus: dict[str, list[ReceivedEvent]] = {}
        for e in events:
            by_bus.setdefault(e.bus, []).append(e)
        for bus, group in by_bus.items():
            for listener in list(self.listeners):
                listener(bus, [copy.deepcopy(e.event) for e in group], group[0].received_at)

    def list_events(self, bus: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e.to_json() for e in self.events if bus is None or e.bus == bus]

    def clear_events(self) -> None:
        with self._lock:
            self.events = []

    def dump(self) -> dict[str, Any]:
        with self._lock:
            return {
                "buses": [b.to_json() for b in self.buses.values()],
                "events": [e.to_json() for e in self.events],
            }

    def load(self, state: dict[str, Any]) -> None:
        with self._lock:
            self.reset()
            for b in state.get("buses", []):
                name = b["name"] if isinstance(b, dict) else str(b)
                desc = b.get("description", "") if isinstance(b, dict) else ""
                self.buses[name] = EventBus(name, desc, b.get("createTime", _now()) if isinstance(b, dict) else _now())
            self.events = [ReceivedEvent.from_json(e) for e in state.get("events", [])]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

"""The control API under ``/_emulator/``: plain JSON, no signature. Test code uses it to reset the
emulator, read the call log, load/dump state, inject faults and read published events.

One mechanism serves every route: a :class:`ControlRoutes` table that the cloud fills with its own routes
(:func:`builtin_routes`) and that whatever is built on the cloud (``localcloud.app``) adds to the same way.
This module knows the cloud only through :class:`ControlledCloud` (what the routes use), so it imports nothing
from ``localcloud.server``.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol
from urllib.parse import parse_qs

from localcloud import wirejson

PREFIX = "/_emulator/"


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


LOCAL_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def refuse(cloud: ControlledCloud, method: str, host_header: str | None, content_type: str | None) -> tuple[int, Any] | None:
    """Why a control request is refused, or None. The control API is unsigned, so a web page the developer
    visits must not reach it: only a ``Host`` naming this machine (a DNS-rebound name is refused: 403) and,
    for writes, only ``application/json`` bodies (a page cannot send those cross-site without a preflight,
    which is never answered: 415)."""
    host = (host_header or "").strip().lower()
    name = host[1:host.find("]")] if host.startswith("[") else host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    bound = cloud.host.lower()
    if name not in LOCAL_NAMES and not (name == bound and bound not in ("0.0.0.0", "::", "")):
        return 403, {"error": "the control API answers only requests to 127.0.0.1, localhost or the name it is "
                              "bound to (Host header)"}
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if method.upper() not in _READS and media != "application/json":
        return 415, {"error": "control API writes must be Content-Type: application/json"}
    return None


@dataclass(frozen=True)
class ControlRequest:
    method: str
    route: str  # the path after /_emulator/, without slashes at either end
    qs: dict[str, list[str]]
    body: bytes

    def arg(self, name: str) -> str | None:
        return self.qs[name][0] if name in self.qs else None

    def json(self) -> Any:
        return _json(self.body)


Route = Callable[[ControlRequest], "tuple[int, Any]"]


class ControlRoutes:
    """``METHOD route`` -> handler; a route ending in ``/`` is a prefix (``queues/`` serves ``queues/NAME``).
    A handler returns ``(HTTP status, JSON-able body)`` or raises :class:`ControlError`."""

    def __init__(self) -> None:
        self._exact: dict[tuple[str, str], Route] = {}
        self._prefixes: list[tuple[str, str, Route]] = []

    def add(self, method: str, route: str, handler: Route) -> None:
        if route.endswith("/"):
            self._prefixes.append((method, route, handler))
        else:
            self._exact[(method, route)] = handler

    def handle(self, method: str, path: str, query: str, body: bytes) -> tuple[int, Any]:
        """Run one control request; returns (HTTP status, JSON-able body)."""
        request = ControlRequest(method, path[len(PREFIX):].strip("/"), parse_qs(query), body)
        handler = self._exact.get((method, request.route)) or next(
            (h for m, prefix, h in self._prefixes if m == method and request.route.startswith(prefix)), None)
        try:
            if handler is None:
                raise ControlError(404, f"no control endpoint {method} {PREFIX}{request.route}")
            return handler(request)
        except ControlError as e:
            return e.status, {"error": e.message}
        except ValueError as e:  # bad input to faults/state loaders
            return 400, {"error": str(e)}


class ControlledCloud(Protocol):
    """What the cloud's own control routes use of it."""

    control: ControlRoutes
    services: dict[str, Any]
    calls: Any
    faults: Any

    @property
    def host(self) -> str: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def eventbridge(self) -> Any: ...
    @property
    def mns(self) -> Any: ...
    def reset(self) -> None: ...
    def dump_state(self) -> dict[str, Any]: ...
    def load_state(self, state: Mapping[str, Any]) -> None: ...


def handle_control(cloud: ControlledCloud, method: str, path: str, query: str, body: bytes) -> tuple[int, Any]:
    """Run one control request on ``cloud``'s routes; returns (HTTP status, JSON-able body)."""
    return cloud.control.handle(method, path, query, body)


def builtin_routes(cloud: ControlledCloud) -> ControlRoutes:
    """The cloud's own routes: health, reset, the call log, state, faults and holds, settings, EventBridge's
    events and buses, MNS's queues and clock."""
    routes = ControlRoutes()

    def health(r: ControlRequest) -> tuple[int, Any]:
        return 200, {"status": "ok", "pid": os.getpid(), "endpoint": cloud.endpoint,
                     "services": {name: svc.version for name, svc in cloud.services.items()}}

    def reset(r: ControlRequest) -> tuple[int, Any]:
        cloud.reset()
        return 200, {"reset": True}

    def calls(r: ControlRequest) -> tuple[int, Any]:
        if r.arg("count") is not None:  # long poll: until that many calls are logged
            found = cloud.calls.wait(r.arg("action"), _int_arg(r.arg("count"), "count"), _timeout(r.arg("timeout")))
            if found is None:
                raise ControlError(408, f"fewer than {r.arg('count')} call(s) logged within the timeout")
            return 200, {"calls": found}
        return 200, {"calls": cloud.calls.list(r.arg("action"))}

    def clear_calls(r: ControlRequest) -> tuple[int, Any]:
        cloud.calls.clear()
        return 200, {"calls": []}

    def put_state(r: ControlRequest) -> tuple[int, Any]:
        state = r.json()
        if not isinstance(state, dict):
            raise ControlError(400, "state must be a JSON object {\"ecs\": ..., \"eventbridge\": ...}")
        before = cloud.dump_state()
        try:
            cloud.load_state(state)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:  # a shape the loaders do not take
            cloud.load_state(before)  # changes nothing
            raise ControlError(400, f"state not loaded ({type(exc).__name__}: {exc}); the emulator's state is as "
                                    "it was. Expected the shape GET /_emulator/state returns") from None
        return 200, cloud.dump_state()

    def add_faults(r: ControlRequest) -> tuple[int, Any]:
        payload = r.json()
        if not isinstance(payload, dict) or "rules" not in payload:
            raise ControlError(400, "expected {\"rules\": [...]} (optional \"seed\")")
        return 200, {"rules": cloud.faults.add(payload["rules"], seed=payload.get("seed"))}

    def clear_faults(r: ControlRequest) -> tuple[int, Any]:
        cloud.faults.clear()
        return 200, {"rules": []}

    def eventbridge() -> Any:
        eb = cloud.eventbridge
        if eb is None:
            raise ControlError(404, "EventBridge is not running")
        return eb

    def clear_events(r: ControlRequest) -> tuple[int, Any]:
        eventbridge().clear_events()
        return 200, {"events": []}

    def create_bus(r: ControlRequest) -> tuple[int, Any]:
        payload = r.json()
        if not isinstance(payload, dict) or not isinstance(payload.get("name"), str) or not payload["name"]:
            raise ControlError(400, "expected {\"name\": \"bus-name\"[, \"description\": ...]}")
        return 200, eventbridge().create_bus(payload["name"], str(payload.get("description", "")))

    def release_hold(r: ControlRequest) -> tuple[int, Any]:
        name, _, verb = r.route[len("holds/"):].partition("/")
        if verb != "release":
            raise ControlError(404, f"no control endpoint {r.method} {PREFIX}{r.route}")
        return 200, cloud.faults.gates.release(name)

    def wait_hold(r: ControlRequest) -> tuple[int, Any]:  # long poll: until `count` calls have parked on the gate
        name, _, verb = r.route[len("holds/"):].partition("/")
        if verb:
            raise ControlError(404, f"no control endpoint {r.method} {PREFIX}{r.route}")
        status = cloud.faults.gates.wait(name, _int_arg(r.arg("count") or "1", "count"), _timeout(r.arg("timeout")))
        if status is None:
            raise ControlError(408, f"fewer than {r.arg('count') or 1} call(s) parked on gate {name!r} in time")
        return 200, status

    def put_settings(r: ControlRequest) -> tuple[int, Any]:
        payload = r.json()
        if not isinstance(payload, dict) or not all(isinstance(v, dict) for v in payload.values()):
            raise ControlError(400, "expected {\"<service>\": {\"<setting>\": value, ...}, ...}")
        for name, values in payload.items():
            svc = cloud.services.get(name)
            if svc is None or not hasattr(svc, "configure"):
                raise ControlError(400, f"service {name!r} has no settings; running: {sorted(_settings(cloud))}")
            svc.configure(values)
        return 200, _settings(cloud)

    def mns(r: ControlRequest) -> tuple[int, Any]:
        return _mns_control(cloud, r.method, r.route, r.qs, r.body)

    routes.add("GET", "health", health)
    routes.add("POST", "reset", reset)
    routes.add("GET", "calls", calls)
    routes.add("DELETE", "calls", clear_calls)
    routes.add("GET", "state", lambda r: (200, cloud.dump_state()))
    routes.add("PUT", "state", put_state)
    routes.add("GET", "faults", lambda r: (200, {"rules": cloud.faults.rules()}))
    routes.add("POST", "faults", add_faults)
    routes.add("DELETE", "faults", clear_faults)
    routes.add("GET", "events", lambda r: (200, {"events": eventbridge().events(r.arg("bus"))}))
    routes.add("DELETE", "events", clear_events)
    routes.add("GET", "buses", lambda r: (200, {"buses": eventbridge().dump_state()["buses"]}))
    routes.add("POST", "buses", create_bus)
    routes.add("POST", "holds/", release_hold)
    routes.add("GET", "holds/", wait_hold)
    routes.add("GET", "settings", lambda r: (200, _settings(cloud)))
    routes.add("PUT", "settings", put_settings)
    for method in ("GET", "POST", "DELETE"):
        for route in ("queues", "queues/", "clock"):
            routes.add(method, route, mns)
    return routes


def _mns_control(cloud: ControlledCloud, method: str, route: str, qs: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
    """``GET queues[?name=Q]`` (each queue, its counts and its messages), ``POST queues`` (create one),
    ``DELETE queues/NAME``, ``GET|POST clock`` (the queues' clock; POST ``{"advanceSeconds": s}``)."""
    from localcloud.mns.exceptions import MnsError
    from localcloud.mns.models import QueueAttributes

    mns = cloud.mns
    if mns is None:
        raise ControlError(404, "MNS is not running")
    if route == "clock":
        if method == "GET":
            return 200, {"offsetMs": mns.clock.offset_ms, "nowMs": mns.now_ms()}
        if method == "POST":
            payload = _json(body)
            seconds = payload.get("advanceSeconds") if isinstance(payload, dict) else None
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 10 ** 9:
                raise ControlError(400, "expected {\"advanceSeconds\": s} with s >= 0 (the clock only moves forward)")
            mns.advance_clock(seconds)
            return 200, {"offsetMs": mns.clock.offset_ms, "nowMs": mns.now_ms()}
    elif route == "queues" and method == "GET":
        views = []
        for name in qs.get("name") or mns.queue_names():
            try:
                views.append(_queue_view(mns, name))
            except MnsError:  # no such queue (or deleted meanwhile)
                continue
        return 200, {"nowMs": mns.now_ms(), "queues": views}
    elif route == "queues" and method == "POST":
        payload = _json(body)
        if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
            raise ControlError(400, "expected {\"name\": \"queue-name\"[, \"attributes\": {\"visibility_timeout\": 30, ...}]}")
        try:
            mns.ensure_queue(payload["name"], QueueAttributes(**payload.get("attributes", {})))
        except (MnsError, TypeError) as e:
            raise ControlError(400, f"cannot create queue {payload['name']!r}: {e}") from None
        return 200, _queue_view(mns, payload["name"])
    elif route.startswith("queues/") and method == "DELETE":
        mns.delete_queue(route[len("queues/"):])
        return 200, {"deleted": route[len("queues/"):]}
    raise ControlError(404, f"no control endpoint {method} {PREFIX}{route}")


def _queue_view(mns: Any, name: str) -> dict[str, Any]:
    from dataclasses import asdict

    now = mns.now_ms()
    messages = [{"messageId": m.message_id, "state": m.state(now), "dequeueCount": m.dequeue_count,
                 "priority": m.priority, "enqueueTime": m.enqueue_time_ms, "nextVisibleTime": m.next_visible_time_ms,
                 "firstDequeueTime": m.first_dequeue_time_ms, "body": m.body, "bodyMd5": m.body_md5}
                for m in mns.messages(name)]
    counts = {"visible": 0, "inflight": 0, "delayed": 0}
    for m in messages:
        counts[m["state"]] += 1
    return {"name": name, "attributes": asdict(mns.get_attributes(name)), "counts": counts,
            "waitingReceivers": mns.waiting(name), "messages": messages}


def _settings(cloud: ControlledCloud) -> dict[str, Any]:
    """Each service's test settings (``settings()``/``configure()``): limits and paging a test can set."""
    return {name: svc.settings() for name, svc in cloud.services.items() if hasattr(svc, "settings")}


def _int_arg(raw: str | None, name: str) -> int:
    try:
        value = int(raw or "")
    except ValueError:
        raise ControlError(400, f"{name} must be an integer") from None
    if value < 0:
        raise ControlError(400, f"{name} must be >= 0")
    return value


def _timeout(raw: str | None) -> float:
    try:
        value = float(raw) if raw else 10.0
    except ValueError:
        raise ControlError(400, "timeout must be a number of seconds") from None
    if not math.isfinite(value):  # nan would never time out (every comparison with it is false)
        raise ControlError(400, "timeout must be a finite number of seconds (0 to 120)")
    return min(max(value, 0.0), 120.0)


def _json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return wirejson.loads(body)
    except ValueError as e:
        raise ControlError(400, f"body is not JSON: {e}") from None

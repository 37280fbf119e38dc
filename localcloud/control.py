"""The control API under ``/_emulator/``: plain JSON, no signature. Test code uses it to reset the
emulator, read the call log, load/dump state, inject faults and read published events."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from localcloud import wirejson

if TYPE_CHECKING:
    from localcloud.server import LocalCloud

PREFIX = "/_emulator/"


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


LOCAL_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def refuse(cloud: LocalCloud, method: str, host_header: str | None, content_type: str | None) -> tuple[int, Any] | None:
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


def handle_control(cloud: LocalCloud, method: str, path: str, query: str, body: bytes) -> tuple[int, Any]:
    """Run one control request; returns (HTTP status, JSON-able body)."""
    try:
        return _dispatch(cloud, method, path[len(PREFIX):].strip("/"), parse_qs(query), body)
    except ControlError as e:
        return e.status, {"error": e.message}
    except ValueError as e:  # bad input to faults/state loaders
        return 400, {"error": str(e)}


def _dispatch(cloud: LocalCloud, method: str, route: str, qs: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
    def arg(name: str) -> str | None:
        return qs[name][0] if name in qs else None

    if route == "health" and method == "GET":
        return 200, {"status": "ok", "pid": os.getpid(), "endpoint": cloud.endpoint,
                     "services": {name: svc.version for name, svc in cloud.services.items()}}
    if route == "reset" and method == "POST":
        cloud.reset()
        return 200, {"reset": True}
    if route == "calls":
        if method == "GET" and arg("count") is not None:  # long poll: until that many calls are logged
            calls = cloud.calls.wait(arg("action"), _int_arg(arg("count"), "count"), _timeout(arg("timeout")))
            if calls is None:
                raise ControlError(408, f"fewer than {arg('count')} call(s) logged within the timeout")
            return 200, {"calls": calls}
        if method == "GET":
            return 200, {"calls": cloud.calls.list(arg("action"))}
        if method == "DELETE":
            cloud.calls.clear()
            return 200, {"calls": []}
    if route == "state":
        if method == "GET":
            return 200, cloud.dump_state()
        if method == "PUT":
            state = _json(body)
            if not isinstance(state, dict):
                raise ControlError(400, "state must be a JSON object {\"ecs\": ..., \"eventbridge\": ...}")
            cloud.load_state(state)
            return 200, cloud.dump_state()
    if route == "faults":
        if method == "GET":
            return 200, {"rules": cloud.faults.rules()}
        if method == "POST":
            payload = _json(body)
            if not isinstance(payload, dict) or "rules" not in payload:
                raise ControlError(400, "expected {\"rules\": [...]} (optional \"seed\")")
            return 200, {"rules": cloud.faults.add(payload["rules"], seed=payload.get("seed"))}
        if method == "DELETE":
            cloud.faults.clear()
            return 200, {"rules": []}
    if route == "events":
        eb = cloud.eventbridge
        if eb is None:
            raise ControlError(404, "EventBridge is not running")
        if method == "GET":
            return 200, {"events": eb.events(arg("bus"))}
        if method == "DELETE":
            eb.clear_events()
            return 200, {"events": []}
    if route == "buses":
        eb = cloud.eventbridge
        if eb is None:
            raise ControlError(404, "EventBridge is not running")
        if method == "GET":
            return 200, {"buses": eb.dump_state()["buses"]}
        if method == "POST":
            payload = _json(body)
            if not isinstance(payload, dict) or not isinstance(payload.get("name"), str) or not payload["name"]:
                raise ControlError(400, "expected {\"name\": \"bus-name\"[, \"description\": ...]}")
            return 200, eb.create_bus(payload["name"], str(payload.get("description", "")))
    if route.startswith("holds/"):
        name, _, verb = route[len("holds/"):].partition("/")
        if method == "POST" and verb == "release":
            return 200, cloud.faults.gates.release(name)
        if method == "GET" and not verb:  # long poll: until `count` calls have parked on the gate
            status = cloud.faults.gates.wait(name, _int_arg(arg("count") or "1", "count"), _timeout(arg("timeout")))
            if status is None:
                raise ControlError(408, f"fewer than {arg('count') or 1} call(s) parked on gate {name!r} in time")
            return 200, status
    if route == "settings":
        if method == "GET":
            return 200, _settings(cloud)
        if method == "PUT":
            payload = _json(body)
            if not isinstance(payload, dict) or not all(isinstance(v, dict) for v in payload.values()):
                raise ControlError(400, "expected {\"<service>\": {\"<setting>\": value, ...}, ...}")
            for name, values in payload.items():
                svc = cloud.services.get(name)
                if svc is None or not hasattr(svc, "configure"):
                    raise ControlError(400, f"service {name!r} has no settings; running: {sorted(_settings(cloud))}")
                svc.configure(values)
            return 200, _settings(cloud)
    if route == "queues" or route.startswith("queues/") or route == "clock":
        return _mns_control(cloud, method, route, qs, body)
    for extension in getattr(cloud, "control_extensions", []):
        answer = extension(method, route, qs, body)
        if answer is not None:
            return answer
    raise ControlError(404, f"no control endpoint {method} {PREFIX}{route}")


def _mns_control(cloud: LocalCloud, method: str, route: str, qs: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
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


def _settings(cloud: LocalCloud) -> dict[str, Any]:
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
    return min(max(value, 0.0), 120.0)


def _json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return wirejson.loads(body)
    except ValueError as e:
        raise ControlError(400, f"body is not JSON: {e}") from None

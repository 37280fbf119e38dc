"""The control API under ``/_emulator/``: plain JSON, no signature. Test code uses it to reset the
emulator, read the call log, load/dump state, inject faults and read published events."""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from localcloud.server import LocalCloud

PREFIX = "/_emulator/"


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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
    for extension in getattr(cloud, "control_extensions", []):
        answer = extension(method, route, qs, body)
        if answer is not None:
            return answer
    raise ControlError(404, f"no control endpoint {method} {PREFIX}{route}")


def _json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError as e:
        raise ControlError(400, f"body is not JSON: {e}") from None

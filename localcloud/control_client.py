"""A small client for the control API (stdlib only) — what the pytest fixture hands to tests, usable
against any running localcloud (in-process or ``python -m localcloud start``)."""
from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit

from localcloud.signing import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET


class ControlError(RuntimeError):
    pass


class Faults:
    """``handle.faults.inject(action="AuthorizeSecurityGroupEgress", error={...}, times=1)``."""

    def __init__(self, control: ControlClient) -> None:
        self._control = control

    def inject(
        self,
        action: str = "*",
        *,
        error: dict[str, Any] | None = None,
        latency_ms: int | None = None,
        drop: bool = False,
        times: int | None = None,
        probability: float | None = None,
        security_group_id: str | None = None,
        phase: str = "before",
        seed: int | None = None,
        hold: str | None = None,
    ) -> list[dict[str, Any]]:
        """Append one rule; returns all rules. ``error`` = ``{"status", "code", "message", "retryAfterMs"}``;
        ``hold`` = a gate name (see :meth:`ControlClient.wait_held` / :meth:`ControlClient.release`)."""
        rule: dict[str, Any] = {"action": action, "phase": phase}
        if hold is not None:
            rule["hold"] = hold
        if error is not None:
            rule["error"] = error
        if latency_ms is not None:
            rule["latencyMs"] = latency_ms
        if drop:
            rule["drop"] = True
        if times is not None:
            rule["times"] = times
        if probability is not None:
            rule["probability"] = probability
        if security_group_id is not None:
            rule["securityGroupId"] = security_group_id
        return self.add([rule], seed=seed)

    def add(self, rules: list[dict[str, Any]], seed: int | None = None) -> list[dict[str, Any]]:
        payload: dict[str, Any] = {"rules": rules}
        if seed is not None:
            payload["seed"] = seed
        return self._control.request("POST", "faults", payload)["rules"]

    def list(self) -> list[dict[str, Any]]:
        return self._control.request("GET", "faults")["rules"]

    def clear(self) -> None:
        self._control.request("DELETE", "faults")


class ControlClient:
    def __init__(
        self,
        endpoint: str,
        access_key_id: str = DEFAULT_ACCESS_KEY_ID,
        access_key_secret: str = DEFAULT_ACCESS_KEY_SECRET,
        region_id: str = "cn-hangzhou",
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.region_id = region_id
        url = urlsplit(self.endpoint)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        self._local = threading.local()  # one keep-alive connection per thread
        self.faults = Faults(self)

    @property
    def host_port(self) -> str:
        """What the SDK's ``Config(endpoint=...)`` wants (with ``protocol="http"``)."""
        return f"{self._host}:{self._port}"

    def sdk_config(self, **overrides: Any) -> Any:
        """A tea-openapi ``Config`` for the official clients, pointed at this emulator."""
        from alibabacloud_tea_openapi.utils_models import Config

        kwargs: dict[str, Any] = dict(access_key_id=self.access_key_id, access_key_secret=self.access_key_secret,
                                      endpoint=self.host_port, protocol="http", region_id=self.region_id)
        kwargs.update(overrides)
        return Config(**kwargs)

    # --- control endpoints ----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self.request("GET", "health")

    def reset(self) -> None:
        self.request("POST", "reset")

    def calls(self, action: str | None = None) -> list[dict[str, Any]]:
        return self.request("GET", "calls", query={"action": action} if action else None)["calls"]

    def clear_calls(self) -> None:
        self.request("DELETE", "calls")

    def wait_calls(self, action: str | None = None, count: int = 1, timeout: float = 10) -> list[dict[str, Any]]:
        """Block until ``count`` calls (of ``action``) are logged, then return them; ControlError on timeout."""
        query = {"count": str(count), "timeout": str(timeout), **({"action": action} if action else {})}
        return self.request("GET", "calls", query=query)["calls"]

    def wait_held(self, gate: str, count: int = 1, timeout: float = 10) -> dict[str, Any]:
        """Block until ``count`` calls have parked on the fault gate ``gate`` (a ``hold`` rule)."""
        return self.request("GET", f"holds/{gate}", query={"count": str(count), "timeout": str(timeout)})

    def release(self, gate: str) -> dict[str, Any]:
        """Open the gate: parked calls go on, later ones pass."""
        return self.request("POST", f"holds/{gate}/release")

    def settings(self) -> dict[str, Any]:
        return self.request("GET", "settings")

    def configure(self, **services: dict[str, Any]) -> dict[str, Any]:
        """``configure(ecs={"pageSize": 2}, eventbridge={"refuseEntries": {"count": 1}})``."""
        return self.request("PUT", "settings", services)

    def set_ecs_quotas(self, quotas: dict[str, Any]) -> dict[str, Any]:
        """Replace the ECS API rate quotas, e.g. ``{"ModifySecurityGroupEgressRule": 40}`` (a second),
        ``{"DescribeSecurityGroups": "2400/60"}`` or ``{"...": {"calls": 5, "seconds": 1, "retryAfter": True}}``;
        ``{}`` removes them. Windows start afresh now. Returns the quotas in force."""
        return self.configure(ecs={"quotas": quotas})["ecs"]["quotas"]

    def state(self) -> dict[str, Any]:
        return self.request("GET", "state")

    def load_state(self, state: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", "state", state)

    def events(self, bus: str | None = None) -> list[dict[str, Any]]:
        return self.request("GET", "events", query={"bus": bus} if bus else None)["events"]

    def clear_events(self) -> None:
        self.request("DELETE", "events")

    def create_bus(self, name: str, description: str = "") -> dict[str, Any]:
        return self.request("POST", "buses", {"name": name, "description": description})

    # --- MNS queues -----------------------------------------------------------------------------------

    def queues(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every queue (or just ``name``): ``{name, attributes, counts: {visible, inflight, delayed},
        messages: [{messageId, state, dequeueCount, priority, enqueueTime, nextVisibleTime, body, ...}]}``."""
        return self.request("GET", "queues", query={"name": name} if name else None)["queues"]

    def queue(self, name: str) -> dict[str, Any]:
        found = self.queues(name)
        if not found:
            raise ControlError(f"no queue {name!r}")
        return found[0]

    def create_queue(self, name: str, **attributes: Any) -> dict[str, Any]:
        """Create a queue directly (``visibility_timeout=5`` ...); same attributes again is a no-op."""
        return self.request("POST", "queues", {"name": name, "attributes": attributes})

    def delete_queue(self, name: str) -> None:
        self.request("DELETE", f"queues/{name}")

    def advance_clock(self, seconds: float) -> int:
        """Move the queues' clock forward: visibility timeouts, delays and retention expire without
        sleeping. Returns the total offset in ms (back to 0 on reset)."""
        return self.request("POST", "clock", {"advanceSeconds": seconds})["offsetMs"]

    # --- transport ------------------------------------------------------------------------------------

    def request(self, method: str, route: str, payload: Any = None, query: dict[str, str] | None = None) -> Any:
        path = f"/_emulator/{route}" + (f"?{urlencode(query)}" if query else "")
        body = json.dumps(payload).encode() if payload is not None else b""
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        for attempt in (1, 2):  # a stale keep-alive connection gets one fresh retry
            conn = self._conn()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        result = json.loads(data) if data else None
        if resp.status >= 400:
            raise ControlError(f"{method} {path} -> {resp.status}: {result}")
        return result

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=150)  # long polls wait <= 120 s
            self._local.conn = conn
        return conn

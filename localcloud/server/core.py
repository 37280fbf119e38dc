"""The emulator: its products (services), their state, and the one HTTP port they all answer on.

A request goes to the unsigned control API (``/_emulator/``) or to the first wire protocol that claims it
(``localcloud.server.wire``): MNS and ROA products are recognised by their own marks, RPC is the fallback.
A service runs under its own lock, so its code need not be thread-safe -- unless it says it is
(``concurrent = True``: long polls and function invocations must not hold a product-wide lock).
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Mapping

from localcloud.base import CallContext, Service
from localcloud.calls import CallLog
from localcloud.control import PREFIX as CONTROL_PREFIX
from localcloud.control import builtin_routes, handle_control, refuse
from localcloud.ecs import EcsService
from localcloud.eventbridge import EventBridgeService
from localcloud.faults import FaultInjector
from localcloud.mns import MnsBackend, MnsService
from localcloud.server import dispatch
from localcloud.server.http import Server, json_reply
from localcloud.server.mns import MnsProtocol
from localcloud.server.rpc import RpcProtocol
from localcloud.server.wire import SERVICE_NAMES, Call, HttpRequest, HttpResponse, WireProtocol
from localcloud.signing import Credential, credentials_from


def build_services(buses: list[str] | None = None) -> list[Service]:
    return [EcsService(), EventBridgeService(buses), MnsService()]  # type: ignore[list-item]  # MNS answers XML


class LocalCloud:
    """A running (or startable) emulator.

    >>> with LocalCloud() as cloud:
    ...     cloud.endpoint   # 'http://127.0.0.1:PORT'
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Mapping[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        buses: list[str] | None = None,
        services: list[Service] | None = None,
        fault_seed: int | None = None,
        protocols: list[WireProtocol] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.credentials: dict[str, Credential] = credentials_from(credentials)
        self.services: dict[str, Service] = {}
        self._by_version: dict[str, Service] = {}
        self._locks: dict[str, threading.RLock] = {}
        for svc in services if services is not None else build_services(buses):
            name = getattr(svc, "name", None) or SERVICE_NAMES.get(svc.version, svc.version)
            self.services[name] = svc
            self._by_version[svc.version] = svc
            self._locks[svc.version] = threading.RLock()
        # Most specific first; RPC (the fallback) last.
        self.protocols: list[WireProtocol] = [*(protocols or []), MnsProtocol(), RpcProtocol()]
        self.calls = CallLog()
        self.faults = FaultInjector(fault_seed)
        self._initial_state = state
        if state:
            self.load_state(state)
        self._httpd: Server | None = None
        self._thread: threading.Thread | None = None
        # What an application built on this cloud adds (localcloud.app): hooks run after every reset; control
        # routes go in the same table as the cloud's own.
        self.reset_hooks: list[Callable[[], None]] = []
        self.control = builtin_routes(self)

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> LocalCloud:
        if self._httpd is not None:
            return self
        self._httpd = Server((self.host, self.port), self.handle)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"localcloud:{self.port}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread until :meth:`stop` is called from another thread or a signal handler."""
        self.start()
        assert self._thread is not None
        while self._thread.is_alive():
            self._thread.join(0.2)

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_all_connections()
        httpd.server_close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        host = self.host if self.host not in ("0.0.0.0", "") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def eventbridge(self) -> EventBridgeService | None:
        svc = self.services.get("eventbridge")
        return svc if isinstance(svc, EventBridgeService) else None

    @property
    def mns(self) -> MnsBackend | None:
        """The MNS queues (for in-process users: triggers, destinations, the control API)."""
        svc = self.services.get("mns")
        return svc.backend if isinstance(svc, MnsService) else None

    # --- state ----------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the start: services reset (then the start-up ``state`` reloaded, if any); call log,
        faults and events cleared."""
        for svc in self._by_version.values():
            with self._locks[svc.version]:
                svc.reset()
        if self._initial_state:
            self.load_state(self._initial_state)
        self.calls.clear()
        self.faults.clear()
        for hook in self.reset_hooks:
            hook()

    def dump_state(self) -> dict[str, Any]:
        out = {}
        for name, svc in self.services.items():
            with self._locks[svc.version]:
                out[name] = svc.dump_state()
        return out

    def load_state(self, state: Mapping[str, Any]) -> None:
        unknown = set(state) - set(self.services)
        if unknown:
            raise ValueError(f"state for unknown services: {sorted(unknown)}; running: {sorted(self.services)}")
        for name, sub in state.items():
            svc = self.services[name]
            with self._locks[svc.version]:
                svc.load_state(sub)

    # --- one API call ---------------------------------------------------------------------------------

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Serve one HTTP request (the server calls this from its connection threads)."""
        if request.path.startswith(CONTROL_PREFIX):
            refused = refuse(self, request.method, request.header("host"), request.header("content-type"))
            status, payload = refused or handle_control(self, request.method, request.path, request.raw_query,
                                                        request.body)
            return json_reply(status, payload)
        protocol = next(p for p in self.protocols if p.matches(request))
        return dispatch.serve(self, protocol, request)

    def service_for(self, version: str | None) -> Service | None:
        """The RPC product answering ``x-acs-version`` (products of other wire styles are never RPC's)."""
        svc = self._by_version.get(version or "")
        return svc if svc is not None and getattr(svc, "wire", "rpc") == "rpc" else None

    def rpc_versions(self) -> list[str]:
        return [v for v, svc in self._by_version.items() if getattr(svc, "wire", "rpc") == "rpc"]

    def run(self, call: Call) -> Any:
        """Run a parsed call on its service (under the service's lock unless it is ``concurrent``)."""
        svc = call.service
        invoke = call.invoke or (lambda: svc.handle(call.action, call.params, call.ctx))
        if getattr(svc, "concurrent", False):
            return invoke()
        with self._locks[svc.version]:
            return invoke()

    def call_service(self, svc: Service, action: str, params: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        """Run one action directly (in-process callers: triggers, destinations)."""
        if getattr(svc, "concurrent", False):
            return svc.handle(action, params, ctx)
        with self._locks[svc.version]:
            return svc.handle(action, params, ctx)

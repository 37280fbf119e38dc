"""The localcloud HTTP server: Alibaba Cloud RPC-style API calls (signature v3) routed by ``x-acs-version``
to emulated services, plus the unsigned control API under ``/_emulator/``.

Stdlib only. One thread per connection (``ThreadingHTTPServer``), HTTP/1.1 keep-alive, TCP_NODELAY.
Each service runs under its own lock, so service code need not be thread-safe.
"""
from __future__ import annotations

import json
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlsplit

from localcloud.base import ApiError, CallContext, Service, new_request_id
from localcloud.calls import CallLog
from localcloud.control import PREFIX as CONTROL_PREFIX
from localcloud.control import handle_control
from localcloud.eventbridge import EventBridgeService
from localcloud.faults import FaultInjector, FaultRule
from localcloud.signing import Credential, credentials_from, verify

# x-acs-version -> the name used in state dumps and the control API.
SERVICE_NAMES = {"2014-05-26": "ecs", "2020-04-01": "eventbridge"}
HOST_IDS = {"ecs": "ecs.aliyuncs.com", "eventbridge": "eventbridge.cn-hangzhou.aliyuncs.com"}
PRODUCTS = {"ecs": "Ecs", "eventbridge": "eventbridge"}


def _load_ecs() -> Service | None:
    """ECS lives in ``localcloud.ecs`` (written separately); run without it while it is not there yet
    (no package, or a package without ``__init__``/``EcsService``). Errors inside its code still raise."""
    import importlib
    import importlib.util

    spec = importlib.util.find_spec("localcloud.ecs")
    if spec is None or spec.origin in (None, "namespace"):
        return None
    module = importlib.import_module("localcloud.ecs")
    factory = getattr(module, "EcsService", None)
    return factory() if factory is not None else None


def build_services(buses: list[str] | None = None) -> list[Service]:
    services: list[Service] = []
    ecs = _load_ecs()
    if ecs is not None:
        services.append(ecs)
    services.append(EventBridgeService(buses))
    return services


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
        self.calls = CallLog()
        self.faults = FaultInjector(fault_seed)
        self._initial_state = state
        if state:
            self.load_state(state)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> LocalCloud:
        if self._httpd is not None:
            return self
        self._httpd = _Server((self.host, self.port), _Handler)
        self._httpd.cloud = self
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

    def service_for(self, version: str | None) -> Service | None:
        return self._by_version.get(version or "")

    def call_service(self, svc: Service, action: str, params: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        with self._locks[svc.version]:
            return svc.handle(action, params, ctx)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never wait for idle keep-alive connections on close
    allow_reuse_address = True
    cloud: LocalCloud

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conns_lock:
            (self._conns.add if alive else self._conns.discard)(conn)

    def close_all_connections(self) -> None:
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Dropped(Exception):
    """Raised to close the connection without a reply (fault ``drop``)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "localcloud"
    sys_version = ""
    timeout = 300  # reap idle keep-alive connections eventually
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Without this, keep-alive + Nagle + delayed ACK costs ~40 ms per call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the call log is the record
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # ------------------------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        body = self._read_body()
        url = urlsplit(self.path)
        if url.path.startswith(CONTROL_PREFIX):
            status, payload = handle_control(self.server.cloud, self.command, url.path, url.query, body)
            self._send_json(status, payload)
            return
        try:
            self._api_call(url.path or "/", url.query, body)
        except _Dropped:
            self.close_connection = True

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _api_call(self, path: str, raw_query: str, body: bytes) -> None:
        cloud = self.server.cloud
        request_id = new_request_id()
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        params = dict(query)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if body and ctype == "application/x-www-form-urlencoded":
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        action = self.headers.get("x-acs-action") or params.get("Action") or ""
        version = self.headers.get("x-acs-version") or params.get("Version") or ""
        svc = cloud.service_for(version)
        name = SERVICE_NAMES.get(version, getattr(svc, "name", "localcloud"))
        record: dict[str, Any] = {"action": action, "version": version, "params": params, "requestId": request_id}

        def fail(err: ApiError, retry_after: int | None = None, fault: str | None = None) -> None:
            record.update(status=err.status, code=err.code)
            if fault:
                record["fault"] = fault
            cloud.calls.record(record)
            self._send_error(err, request_id, name, retry_after)

        try:
            if not version:
                raise ApiError(400, "MissingVersion", "The input parameter \"Version\" that is mandatory for "
                               "processing this request is not supplied.")
            if svc is None:
                raise ApiError(400, "InvalidVersion", f"Specified parameter Version is not valid: {version!r} "
                               f"(localcloud serves {sorted(s.version for s in cloud.services.values())}).")
            if not action:
                raise ApiError(400, "MissingAction", "The input parameter \"Action\" that is mandatory for "
                               "processing this request is not supplied.")
            cred = verify(self.command, path, query, headers, body, cloud.credentials)
        except ApiError as err:
            fail(err)
            return
        record["accessKeyId"] = cred.access_key_id
        ctx = CallContext(account_id=cred.account_id, access_key_id=cred.access_key_id, request_id=request_id)

        rule: FaultRule | None = cloud.faults.take(action, params)
        if rule is not None and rule.phase == "before":
            if rule.latency_ms is not None:
                time.sleep(rule.latency_ms / 1000)  # then serve normally
                record["fault"] = "latency"
            elif rule.drop:
                record.update(status=None, code=None, fault="drop")
                cloud.calls.record(record)
                raise _Dropped
            elif rule.error is not None:
                e = rule.error
                fail(ApiError(e.status, e.code, e.message), e.retry_after, "error")
                return

        try:
            result = cloud.call_service(svc, action, params, ctx)
            status, code = 200, None
        except ApiError as err:
            result, status, code = err, err.status, err.code
        except Exception:  # a bug in a service: answer as the cloud would, keep the traceback visible
            traceback.print_exc(file=sys.stderr)
            result = ApiError(500, "InternalError", "The request processing has failed due to some unknown error.")
            status, code = 500, "InternalError"

        if rule is not None and rule.phase == "after":
            record.update(serviceStatus=status, serviceCode=code)  # what really happened
            if rule.latency_ms is not None:
                # The effect is in place; the reply is late. Recorded now so the log shows the effect.
                payload = None if isinstance(result, ApiError) else {"RequestId": request_id, **result}
                record.update(status=status, code=code, fault="latency",
                              requestId=payload["RequestId"] if payload else request_id)
                cloud.calls.record(record)
                time.sleep(rule.latency_ms / 1000)
                if payload is None:
                    self._send_error(result, request_id, name, None)  # type: ignore[arg-type]
                    return
                self._send_json(200, payload, {"x-acs-request-id": str(payload["RequestId"])})
                return
            if rule.drop:
                record.update(status=None, code=None, fault="drop")
                cloud.calls.record(record)
                raise _Dropped
            assert rule.error is not None
            e = rule.error
            fail(ApiError(e.status, e.code, e.message), e.retry_after, "error")
            return

        if isinstance(result, ApiError):
            fail(result)
            return
        payload = dict(result)
        payload.setdefault("RequestId", request_id)  # a ClientToken replay keeps the original RequestId
        # The log shows the RequestId the caller got: for a replay, the first call's.
        record.update(status=200, code=None, requestId=payload["RequestId"])
        cloud.calls.record(record)
        self._send_json(200, payload, {"x-acs-request-id": str(payload["RequestId"])})

    def _send_error(self, err: ApiError, request_id: str, service: str, retry_after: int | None) -> None:
        product = PRODUCTS.get(service, service)
        payload = {
            "RequestId": request_id,
            "HostId": HOST_IDS.get(service, "localcloud"),
            "Code": err.code,
            "Message": err.message,
            "Recommend": err.recommend or f"https://api.aliyun.com/troubleshoot?q={err.code}&product={product}",
        }
        extra = {"x-acs-request-id": request_id}
        if retry_after is not None:
            extra["x-acs-retry-after"] = str(retry_after)
        self._send_json(err.status, payload, extra)

    def _send_json(self, status: int, payload: Any, extra_headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

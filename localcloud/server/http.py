"""The HTTP server: stdlib, one thread per connection (``ThreadingHTTPServer``), HTTP/1.1 keep-alive,
TCP_NODELAY. It turns each request into an :class:`~localcloud.server.wire.HttpRequest`, hands it to the
cloud, and writes the :class:`~localcloud.server.wire.HttpResponse` back."""
from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from localcloud.server.wire import Dropped, HttpRequest, HttpResponse

# The largest request body taken (FC's synchronous invocation payload is at most 32 MB; nothing here needs more).
MAX_BODY_BYTES = 32 * 1024 * 1024

Handler = Callable[[HttpRequest], HttpResponse]


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never wait for idle keep-alive connections on close
    allow_reuse_address = True
    request_queue_size = 1024  # listen backlog: socketserver's default (5) resets a burst of new connections

    def __init__(self, address: tuple[str, int], handle: Handler) -> None:
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self.handle = handle
        super().__init__(address, _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The client hung up (a killed instance, an idle keep-alive connection reset): nothing went wrong here.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, ConnectionAbortedError,
                                          TimeoutError)):
            return
        super().handle_error(request, client_address)

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


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "localcloud"
    sys_version = ""
    timeout = 300  # reap idle keep-alive connections eventually
    server: Server

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

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        # The declared length is checked before anything is read: a body is buffered whole, so a sender that
        # declares gigabytes (or no number at all) is answered at once, not read into memory.
        declared = (self.headers.get("Content-Length") or "0").strip()
        if not declared.isdigit():
            return self._refuse(400, f"Content-Length must be a whole number of bytes, not {declared[:40]!r}")
        length = int(declared)
        if length > MAX_BODY_BYTES:
            return self._refuse(413, f"a request body is at most {MAX_BODY_BYTES} bytes here, not {length}")
        body = self.rfile.read(length) if length > 0 else b""
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        path, _, query = self.path.partition("?")
        request = HttpRequest(self.command, path or "/", query, headers, body, self.client_address[0])
        try:
            response = self.server.handle(request)
        except Dropped:
            self.close_connection = True
            return
        self.send_response(response.status)
        if not any(k.lower() == "content-type" for k in response.headers):
            self.send_header("Content-Type", "application/json;charset=utf-8")
        for k, v in response.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _refuse(self, status: int, message: str) -> None:
        """Answer without reading the body, and close the connection (its unread body would follow)."""
        payload = json.dumps({"error": message}).encode()
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)


def json_reply(status: int, payload: Any) -> HttpResponse:
    return HttpResponse(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                        {"Content-Type": "application/json;charset=utf-8"})

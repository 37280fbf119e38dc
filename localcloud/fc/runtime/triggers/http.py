"""HTTP triggers: each function with an ``http`` trigger gets its own local URL (its own port, as each FC
function gets its own domain), so ``POST <function URL>/github`` reaches the handler with ``rawPath``
``/github``.

The handler receives the FC 3.0 HTTP event as bytes::

    {"version": "v1", "rawPath": "/github?..." without the query (still URL-encoded), "body": text or base64,
     "isBase64Encoded": bool, "headers": {"Content-Type": "...", ...}, "queryParameters": {"k": "v"},
     "requestContext": {"accountId", "domainName", "http": {"method", "path" (decoded), "protocol",
                        "sourceIp", "userAgent"}, "requestId", "time", "timeEpoch"}}

Header names are given in their canonical form (``X-Hub-Signature``); a repeated header or query
parameter arrives comma-joined. The body is text when the content type is textual (``text/*``, JSON, XML,
form-encoded, JavaScript), base64 otherwise. The handler answers ``{"statusCode", "headers", "body",
"isBase64Encoded"}`` (anything else is sent as a 200 body); a handler error answers 502 with
``X-Fc-Error-Type`` and FC's error JSON. ``TriggerConfig.methods`` limits the methods (405 otherwise).
"""
from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote

from localcloud import wirejson
from localcloud.fc.runtime.instance import Outcome
from localcloud.fc.runtime.triggers import TriggerSpec
from localcloud.server.http import Server
from localcloud.server.wire import HttpRequest, HttpResponse

InvokeFn = Callable[..., tuple[str, Outcome]]  # (function, event, trigger, request_id)
_TEXT_TYPES = ("application/json", "application/xml", "application/x-www-form-urlencoded",
               "application/javascript")


def canonical_header(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))


def is_text(content_type: str | None) -> bool:
    ctype = (content_type or "").split(";")[0].strip().lower()
    return (ctype.startswith("text/") or ctype in _TEXT_TYPES or ctype.endswith("+json")
            or ctype.endswith("+xml"))


def http_event(request: HttpRequest, request_id: str, account_id: str, domain: str) -> dict[str, Any]:
    body = request.body
    text = is_text(request.header("content-type")) or not body
    if text:
        try:
            body_text, b64 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            body_text, b64 = base64.b64encode(body).decode("ascii"), True
    else:
        body_text, b64 = base64.b64encode(body).decode("ascii"), True
    query: dict[str, str] = {}
    for k, v in parse_qsl(request.raw_query, keep_blank_values=True):
        query[k] = f"{query[k]},{v}" if k in query else v
    now = time.time()
    return {
        "version": "v1",
        "rawPath": request.path,
        "body": body_text,
        "isBase64Encoded": b64,
        "headers": {canonical_header(k): ",".join(v) for k, v in request.headers.items()},
        "queryParameters": query,
        "requestContext": {
            "accountId": account_id, "domainName": domain,
            "http": {"method": request.method, "path": unquote(request.path), "protocol": "HTTP/1.1",
                     "sourceIp": request.client_ip, "userAgent": request.header("user-agent") or ""},
            "requestId": request_id,
            "time": datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "timeEpoch": str(int(now * 1000)),
        },
    }


def http_response(outcome: Outcome, request_id: str) -> HttpResponse:
    base = {"x-fc-request-id": request_id}
    if not outcome.ok:
        return HttpResponse(502, json.dumps(outcome.error or {}, ensure_ascii=False).encode("utf-8"),
                            {**base, "Content-Type": "application/json",
                             "X-Fc-Error-Type": outcome.error_kind or "UnhandledInvocationError"})
    try:
        doc = wirejson.loads(outcome.body) if outcome.body[:1] == b"{" else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or "statusCode" not in doc:
        return HttpResponse(200, outcome.body, {**base, "Content-Type": "text/plain; charset=utf-8"})
    try:
        status = int(doc.get("statusCode") or 200)
        body = doc.get("body")
        raw = b"" if body is None else body.encode("utf-8") if isinstance(body, str) else \
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        if doc.get("isBase64Encoded"):
            raw = base64.b64decode(raw, validate=True)
    except (TypeError, ValueError, binascii.Error) as exc:
        err = {"errorMessage": f"the function's HTTP response is malformed: {exc}", "errorType": "BadResponse"}
        return HttpResponse(502, json.dumps(err).encode(), {**base, "Content-Type": "application/json"})
    headers = {str(k): ",".join(map(str, v)) if isinstance(v, list) else str(v)
               for k, v in (doc.get("headers") or {}).items()}
    headers.setdefault("Content-Type", "text/plain; charset=utf-8")
    return HttpResponse(status, raw, {**headers, **base})


class HttpTrigger:
    """One function's URL: a small HTTP server on its own port."""

    def __init__(self, spec: TriggerSpec, invoke: InvokeFn, host: str, account_id: str, port: int = 0) -> None:
        self.spec = spec
        self._invoke = invoke
        self._account_id = account_id
        methods = spec.config.get("methods") or []
        self.methods = {str(m).upper() for m in methods}
        self._server = Server((host, port), self.handle)
        self.port = self._server.server_address[1]
        self.host = host if host not in ("", "0.0.0.0") else "127.0.0.1"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fc-http:{spec.function}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def handle(self, request: HttpRequest) -> HttpResponse:
        rid = str(uuid.uuid4())
        if self.methods and request.method not in self.methods:
            body = {"errorCode": "MethodNotAllowed", "errorMessage": f"method {request.method} not in "
                    f"{sorted(self.methods)}"}
            return HttpResponse(405, json.dumps(body).encode(), {"Content-Type": "application/json"})
        event = http_event(request, rid, self._account_id, f"{self.host}:{self.port}")
        _, outcome = self._invoke(self.spec.function, json.dumps(event, ensure_ascii=False).encode("utf-8"),
                                  f"http:{self.spec.name}", rid)
        return http_response(outcome, rid)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.close_all_connections()
        self._server.server_close()
        self._thread.join(5)

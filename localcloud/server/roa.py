"""The ROA wire style (Function Compute 2023-03-30): the product and action come from the method and the
path (``POST /2023-03-30/functions/{name}/invocations``), the request is signed with ACS3-HMAC-SHA256 over
method, path, query, every header the SDK sends and the body (``localcloud.signing``), and errors are JSON
``{"Code", "Message", "RequestId"}`` with the request id also in ``x-acs-request-id`` / ``x-fc-request-id``.

A ROA service declares ``path_prefix`` (``/2023-03-30/``) and ``routes``: ``(method, regex, action)``; the
regex's named groups become parameters (percent-decoded), merged with the decoded query. The action's
result is either a JSON-able dict (200) or an :class:`~localcloud.server.wire.HttpResponse` (raw body and
headers, e.g. InvokeFunction's binary reply).
"""
from __future__ import annotations

import json
import re
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

from localcloud.base import ApiError, CallContext, Service
from localcloud.server.wire import Call, Cloud, HttpRequest, HttpResponse
from localcloud.signing import verify



class RoaService(Service, Protocol):
    path_prefix: str
    routes: list[tuple[str, re.Pattern[str], str]]


def _json(status: int, payload: Any, headers: dict[str, str]) -> HttpResponse:
    return HttpResponse(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                        {"Content-Type": "application/json", **headers})


class RoaProtocol:
    name = "roa"

    def __init__(self, services: list[RoaService]) -> None:
        self.services = services

    def _service(self, path: str) -> RoaService | None:
        return next((s for s in self.services if path.startswith(s.path_prefix)), None)

    def matches(self, request: HttpRequest) -> bool:
        return self._service(request.path) is not None

    def parse(self, cloud: Cloud, request: HttpRequest, request_id: str, record: dict[str, Any]) -> Call:
        svc = self._service(request.path)
        assert svc is not None
        query = dict(parse_qsl(request.raw_query, keep_blank_values=True))
        action, params = "", dict(query)
        for method, pattern, name in svc.routes:
            m = pattern.fullmatch(request.path)
            if m and method == request.method:
                action = name
                params.update({k: unquote(v) for k, v in m.groupdict().items() if v is not None})
                break
        record.update(action=action or f"{request.method} {request.path}", version=svc.version, params=params)
        if not action:
            raise ApiError(400, "PathNotSupported", f"'{request.method}' against '{request.path}' is not supported")
        cred = verify(request.method, request.path, query, request.headers, request.body, cloud.credentials)
        record["accessKeyId"] = cred.access_key_id
        ctx = CallContext(account_id=cred.account_id, access_key_id=cred.access_key_id, request_id=request_id)
        call = Call(service=svc, action=action, params=params, ctx=ctx, request=request, record=record)
        # ROA actions read headers and the raw body as well as the parameters.
        call.invoke = lambda: svc.handle_request(action, params, ctx, request)  # type: ignore[attr-defined]  # ROA products
        return call

    def ok(self, call: Call, result: Any) -> HttpResponse:
        rid = call.ctx.request_id
        if isinstance(result, HttpResponse):
            result.headers.setdefault("x-acs-request-id", rid)
            result.headers.setdefault("x-fc-request-id", rid)
            call.record["requestId"] = result.headers["x-fc-request-id"]
            return result
        return _json(200, result, {"x-acs-request-id": rid, "x-fc-request-id": rid})

    def error(self, request: HttpRequest, err: ApiError, request_id: str, retry_after: int | None) -> HttpResponse:
        headers = {"x-acs-request-id": request_id, "x-fc-request-id": request_id}
        if retry_after is not None:
            headers["x-acs-retry-after"] = str(retry_after)
        return _json(err.status, {"Code": err.code, "Message": err.message, "RequestId": request_id}, headers)

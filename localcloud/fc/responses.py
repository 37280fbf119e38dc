"""Function Compute 2023-03-30 over the wire, as ``alibabacloud_fc20230330`` calls it (ROA style, see
``localcloud.server.roa``):

- ``InvokeFunction``: ``POST /2023-03-30/functions/{name}/invocations[?qualifier=]``, the raw body is the
  event. Headers: ``x-fc-invocation-type`` ``Sync`` (default) | ``Async``; ``x-fc-log-type`` ``None`` |
  ``Tail``; ``x-fc-async-task-id`` (<= 128, starts with a letter or ``_``, ``[A-Za-z0-9_-]``; a second
  submission of the same id is 409); ``x-fc-async-delay`` (0-3600 s). Sync answers 200 with the handler's
  bytes; a handler error is still 200, with ``X-Fc-Error-Type: UnhandledInvocationError`` (or
  ``UnhandledInitializationError``) and the body ``{errorMessage, errorType, stackTrace}``. ``Tail`` adds
  ``x-fc-log-result``: base64 of the last 4 KB of the invocation's log. Async answers 202.
- ``GetFunction``: ``GET /2023-03-30/functions/{name}`` -> the ``Function`` struct.
- ``ListFunctions``: ``GET /2023-03-30/functions?prefix=&limit=&nextToken=`` -> ``{functions, nextToken}``.

The service is ``concurrent``: invocations run in parallel and never hold a product-wide lock.
"""
from __future__ import annotations

import base64
import json
import re
from typing import Any

from localcloud.base import ApiError, CallContext
from localcloud.fc import exceptions
from localcloud.fc.models import FcBackend
from localcloud.fc.runtime.asyncinvoke import AsyncDispatcher
from localcloud.fc.runtime.invoker import Invoker
from localcloud.server.wire import HttpRequest, HttpResponse

VERSION = "2023-03-30"
MAX_SYNC_PAYLOAD = 32 * 1024 * 1024  # FC 3.0: 32 MB for a synchronous request
MAX_ASYNC_PAYLOAD = 256 * 1024  # 256 KB for an asynchronous one
_TASK_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
_NAME = r"(?P<functionName>[^/]+)"


class FcService:
    version = VERSION
    name = "fc"
    concurrent = True
    path_prefix = f"/{VERSION}/"
    routes = [
        ("POST", re.compile(rf"/{VERSION}/functions/{_NAME}/invocations"), "InvokeFunction"),
        ("GET", re.compile(rf"/{VERSION}/functions/{_NAME}"), "GetFunction"),
        ("GET", re.compile(rf"/{VERSION}/functions/?"), "ListFunctions"),
    ]

    def __init__(self, backend: FcBackend, invoker: Invoker, dispatcher: AsyncDispatcher) -> None:
        self.backend = backend
        self.invoker = invoker
        self.dispatcher = dispatcher

    # --- Service protocol -----------------------------------------------------------------------------
    def handle(self, action: str, params: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        raise ApiError(400, "PathNotSupported", f"{action} is served by path (ROA), not as an RPC action")

    def handle_request(self, action: str, params: dict[str, str], ctx: CallContext,
                       request: HttpRequest) -> Any:
        return getattr(self, f"_action_{action}")(params, ctx, request)

    def reset(self) -> None:
        self.backend.reset()

    def dump_state(self) -> dict[str, Any]:
        return {"functions": sorted(self.backend.functions)}

    def load_state(self, state: dict[str, Any]) -> None:
        pass  # functions come from the template, not from state

    # --- actions --------------------------------------------------------------------------------------
    def _spec(self, params: dict[str, str]) -> Any:
        name = params.get("functionName", "")
        spec = self.backend.get(name)
        if spec is None:
            raise exceptions.function_not_found(name)
        return spec

    def _action_GetFunction(self, params: dict[str, str], ctx: CallContext, request: HttpRequest) -> dict[str, Any]:
        return self._spec(params).to_api(self.backend.reveal_secrets)

    def _action_ListFunctions(self, params: dict[str, str], ctx: CallContext,
                              request: HttpRequest) -> dict[str, Any]:
        prefix = params.get("prefix") or ""
        try:
            limit = int(params.get("limit") or 20)
        except ValueError:
            raise exceptions.invalid_argument("limit must be an integer") from None
        if not 1 <= limit <= 100:
            raise exceptions.invalid_argument("limit must be between 1 and 100")
        names = sorted(n for n in self.backend.functions if n.startswith(prefix))
        start = params.get("nextToken") or ""
        names = [n for n in names if n > start] if start else names
        page = names[:limit]
        out: dict[str, Any] = {"functions": [self.backend.functions[n].to_api(self.backend.reveal_secrets) for n in page]}
        if len(names) > limit:
            out["nextToken"] = page[-1]
        return out

    def _action_InvokeFunction(self, params: dict[str, str], ctx: CallContext,
                               request: HttpRequest) -> HttpResponse:
        spec = self._spec(params)
        kind = (request.header("x-fc-invocation-type") or "Sync").strip()
        if kind not in ("Sync", "Async"):
            raise exceptions.invalid_argument(f"x-fc-invocation-type must be Sync or Async, got {kind!r}")
        log_type = (request.header("x-fc-log-type") or "None").strip()
        if log_type not in ("None", "Tail"):
            raise exceptions.invalid_argument(f"x-fc-log-type must be None or Tail, got {log_type!r}")
        if kind == "Async":
            return self._async(spec.name, params, request, ctx)
        if len(request.body) > MAX_SYNC_PAYLOAD:
            raise exceptions.entity_too_large(MAX_SYNC_PAYLOAD)
        rid, outcome = self.invoker.invoke(spec.name, request.body, trigger="api", request_id=ctx.request_id)
        headers = {"Content-Type": "application/octet-stream", "x-fc-request-id": rid}
        if outcome.instance_id:
            headers["x-fc-instance-id"] = outcome.instance_id
        if log_type == "Tail":
            headers["x-fc-log-result"] = base64.b64encode(outcome.log_tail.encode("utf-8")).decode("ascii")
        if outcome.ok:
            return HttpResponse(200, outcome.body, headers)
        headers["X-Fc-Error-Type"] = outcome.error_kind or "UnhandledInvocationError"
        headers["Content-Type"] = "application/json"
        return HttpResponse(200, json.dumps(outcome.error or {}, ensure_ascii=False).encode("utf-8"), headers)

    def _async(self, name: str, params: dict[str, str], request: HttpRequest, ctx: CallContext) -> HttpResponse:
        if len(request.body) > MAX_ASYNC_PAYLOAD:
            raise exceptions.entity_too_large(MAX_ASYNC_PAYLOAD)
        delay_text = request.header("x-fc-async-delay")
        delay = 0.0
        if delay_text not in (None, ""):
            try:
                delay = float(delay_text)
            except ValueError:
                raise exceptions.invalid_argument(f"x-fc-async-delay must be a number of seconds, "
                                                  f"got {delay_text!r}") from None
            if not 0 <= delay <= 3600:
                raise exceptions.invalid_argument("x-fc-async-delay must be between 0 and 3600 seconds")
        task_id = request.header("x-fc-async-task-id")
        if task_id is not None:
            if not _TASK_ID.match(task_id):
                raise exceptions.invalid_argument(
                    "x-fc-async-task-id must start with a letter or '_', contain only letters, digits, '_' "
                    "and '-', and be at most 128 characters")
            if not self.backend.claim_task_id(name, task_id):
                raise exceptions.async_task_exists(name, task_id)
        rid = self.dispatcher.submit(name, request.body, task_id=task_id, delay_s=delay)
        headers = {"x-fc-request-id": rid}
        if task_id:
            headers["x-fc-async-task-id"] = task_id
        return HttpResponse(202, b"", headers)

"""The RPC wire style (ECS 2014-05-26, EventBridge 2020-04-01): parameters in the query string or a form
body, the product picked by ``x-acs-version`` (or ``Version``), the action by ``x-acs-action`` (or
``Action``), an ACS3-HMAC-SHA256 signature, JSON bodies and JSON errors
``{RequestId, HostId, Code, Message, Recommend}``."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from localcloud.base import ApiError, CallContext
from localcloud.server.wire import Call, HttpRequest, HttpResponse
from localcloud.signing import verify

if TYPE_CHECKING:
    from localcloud.server.core import LocalCloud

HOST_IDS = {"ecs": "ecs.aliyuncs.com", "eventbridge": "eventbridge.cn-hangzhou.aliyuncs.com"}
PRODUCTS = {"ecs": "Ecs", "eventbridge": "eventbridge"}


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                        {"Content-Type": "application/json;charset=utf-8", **(headers or {})})


class RpcProtocol:
    name = "rpc"

    def matches(self, request: HttpRequest) -> bool:
        return True  # the fallback: every other protocol is recognised by something of its own

    def _params(self, request: HttpRequest) -> tuple[dict[str, str], dict[str, str]]:
        query = dict(parse_qsl(request.raw_query, keep_blank_values=True))
        params = dict(query)
        ctype = (request.header("content-type") or "").split(";")[0].strip().lower()
        if request.body and ctype == "application/x-www-form-urlencoded":
            params.update(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        return query, params

    def parse(self, cloud: LocalCloud, request: HttpRequest, request_id: str, record: dict[str, Any]) -> Call:
        query, params = self._params(request)
        action = request.header("x-acs-action") or params.get("Action") or ""
        version = request.header("x-acs-version") or params.get("Version") or ""
        record.update(action=action, version=version, params=params)
        if not version:
            raise ApiError(400, "MissingVersion", "The input parameter \"Version\" that is mandatory for "
                           "processing this request is not supplied.")
        svc = cloud.service_for(version)
        if svc is None:
            raise ApiError(400, "InvalidVersion", f"Specified parameter Version is not valid: {version!r} "
                           f"(localcloud serves {sorted(cloud.rpc_versions())}).")
        if not action:
            raise ApiError(400, "MissingAction", "The input parameter \"Action\" that is mandatory for "
                           "processing this request is not supplied.")
        cred = verify(request.method, request.path.split("?")[0] or "/", query, request.headers, request.body,
                      cloud.credentials)
        record["accessKeyId"] = cred.access_key_id
        ctx = CallContext(account_id=cred.account_id, access_key_id=cred.access_key_id, request_id=request_id)
        return Call(service=svc, action=action, params=params, ctx=ctx, request=request, record=record)

    def ok(self, call: Call, result: Any) -> HttpResponse:
        payload = dict(result)
        payload.setdefault("RequestId", call.ctx.request_id)  # a ClientToken replay keeps the original RequestId
        call.record["requestId"] = payload["RequestId"]  # the log shows the id the caller got
        return json_response(200, payload, {"x-acs-request-id": str(payload["RequestId"])})

    def error(self, request: HttpRequest, err: ApiError, request_id: str, retry_after: int | None) -> HttpResponse:
        from localcloud.server.core import SERVICE_NAMES

        service = SERVICE_NAMES.get(request.header("x-acs-version") or "", "localcloud")
        payload = {
            "RequestId": request_id,
            "HostId": HOST_IDS.get(service, "localcloud"),
            "Code": err.code,
            "Message": err.message,
            "Recommend": err.recommend or
            f"https://api.aliyun.com/troubleshoot?q={err.code}&product={PRODUCTS.get(service, service)}",
        }
        headers = {"x-acs-request-id": request_id}
        if retry_after is not None:
            headers["x-acs-retry-after"] = str(retry_after)
        return json_response(err.status, payload, headers)

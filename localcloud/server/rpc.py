"""The RPC wire style (ECS 2014-05-26, EventBridge 2020-04-01): parameters in the query string or a form
body, the product picked by ``x-acs-version`` (or ``Version``), the action by ``x-acs-action`` (or
``Action``), signed with ACS3-HMAC-SHA256 (the current SDKs: ``Authorization`` header) or signature 1.0
(the classic SDK: ``Signature`` and its companions as parameters). Bodies and errors
``{RequestId, HostId, Code, Message, Recommend}`` in JSON, or in XML when the call asks ``Format=XML``
(``<ActionResponse>`` / ``<Error>``; lists as repeated elements, the convention of the classic SDK's
``parameter_helper.to_xml``)."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qsl

from localcloud.base import ApiError, CallContext
from localcloud.server.wire import SERVICE_NAMES, Call, Cloud, HttpRequest, HttpResponse
from localcloud.signing import NonceCache, is_v1, verify, verify_v1


HOST_IDS = {"ecs": "ecs.aliyuncs.com", "eventbridge": "eventbridge.cn-hangzhou.aliyuncs.com"}
PRODUCTS = {"ecs": "Ecs", "eventbridge": "eventbridge"}


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                        {"Content-Type": "application/json;charset=utf-8", **(headers or {})})


def to_xml(root: str, payload: Any) -> bytes:
    """``payload`` under ``<root>``: a dict's keys become child elements, a list repeats its element once per
    item, None leaves it empty, booleans are ``true``/``false``."""
    element = ET.Element(root)
    _fill(element, payload, None)
    return b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(element, encoding="utf-8", xml_declaration=False)


def _fill(element: ET.Element, value: Any, parent: ET.Element | None) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(ET.SubElement(element, str(key)), item, element)
    elif isinstance(value, (list, tuple)):
        if parent is None:
            raise ValueError("a list needs a parent element")
        for i, item in enumerate(value):
            _fill(element if i == 0 else ET.SubElement(parent, element.tag), item, parent)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)


def xml_response(status: int, root: str, payload: Any, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(status, to_xml(root, payload), {"Content-Type": "text/xml;charset=utf-8", **(headers or {})})


def wants_xml(params: dict[str, str]) -> bool:
    return params.get("Format", "").upper() == "XML"


class RpcProtocol:
    name = "rpc"

    def __init__(self) -> None:
        self.nonces = NonceCache()  # SignatureNonces of 1.0-signed calls, refused when reused within 15 min

    def matches(self, request: HttpRequest) -> bool:
        return True  # the fallback: every other protocol is recognised by something of its own

    def _params(self, request: HttpRequest) -> tuple[dict[str, str], dict[str, str]]:
        query = dict(parse_qsl(request.raw_query, keep_blank_values=True))
        params = dict(query)
        ctype = (request.header("content-type") or "").split(";")[0].strip().lower()
        if request.body and ctype == "application/x-www-form-urlencoded":
            params.update(parse_qsl(request.body.decode("utf-8", errors="replace"), keep_blank_values=True))
        return query, params

    def parse(self, cloud: Cloud, request: HttpRequest, request_id: str, record: dict[str, Any]) -> Call:
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
        if is_v1(params, request.headers):
            record["signature"] = "1.0"
            cred = verify_v1(request.method, params, cloud.credentials, self.nonces)
        else:
            cred = verify(request.method, request.path.split("?")[0] or "/", query, request.headers, request.body,
                          cloud.credentials)
        record["accessKeyId"] = cred.access_key_id
        ctx = CallContext(account_id=cred.account_id, access_key_id=cred.access_key_id, request_id=request_id)
        return Call(service=svc, action=action, params=params, ctx=ctx, request=request, record=record)

    def ok(self, call: Call, result: Any) -> HttpResponse:
        payload = dict(result)
        payload.setdefault("RequestId", call.ctx.request_id)  # a ClientToken replay keeps the original RequestId
        call.record["requestId"] = payload["RequestId"]  # the log shows the id the caller got
        # The header names this HTTP call, whatever the body repeats (ECS's gateway id for every request).
        headers = {"x-acs-request-id": call.ctx.request_id}
        if wants_xml(call.params):
            return xml_response(200, f"{call.action}Response", payload, headers)
        return json_response(200, payload, headers)

    def error(self, request: HttpRequest, err: ApiError, request_id: str, retry_after: int | None) -> HttpResponse:
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
        if wants_xml(self._params(request)[1]):
            return xml_response(err.status, "Error", payload, headers)
        return json_response(err.status, payload, headers)

"""The MNS wire style (queues, 2015-06-06): XML over REST, routed by method and path, signed with
``Authorization: MNS <AccessKeyId>:<Signature>``, answered with XML and XML errors.

Signature, as ``aliyun-mns-sdk`` computes it (``MNSClient.get_signature``)::

    string to sign = VERB \\n CONTENT-MD5 \\n CONTENT-TYPE \\n DATE \\n
                     + "name:value\\n" for every x-mns-* header, names lower-case and sorted
                     + the request URI as sent (path and query, not re-encoded)
    signature      = base64(HMAC-SHA1(secret, string to sign))

``Date`` (RFC 1123, GMT) must be within 15 minutes of the server's wall clock. An STS key carries its token
in the ``security-token`` header (not signed). ``Content-MD5`` is checked against the body; the SDK sends
base64 of the *hex* MD5 digest (not of the raw digest, as RFC 1864 has it) -- both are accepted.

The account is the host's: ``http://<account>.mns.<region>.aliyuncs.com`` serves that account's queues, and
a key of another account is refused (403 ``AccessDenied``), after its signature checks out. A host that
names no account (``127.0.0.1:port``, ``localhost``: the usual local endpoint) stands for the key's own.

Errors are ``<Error><Code/><Message/><RequestId/><HostId/></Error>`` with header ``x-mns-request-id``; the
SDK requires all four elements (it reports a damaged response otherwise).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from localcloud.base import ApiError, CallContext
from localcloud.mns.exceptions import MnsBatchError, error
from localcloud.mns.responses import VERSION, Reply, xml_document
from localcloud.server.wire import Call, Cloud, HttpRequest, HttpResponse
from localcloud.signing import Credential


MAX_SKEW_S = 15 * 60
_AUTH = re.compile(r"^MNS (?P<ak>[^:\s]+):(?P<sig>[A-Za-z0-9+/=]+)$")
_QUEUE_PATH = re.compile(r"^/queues/(?P<queue>[^/]+)(?P<messages>/messages)?/?$")
# Headers ListQueue takes its arguments from.
_LIST_HEADERS = ("x-mns-prefix", "x-mns-ret-number", "x-mns-marker", "x-mns-with-meta")


def string_to_sign(method: str, headers: dict[str, list[str]], resource: str) -> str:
    def first(name: str) -> str:
        values = headers.get(name)
        return values[0] if values else ""

    mns_headers = "".join(f"{name}:{first(name)}\n" for name in sorted(h for h in headers if h.startswith("x-mns-")))
    return f"{method}\n{first('content-md5')}\n{first('content-type')}\n{first('date')}\n{mns_headers}{resource}"


def sign(secret: str, to_sign: str) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha1).digest()).decode()


def verify(request: HttpRequest, credentials: dict[str, Credential], now: float | None = None) -> Credential:
    """Check an MNS request's Authorization, Date, token and Content-MD5; return the caller's credential."""
    auth = request.header("authorization")
    if not auth or not auth.strip():
        raise error("auth_missing")
    match = _AUTH.match(auth.strip())
    if match is None:
        raise error("auth_malformed")
    date = request.header("date")
    if not date:
        raise error("date_missing")
    try:
        sent = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError):
        raise error("date_invalid") from None
    if abs((time.time() if now is None else now) - sent) > MAX_SKEW_S:
        raise error("time_expired")
    cred = credentials.get(match["ak"])
    if cred is None:
        raise error("access_key_unknown")
    token = request.header("security-token")
    if cred.security_token is not None and token != cred.security_token:
        raise error("token_mismatch")
    md5 = request.header("content-md5")
    if md5 is not None and request.body:
        digest = hashlib.md5(request.body)
        accepted = {base64.b64encode(digest.hexdigest().encode()).decode(), base64.b64encode(digest.digest()).decode()}
        if md5.strip() not in accepted:
            raise error("content_md5_mismatch")
    resource = request.path + (f"?{request.raw_query}" if request.raw_query else "")
    to_sign = string_to_sign(request.method, request.headers, resource)
    if not hmac.compare_digest(sign(cred.secret, to_sign), match["sig"]):
        raise error("signature_mismatch", to_sign=to_sign)
    return cred


def host_account(host: str | None) -> str | None:
    """The account an MNS host names (``<account>.mns.<region>...``, port or not), or None."""
    labels = (host or "").rsplit(":", 1)[0].lower().split(".")
    return labels[0] if len(labels) > 2 and labels[1] == "mns" and labels[0] else None


def route(request: HttpRequest) -> tuple[str, dict[str, str]]:
    """(action, params) for a queue request; params hold ``QueueName`` and the decoded query."""
    params = dict(parse_qsl(request.raw_query, keep_blank_values=True))
    method, path = request.method, request.path
    if path.rstrip("/") == "/queues":
        if method == "GET":
            params.update({h: v for h in _LIST_HEADERS if (v := request.header(h)) is not None})
            return "ListQueue", params
        raise error("url_invalid", detail=f"{method} {path}")
    match = _QUEUE_PATH.match(path)
    if match is None:
        raise error("url_invalid", detail=f"{method} {path} (localcloud serves queues only: /queues/...)")
    params["QueueName"] = unquote(match["queue"])
    if match["messages"] is None:
        if method == "PUT":
            return ("SetQueueAttributes" if params.get("metaoverride") == "true" else "CreateQueue"), params
        action = {"GET": "GetQueueAttributes", "DELETE": "DeleteQueue"}.get(method)
    elif method == "POST":
        action = "BatchSendMessage" if b"<Messages" in request.body[:200] else "SendMessage"
    elif method == "GET":
        batch = "numOfMessages" in params
        if params.get("peekonly") == "true":
            action = "BatchPeekMessage" if batch else "PeekMessage"
        else:
            action = "BatchReceiveMessage" if batch else "ReceiveMessage"
    elif method == "DELETE":
        action = "DeleteMessage" if "ReceiptHandle" in params or not request.body else "BatchDeleteMessage"
    elif method == "PUT":
        action = "ChangeMessageVisibility"
    else:
        action = None
    if action is None:
        raise error("url_invalid", detail=f"{method} {path}")
    return action, params


class MnsProtocol:
    name = "mns"

    def matches(self, request: HttpRequest) -> bool:
        auth = request.header("authorization") or ""
        return auth.startswith("MNS ") or request.path == "/queues" or request.path.startswith("/queues/")

    def parse(self, cloud: Cloud, request: HttpRequest, request_id: str, record: dict[str, Any]) -> Call:
        record["version"] = VERSION
        action, params = route(request)
        record.update(action=action, params=params)
        svc = cloud.services.get("mns")
        if svc is None:
            raise ApiError(503, "ServiceUnavailable", "MNS is not running in this localcloud.")
        cred = verify(request, cloud.credentials)
        record["accessKeyId"] = cred.access_key_id
        if host_account(request.header("host")) not in (None, cred.account_id):
            raise error("account_mismatch")
        ctx = CallContext(account_id=cred.account_id, access_key_id=cred.access_key_id, request_id=request_id)
        endpoint = f"http://{request.header('host') or cloud.endpoint.split('://', 1)[-1]}"
        body = request.body
        return Call(service=svc, action=action, params=params, ctx=ctx, request=request, record=record,
                    invoke=lambda: svc.handle(action, params, ctx, body, endpoint))  # type: ignore[call-arg]  # MNS's takes more

    def ok(self, call: Call, result: Any) -> HttpResponse:
        reply: Reply = result
        headers = {**_headers(call.ctx.request_id), **reply.headers}
        if reply.body:
            headers["Content-Type"] = "text/xml;charset=utf-8"
        return HttpResponse(reply.status, reply.body, headers)

    def error(self, request: HttpRequest, err: ApiError, request_id: str, retry_after: int | None) -> HttpResponse:
        if isinstance(err, MnsBatchError):  # per-entry results, in the shape the SDK's batch decoders read
            item_tag = "Message" if err.root == "Messages" else "Error"
            body = xml_document(err.root, items=[list(item.items()) for item in err.items], item_tag=item_tag)
        else:
            host = request.header("host") or "localcloud"
            body = xml_document("Error", [("Code", err.code), ("Message", err.message), ("RequestId", request_id),
                                          ("HostId", f"http://{host}")])
        return HttpResponse(err.status, body, {**_headers(request_id), "Content-Type": "text/xml;charset=utf-8"})


def _headers(request_id: str) -> dict[str, str]:
    return {"x-mns-request-id": request_id, "x-mns-version": VERSION}

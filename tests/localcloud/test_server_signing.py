"""ACS3-HMAC-SHA256 verification: the SDK's own signatures pass (odd characters included), tampered raw
requests fail with the documented codes."""
from __future__ import annotations

import http.client
import json
from typing import Any, Iterator
from urllib.parse import urlencode, urlsplit

import pytest

from localcloud.base import CallContext
from localcloud.eventbridge import EventBridgeService
from localcloud.server import LocalCloud
from localcloud.signing import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    Credential,
    canonical_query,
    sign_headers,
)

ECS_VERSION = "2014-05-26"
STS_KEY = "STS.localcloud"
STS_SECRET = "sts-secret"
STS_TOKEN = "token-abc"


class EchoService:
    """Stands in for ECS: answers every action with the parameters it received."""

    version = ECS_VERSION
    name = "ecs"

    def handle(self, action: str, params: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        return {"Action": action, "Params": params, "AccountId": ctx.account_id}

    def reset(self) -> None: ...

    def dump_state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None: ...


@pytest.fixture(scope="module")
def echo_cloud() -> Iterator[LocalCloud]:
    creds = {
        DEFAULT_ACCESS_KEY_ID: (DEFAULT_ACCESS_KEY_SECRET, "1111"),
        STS_KEY: Credential(STS_KEY, STS_SECRET, "2222", STS_TOKEN),
    }
    with LocalCloud(credentials=creds, services=[EchoService(), EventBridgeService()]) as cloud:
        yield cloud


def sdk_call(cloud: LocalCloud, query: dict[str, str], **config: Any) -> dict[str, Any]:
    """A generic RPC call through the official ECS client (same signing path as every ECS action)."""
    from alibabacloud_ecs20140526.client import Client
    from alibabacloud_tea_openapi.utils_models import Config, OpenApiRequest, Params
    from darabonba.runtime import RuntimeOptions

    cfg = dict(access_key_id=DEFAULT_ACCESS_KEY_ID, access_key_secret=DEFAULT_ACCESS_KEY_SECRET,
               endpoint=cloud.endpoint.removeprefix("http://"), protocol="http", region_id="cn-hangzhou")
    cfg.update(config)
    client = Client(Config(**cfg))
    params = Params(action="DescribeRegions", version=ECS_VERSION, protocol="HTTPS", pathname="/", method="POST",
                    auth_type="AK", style="RPC", req_body_type="formData", body_type="json")
    return client.call_api(params, OpenApiRequest(query=query), RuntimeOptions())["body"]


def raw_call(
    cloud: LocalCloud,
    query: dict[str, str],
    body: bytes = b"",
    *,
    secret: str = DEFAULT_ACCESS_KEY_SECRET,
    ak: str = DEFAULT_ACCESS_KEY_ID,
    tamper: Any = None,
) -> tuple[int, dict[str, Any]]:
    """Sign like the SDK, optionally tamper with (query, body, headers) after signing, send over raw HTTP."""
    host = urlsplit(cloud.endpoint).netloc
    headers = {"host": host, "x-acs-action": "DescribeRegions", "x-acs-version": ECS_VERSION,
               "x-acs-date": "2026-11-27T00:00:00Z", "x-acs-signature-nonce": "n-1"}
    if body:
        headers["content-type"] = "application/x-www-form-urlencoded"
    headers = sign_headers("POST", "/", query, headers, body, ak, secret)
    if tamper:
        query, body, headers = tamper(dict(query), body, dict(headers))
    conn = http.client.HTTPConnection(host, timeout=10)
    try:
        conn.request("POST", "/?" + urlencode(query), body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_canonical_query_matches_sdk() -> None:
    from alibabacloud_tea_openapi.utils import get_canonical_query_string

    q = {"B": "a b+c", "A": "ü/é~*", "Permissions.1.PortRange": "1/65535", "Empty": "", "Z": "x&y=z%"}
    assert canonical_query(q) == get_canonical_query_string(q)


def test_sign_headers_matches_sdk_authorization() -> None:
    from alibabacloud_tea_openapi.utils import Utils
    from darabonba.request import DaraRequest

    query = {"RegionId": "cn-hangzhou", "Description": "hello world + ü", "Tag.1.Key": "a*b~c"}
    headers = {"host": "127.0.0.1:1", "x-acs-action": "X", "x-acs-version": ECS_VERSION, "x-acs-date": "d",
               "user-agent": "ua", "accept": "application/json"}
    ours = sign_headers("POST", "/", query, headers, b"", "ak", "sk")
    req = DaraRequest()
    req.method, req.pathname, req.query = "POST", "/", query
    req.headers = dict(headers, **{"x-acs-content-sha256": ours["x-acs-content-sha256"]})
    assert Utils.get_authorization(req, "ACS3-HMAC-SHA256", ours["x-acs-content-sha256"], "ak", "sk") == ours["authorization"]


def test_sdk_signature_accepted_with_awkward_values(echo_cloud: LocalCloud) -> None:
    query = {"RegionId": "cn-hangzhou", "Description": "a b+c&d=e/f?g~h*i'ü中", "Empty": "", "Percent": "100%"}
    body = sdk_call(echo_cloud, query)
    assert body["Params"] == query
    assert body["Action"] == "DescribeRegions"
    assert body["AccountId"] == "1111"


def test_sdk_sts_token_signed_and_checked(echo_cloud: LocalCloud) -> None:
    body = sdk_call(echo_cloud, {"RegionId": "cn-hangzhou"}, access_key_id=STS_KEY, access_key_secret=STS_SECRET,
                    security_token=STS_TOKEN)
    assert body["AccountId"] == "2222"


def test_sdk_sts_wrong_token_rejected(echo_cloud: LocalCloud) -> None:
    from alibabacloud_tea_openapi.exceptions import ClientException

    with pytest.raises(ClientException) as info:
        sdk_call(echo_cloud, {"RegionId": "cn-hangzhou"}, access_key_id=STS_KEY, access_key_secret=STS_SECRET,
                 security_token="other")
    assert info.value.code == "InvalidSecurityToken.Mismatch"


def test_sdk_wrong_secret_is_signature_mismatch(echo_cloud: LocalCloud) -> None:
    from alibabacloud_tea_openapi.exceptions import ClientException

    with pytest.raises(ClientException) as info:
        sdk_call(echo_cloud, {"RegionId": "cn-hangzhou"}, access_key_secret="wrong")
    assert (info.value.code, info.value.status_code) == ("SignatureDoesNotMatch", 400)


def test_raw_signed_request_accepted(echo_cloud: LocalCloud) -> None:
    # The control for the tampering tests below: the same request untouched passes.
    status, body = raw_call(echo_cloud, {"RegionId": "cn-hangzhou", "Name": "x y"}, b"Extra=1")
    assert status == 200, body
    assert body["Params"] == {"RegionId": "cn-hangzhou", "Name": "x y", "Extra": "1"}


def test_parameter_changed_after_signing(echo_cloud: LocalCloud) -> None:
    def tamper(q: dict[str, str], b: bytes, h: dict[str, str]) -> tuple[dict[str, str], bytes, dict[str, str]]:
        q["RegionId"] = "cn-beijing"
        return q, b, h

    status, body = raw_call(echo_cloud, {"RegionId": "cn-hangzhou"}, tamper=tamper)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    assert set(body) >= {"RequestId", "HostId", "Code", "Message", "Recommend"}


def test_added_parameter_after_signing(echo_cloud: LocalCloud) -> None:
    def tamper(q: dict[str, str], b: bytes, h: dict[str, str]) -> tuple[dict[str, str], bytes, dict[str, str]]:
        q["Injected"] = "1"
        return q, b, h

    status, body = raw_call(echo_cloud, {"RegionId": "cn-hangzhou"}, tamper=tamper)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")


def test_signed_header_changed_after_signing(echo_cloud: LocalCloud) -> None:
    def tamper(q: dict[str, str], b: bytes, h: dict[str, str]) -> tuple[dict[str, str], bytes, dict[str, str]]:
        h["x-acs-action"] = "DeleteSecurityGroup"
        return q, b, h

    status, body = raw_call(echo_cloud, {"RegionId": "cn-hangzhou"}, tamper=tamper)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")


def test_wrong_secret(echo_cloud: LocalCloud) -> None:
    status, body = raw_call(echo_cloud, {"RegionId": "cn-hangzhou"}, secret="not-the-secret")
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")


def test_unknown_access_key(echo_cloud: LocalCloud) -> None:
    status, body = raw_call(echo_cloud, {"RegionId": "cn-hangzhou"}, ak="LTAI-nobody")
    assert (status, body["Code"]) == (404, "InvalidAccessKeyId.NotFound")


def test_replayed_signature_with_different_body(echo_cloud: LocalCloud) -> None:
    def other_body(q: dict[str, str], b: bytes, h: dict[str, str]) -> tuple[dict[str, str], bytes, dict[str, str]]:
        return q, b"Extra=2", h

    status, body = raw_call(echo_cloud, {"RegionId": "cn-hangzhou"}, b"Extra=1", tamper=other_body)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")

    def other_body_and_hash(q: dict[str, str], b: bytes, h: dict[str, str]) -> tuple[dict[str, str], bytes, dict[str, str]]:
        import hashlib

        new = b"Extra=2"
        h["x-acs-content-sha256"] = hashlib.sha256(new).hexdigest()
        return q, new, h

    status, body = raw_call(echo_cloud, {"RegionId": "cn-hangzhou"}, b"Extra=1", tamper=other_body_and_hash)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")


def test_missing_authorization(echo_cloud: LocalCloud) -> None:
    def strip(q: dict[str, str], b: bytes, h: dict[str, str]) -> tuple[dict[str, str], bytes, dict[str, str]]:
        del h["authorization"]
        return q, b, h

    status, body = raw_call(echo_cloud, {"RegionId": "cn-hangzhou"}, tamper=strip)
    assert (status, body["Code"]) == (400, "IncompleteSignature")


def test_garbled_authorization(echo_cloud: LocalCloud) -> None:
    def garble(q: dict[str, str], b: bytes, h: dict[str, str]) -> tuple[dict[str, str], bytes, dict[str, str]]:
        h["authorization"] = "ACS3-HMAC-SHA256 Credential=LTAI-localcloud"
        return q, b, h

    status, body = raw_call(echo_cloud, {"RegionId": "cn-hangzhou"}, tamper=garble)
    assert (status, body["Code"]) == (400, "IncompleteSignature")


def test_unsigned_acs_header_rejected(echo_cloud: LocalCloud) -> None:
    def add_header(q: dict[str, str], b: bytes, h: dict[str, str]) -> tuple[dict[str, str], bytes, dict[str, str]]:
        h["x-acs-extra"] = "sneaky"
        return q, b, h

    status, body = raw_call(echo_cloud, {"RegionId": "cn-hangzhou"}, tamper=add_header)
    assert (status, body["Code"]) == (400, "IncompleteSignature")


def test_signature_failures_are_in_the_call_log(echo_cloud: LocalCloud) -> None:
    echo_cloud.calls.clear()
    raw_call(echo_cloud, {"RegionId": "cn-hangzhou"}, ak="LTAI-nobody")
    [call] = echo_cloud.calls.list()
    assert (call["action"], call["status"], call["code"]) == ("DescribeRegions", 404, "InvalidAccessKeyId.NotFound")


def test_async_client_signature_accepted(echo_cloud: LocalCloud) -> None:
    """aiohttp puts the query on the wire differently from requests; both must verify."""
    import asyncio

    from alibabacloud_ecs20140526.client import Client
    from alibabacloud_tea_openapi.utils_models import Config, OpenApiRequest, Params
    from darabonba.runtime import RuntimeOptions

    client = Client(Config(access_key_id=DEFAULT_ACCESS_KEY_ID, access_key_secret=DEFAULT_ACCESS_KEY_SECRET,
                           endpoint=echo_cloud.endpoint.removeprefix("http://"), protocol="http",
                           region_id="cn-hangzhou"))
    params = Params(action="DescribeRegions", version=ECS_VERSION, protocol="HTTPS", pathname="/", method="POST",
                    auth_type="AK", style="RPC", req_body_type="formData", body_type="json")
    query = {"RegionId": "cn-hangzhou", "Description": "a b+c&d=e ü"}

    async def call() -> dict[str, Any]:
        return (await client.call_api_async(params, OpenApiRequest(query=query), RuntimeOptions()))["body"]

    assert asyncio.run(call())["Params"] == query

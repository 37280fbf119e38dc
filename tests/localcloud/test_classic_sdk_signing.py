"""RPC signature 1.0 (the classic ``aliyun-python-sdk-core``): wrong secret, unknown key, tampered signature,
replayed nonce, stale timestamp, missing parameters -- each with its documented error -- and ``Format=XML``
answered in XML (the convention of the SDK's own ``parameter_helper.to_xml``). Requests the SDK cannot be
made to send (a replay, an old Timestamp) are signed with the SDK's own signature composer."""
from __future__ import annotations

import http.client
import json
import time
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.algorithm import sha_hmac1
from aliyunsdkcore.auth.composer import rpc_signature_composer as composer
from aliyunsdkcore.utils.parameter_helper import to_xml
from aliyunsdkecs.request.v20140526.CreateSecurityGroupRequest import CreateSecurityGroupRequest
from aliyunsdkecs.request.v20140526.DescribeSecurityGroupsRequest import DescribeSecurityGroupsRequest
from aliyunsdkeventbridge.request.v20200401.ListEventBusesRequest import ListEventBusesRequest

from localcloud.server import LocalCloud
from localcloud.signing import Credential

ISO = "%Y-%m-%dT%H:%M:%SZ"


def signed_query(params: dict[str, str], secret: str = "localcloud-secret", method: str = "GET",
                 timestamp: float | None = None, nonce: str = "", access_key_id: str = "LTAI-localcloud") -> dict[str, str]:
    """``params`` plus the 1.0 signature parameters, signed by the SDK's composer (its string to sign and
    HMAC), with a chosen Timestamp and nonce."""
    out = {**params, "Timestamp": time.strftime(ISO, time.gmtime(timestamp or time.time())),
           "SignatureMethod": "HMAC-SHA1", "SignatureType": "", "SignatureVersion": "1.0",
           "SignatureNonce": nonce or f"nonce-{time.monotonic_ns()}", "AccessKeyId": access_key_id,
           "Format": params.get("Format", "JSON")}
    to_sign = getattr(composer, "__compose_string_to_sign")(method, out)
    out["Signature"] = sha_hmac1.get_sign_string(to_sign, secret + "&")
    return out


def send(localcloud: Any, query: dict[str, str], method: str = "GET") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", localcloud.server.port, timeout=10)
    try:
        conn.request(method, "/?" + urlencode(query))
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def describe() -> dict[str, str]:
    return {"Action": "DescribeSecurityGroups", "Version": "2014-05-26", "RegionId": "cn-hangzhou"}


def test_classic_client_is_verified_and_logged(localcloud: Any, acs_client: Any) -> None:
    request = CreateSecurityGroupRequest()
    request.set_VpcId("vpc-1")
    body = json.loads(acs_client.do_action_with_exception(request))
    assert body["SecurityGroupId"].startswith("sg-")
    [call] = localcloud.calls("CreateSecurityGroup")
    assert (call["status"], call["signature"], call["accessKeyId"]) == (200, "1.0", localcloud.access_key_id)


def test_wrong_secret(localcloud: Any) -> None:
    client = localcloud.acs_client(access_key_secret="not-the-secret")
    with pytest.raises(ServerException) as info:
        client.do_action_with_exception(DescribeSecurityGroupsRequest())
    # The server answers SignatureDoesNotMatch with its string to sign; the SDK sees that it signed the same
    # string, so the secret must be wrong, and says so.
    assert (info.value.get_error_code(), info.value.get_http_status()) == ("InvalidAccessKeySecret", 400)
    [call] = localcloud.calls()
    assert (call["status"], call["code"]) == (400, "SignatureDoesNotMatch")


def test_unknown_access_key(localcloud: Any) -> None:
    client = localcloud.acs_client(access_key_id="LTAI-nobody")
    with pytest.raises(ServerException) as info:
        client.do_action_with_exception(DescribeSecurityGroupsRequest())
    assert (info.value.get_error_code(), info.value.get_http_status()) == ("InvalidAccessKeyId.NotFound", 404)


def test_tampered_request_and_signature(localcloud: Any) -> None:
    query = signed_query(describe())
    assert send(localcloud, query)[0] == 200
    for tampered in ({**signed_query(describe()), "RegionId": "cn-shanghai"},      # a parameter changed
                     {**signed_query(describe()), "Signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}):  # a forged one
        status, body = send(localcloud, tampered)
        error = json.loads(body)
        assert (status, error["Code"]) == (400, "SignatureDoesNotMatch")
        assert error["Message"].startswith("Specified signature is not matched with our calculation.")


def test_replayed_nonce(localcloud: Any) -> None:
    query = signed_query(describe(), nonce="nonce-used-once")
    assert send(localcloud, query)[0] == 200
    status, body = send(localcloud, query)  # the same signed request again
    assert (status, json.loads(body)["Code"]) == (400, "SignatureNonceUsed")
    # A failed signature does not burn the nonce: only verified requests record theirs.
    fresh = signed_query(describe(), nonce="nonce-after-a-forgery")
    assert send(localcloud, {**fresh, "Signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="})[0] == 400
    assert send(localcloud, fresh)[0] == 200


def test_stale_or_future_timestamp(localcloud: Any) -> None:
    for offset in (-16 * 60, 16 * 60):
        status, body = send(localcloud, signed_query(describe(), timestamp=time.time() + offset))
        assert (status, json.loads(body)["Code"]) == (400, "InvalidTimeStamp.Expired")
    assert send(localcloud, signed_query(describe(), timestamp=time.time() - 14 * 60))[0] == 200


def test_incomplete_signature(localcloud: Any) -> None:
    query = signed_query(describe())
    del query["SignatureNonce"]
    status, body = send(localcloud, query)
    assert (status, json.loads(body)["Code"]) == (400, "IncompleteSignature")
    assert "SignatureNonce" in json.loads(body)["Message"]
    status, body = send(localcloud, {**signed_query(describe()), "SignatureVersion": "2.0"})
    assert (status, json.loads(body)["Code"]) == (400, "IncompleteSignature")


def test_post_form_is_signed_with_its_body(localcloud: Any) -> None:
    form = {"Action": "CreateSecurityGroup", "Version": "2014-05-26", "RegionId": "cn-hangzhou",
            "VpcId": "vpc-form", "SecurityGroupName": "from a form"}
    signed = signed_query(form, method="POST")
    conn = http.client.HTTPConnection("127.0.0.1", localcloud.server.port, timeout=10)
    conn.request("POST", "/", body=urlencode(signed), headers={"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    [group] = localcloud.state()["ecs"]["accounts"]["1234567890123456"]["cn-hangzhou"]["security_groups"].values()
    assert (group["VpcId"], group["SecurityGroupName"]) == ("vpc-form", "from a form")


def test_sts_token_as_a_parameter() -> None:
    creds = {"STS.key": Credential("STS.key", "sts-secret", "1234567890123456", "token-1")}
    with LocalCloud(credentials=creds) as cloud:
        def status_for(token: str | None) -> tuple[int, str]:
            params = {**describe(), **({"SecurityToken": token} if token else {})}
            query = signed_query(params, secret="sts-secret", access_key_id="STS.key")
            conn = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=10)
            conn.request("GET", "/?" + urlencode(query))
            resp = conn.getresponse()
            body = resp.read()
            return resp.status, (json.loads(body).get("Code") or "") if resp.status != 200 else ""

        assert status_for("token-1") == (200, "")
        assert status_for("token-2") == (400, "InvalidSecurityToken.Mismatch")
        assert status_for(None) == (400, "InvalidSecurityToken.Mismatch")


@pytest.mark.filterwarnings("ignore:implementation_of_do_action:DeprecationWarning")  # get_response: raw XML
def test_format_xml_success_as_the_sdk_builds_xml(localcloud: Any, acs_client: Any) -> None:
    create = CreateSecurityGroupRequest()
    create.set_VpcId("vpc-1")
    create.set_SecurityGroupName("xml & <json>")
    acs_client.do_action_with_exception(create)
    as_json = json.loads(acs_client.do_action_with_exception(DescribeSecurityGroupsRequest()))
    request = DescribeSecurityGroupsRequest()
    request.set_accept_format("XML")
    status, headers, body = acs_client.get_response(request)
    assert status == 200 and headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(body)
    assert root.tag == "DescribeSecurityGroupsResponse"
    # The same data as the JSON answer, in the SDK's own dict -> XML convention (booleans as the API writes
    # them in XML: true/false).
    as_json["RequestId"] = root.findtext("RequestId")
    expected = to_xml({"DescribeSecurityGroupsResponse": _xml_scalars(as_json)})
    assert body.decode().removeprefix('<?xml version="1.0" encoding="UTF-8"?>') == expected
    assert root.findtext("SecurityGroups/SecurityGroup/SecurityGroupName") == "xml & <json>"


def _xml_scalars(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return {k: _xml_scalars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_xml_scalars(v) for v in value]
    return value


def test_format_xml_error(localcloud: Any) -> None:
    status, body = send(localcloud, signed_query({**describe(), "Format": "XML", "MaxResults": "0"}))
    root = ET.fromstring(body)
    assert (status, root.tag, root.findtext("Code")) == (400, "Error", "InvalidMaxResults.Malformed")
    assert [child.tag for child in root] == ["RequestId", "HostId", "Code", "Message", "Recommend"]
    status, body = send(localcloud, {**signed_query({**describe(), "Format": "XML"}), "Signature": "AAAA"})
    assert (status, ET.fromstring(body).findtext("Code")) == (400, "SignatureDoesNotMatch")


def test_classic_eventbridge_client_reaches_eventbridge(localcloud: Any, acs_client: Any) -> None:
    # The classic EventBridge SDK covers the control plane (buses, rules); localcloud serves PutEvents only,
    # which that SDK lacks. Its calls are still verified (1.0) and routed to EventBridge, which answers.
    with pytest.raises(ServerException) as info:
        acs_client.do_action_with_exception(ListEventBusesRequest())
    assert (info.value.get_error_code(), info.value.get_http_status()) == ("InvalidAction.NotFound", 404)
    [call] = localcloud.calls()
    assert (call["version"], call["signature"], call["action"]) == ("2020-04-01", "1.0", "ListEventBuses")

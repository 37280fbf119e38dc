"""The MNS wire: signature (as ``aliyun-mns-sdk`` computes it), Date skew, STS token, Content-MD5, XML
errors with ``x-mns-request-id``, and fault injection on MNS actions -- seen through the official SDK, or
through raw HTTP signed by the SDK's own ``get_signature`` where the SDK cannot be made to misbehave."""
from __future__ import annotations

import base64
import hashlib
import http.client
import time
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlsplit

import pytest
from mns.account import Account
from mns.auth import Credentials
from mns.mns_client import MNSClient
from mns.mns_exception import MNSClientNetworkException, MNSServerException
from mns.queue import Message, QueueMeta

from localcloud.server import LocalCloud
from localcloud.signing import Credential

NS = "{http://mns.aliyuncs.com/doc/v1/}"


def server_error(fn: Any, *args: Any) -> MNSServerException:
    with pytest.raises(MNSServerException) as info:
        fn(*args)
    return info.value


def raw_request(endpoint: str, method: str, uri: str, body: bytes = b"", *, secret: str = "localcloud-secret",
                access_key_id: str = "LTAI-localcloud", date: str | None = None,
                tamper: dict[str, Any] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request signed exactly like the SDK (its own ``MNSClient.get_signature``); ``tamper`` changes the
    request after signing: ``{"uri": ..., "body": ..., "headers": {...}}``."""
    url = urlsplit(endpoint)
    headers = {"x-mns-version": "2015-06-06", "host": url.netloc,
               "date": date or time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())}
    if body:
        headers["content-md5"] = base64.b64encode(hashlib.md5(body).hexdigest().encode()).decode()
        headers["content-type"] = "text/xml;charset=UTF-8"
    client = MNSClient(endpoint, access_key_id, secret)
    headers["Authorization"] = client.get_signature(method, headers, uri, Credentials(access_key_id, secret, ""))
    tamper = tamper or {}
    uri, body = tamper.get("uri", uri), tamper.get("body", body)
    headers.update(tamper.get("headers", {}))
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request(method, uri, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def xml_error(body: bytes) -> dict[str, str]:
    root = ET.fromstring(body)
    assert root.tag == f"{NS}Error"
    return {child.tag.removeprefix(NS): child.text or "" for child in root}


def test_wrong_secret_is_signature_does_not_match(localcloud: Any, mns_queue: Any) -> None:
    bad = Account(localcloud.endpoint, localcloud.access_key_id, "not-the-secret").get_queue(mns_queue.queue_name)
    err = server_error(bad.send_message, Message("m"))
    assert err.type == "SignatureDoesNotMatch"
    assert err.message.startswith("The http request you specified did not match with the signature we calculated.")
    [call] = localcloud.calls("SendMessage")
    assert (call["status"], call["code"], call["requestId"]) == (403, "SignatureDoesNotMatch", err.request_id)
    assert localcloud.queue(mns_queue.queue_name)["messages"] == []


def test_unknown_access_key(localcloud: Any, mns_queue: Any) -> None:
    stranger = Account(localcloud.endpoint, "LTAI-nobody", "x").get_queue(mns_queue.queue_name)
    err = server_error(stranger.peek_message)
    assert (err.type, err.message) == ("InvalidAccessKeyId", "The AccessKey Id you provided is not exist.")


def test_signed_then_tampered_is_refused(localcloud: Any, mns_queue: Any) -> None:
    uri = f"/queues/{mns_queue.queue_name}/messages"
    body = b'<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/doc/v1/">' \
           b"<MessageBody>aGk=</MessageBody></Message>"
    status, headers, _ = raw_request(localcloud.endpoint, "POST", uri, body)
    assert status == 201  # the helper signs like the SDK: the untampered request passes
    status, headers, reply = raw_request(localcloud.endpoint, "POST", uri, body,
                                         tamper={"body": body.replace(b"aGk=", b"aG8=")})
    assert (status, xml_error(reply)["Code"]) == (400, "InvalidDegist")  # body no longer matches Content-MD5
    status, headers, reply = raw_request(localcloud.endpoint, "GET", f"{uri}?waitseconds=0",
                                         tamper={"uri": f"{uri}?waitseconds=1"})
    error = xml_error(reply)
    assert (status, error["Code"]) == (403, "SignatureDoesNotMatch")
    assert error["RequestId"] == headers["x-mns-request-id"]
    assert error["HostId"] == localcloud.endpoint


def test_date_more_than_15_minutes_off_is_time_expired(localcloud: Any, mns_queue: Any) -> None:
    uri = f"/queues/{mns_queue.queue_name}"
    fmt = "%a, %d %b %Y %H:%M:%S GMT"
    for skew in (-16 * 60, 16 * 60):
        status, headers, reply = raw_request(localcloud.endpoint, "GET", uri,
                                             date=time.strftime(fmt, time.gmtime(time.time() + skew)))
        assert (status, xml_error(reply)["Code"]) == (408, "TimeExpired")
    status, _, _ = raw_request(localcloud.endpoint, "GET", uri, date=time.strftime(fmt, time.gmtime(time.time() - 14 * 60)))
    assert status == 200
    status, _, reply = raw_request(localcloud.endpoint, "GET", uri, date="yesterday")
    assert (status, xml_error(reply)["Code"]) == (400, "InvalidDateHeader")


def test_missing_or_malformed_authorization(localcloud: Any, mns_queue: Any) -> None:
    url = urlsplit(localcloud.endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request("GET", f"/queues/{mns_queue.queue_name}")
    resp = conn.getresponse()
    assert (resp.status, xml_error(resp.read())["Code"]) == (400, "MissingAuthorizationHeader")
    status, _, reply = raw_request(localcloud.endpoint, "GET", f"/queues/{mns_queue.queue_name}",
                                   tamper={"headers": {"Authorization": "MNS no-colon-here"}})
    assert (status, xml_error(reply)["Code"]) == (400, "InvalidAuthorizationHeader")


def test_malformed_and_invalid_xml(localcloud: Any, mns_queue: Any) -> None:
    uri = f"/queues/{mns_queue.queue_name}/messages"
    status, _, reply = raw_request(localcloud.endpoint, "POST", uri, b"<Message><MessageBody>x</Message>")
    assert (status, xml_error(reply)["Code"]) == (400, "MalformedXML")
    status, _, reply = raw_request(localcloud.endpoint, "POST", uri, b"\xff\xfe<not utf-8")
    assert (status, xml_error(reply)["Code"]) == (400, "MalformedXML")
    status, _, reply = raw_request(localcloud.endpoint, "POST", uri, b"<Message><Priority>1</Priority></Message>")
    assert (status, xml_error(reply)["Code"]) == (400, "InvalidArgument")
    status, _, reply = raw_request(localcloud.endpoint, "POST", uri,
                                   b"<Message><MessageBody>x</MessageBody><Priority>high</Priority></Message>")
    assert (status, xml_error(reply)["Code"]) == (400, "InvalidArgument")
    status, _, reply = raw_request(localcloud.endpoint, "GET", "/topics/t")
    assert (status, xml_error(reply)["Code"]) == (400, "InvalidRequestURL")
    assert localcloud.queue(mns_queue.queue_name)["messages"] == []


def test_sts_security_token() -> None:
    creds = {"STS.key": Credential("STS.key", "sts-secret", "1234567890123456", "token-1")}
    with LocalCloud(credentials=creds) as cloud:
        good = Account(cloud.endpoint, "STS.key", "sts-secret", "token-1").get_queue("sts")
        good.create(QueueMeta())
        assert good.send_message(Message("m")).message_id
        for token in ("token-2", ""):
            bad = Account(cloud.endpoint, "STS.key", "sts-secret", token).get_queue("sts")
            assert server_error(bad.peek_message).type == "AccessDenied"


def test_injected_error_comes_back_as_mns_xml_error(localcloud: Any, mns_queue: Any) -> None:
    localcloud.faults.inject("SendMessage", error={"status": 503, "code": "ServiceUnavailable",
                                                   "message": "try later"}, times=1)
    err = server_error(mns_queue.send_message, Message("m"))
    assert (err.type, err.message, err.host_id) == ("ServiceUnavailable", "try later", localcloud.endpoint)
    [call] = localcloud.calls("SendMessage")
    assert (call["status"], call["fault"], call["requestId"]) == (503, "error", err.request_id)
    assert localcloud.queue(mns_queue.queue_name)["messages"] == []  # never reached the queue
    assert mns_queue.send_message(Message("m")).message_id  # times=1: the next one goes


def test_injected_fault_after_the_effect(localcloud: Any, mns_queue: Any) -> None:
    localcloud.faults.inject("SendMessage", error={"status": 500, "code": "InternalError"}, phase="after", times=1)
    assert server_error(mns_queue.send_message, Message("m")).type == "InternalError"
    assert len(localcloud.queue(mns_queue.queue_name)["messages"]) == 1  # it did go in
    # A connection closed without a reply: the SDK re-sends once on a fresh connection (it takes it for a
    # stale keep-alive), so it takes two drops to surface a network error.
    localcloud.faults.inject("ReceiveMessage", drop=True, times=2)
    with pytest.raises(MNSClientNetworkException):
        mns_queue.receive_message(0)
    assert [c.get("fault") for c in localcloud.calls("ReceiveMessage")] == ["drop", "drop"]
    localcloud.faults.inject("ReceiveMessage", drop=True, times=1)
    assert mns_queue.receive_message(0).dequeue_count == 1  # the SDK's one re-send got through


def test_call_log_names_mns_actions(localcloud: Any, mns_queue: Any) -> None:
    mns_queue.send_message(Message("m"))
    got = mns_queue.receive_message(3)
    mns_queue.delete_message(got.receipt_handle)
    calls = [(c["action"], c["status"], c["protocol"]) for c in localcloud.calls()]
    assert calls == [("CreateQueue", 201, "mns"), ("SendMessage", 201, "mns"), ("ReceiveMessage", 200, "mns"),
                     ("DeleteMessage", 204, "mns")]
    assert localcloud.calls("ReceiveMessage")[0]["params"] == {"QueueName": mns_queue.queue_name, "waitseconds": "3"}


OWN, OTHER = "1111111111111111", "2222222222222222"


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Resolve chosen MNS host names to 127.0.0.1, as DNS resolves ``<account>.mns.<region>.aliyuncs.com`` to
    the service: the official SDK then connects to localcloud and sends that name as its Host. Only the names
    given are mapped (the platform resolver answers the rest); nothing of the SDK is touched."""
    import socket

    names: set[str] = set()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host in names else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


def test_a_host_naming_another_account_is_access_denied(dns: set[str]) -> None:
    # Each key belongs to one account (the `credentials` given to localcloud; `--account-id` for its own key).
    creds = {"LTAI-own": Credential("LTAI-own", "own-secret", OWN), "LTAI-other": Credential("LTAI-other", "s2", OTHER)}
    with LocalCloud(credentials=creds) as cloud:
        port = urlsplit(cloud.endpoint).port
        own_host, other_host = f"{OWN}.mns.cn-hangzhou.aliyuncs.com", f"{OTHER}.mns.cn-hangzhou.aliyuncs.com"
        dns.update({own_host, other_host})
        mine = Account(f"http://{own_host}:{port}", "LTAI-own", "own-secret").get_queue("changes")
        mine.create(QueueMeta())
        assert mine.send_message(Message("to my own account")).message_id
        # the same key at another account's endpoint: refused, nothing sent
        wrong = Account(f"http://{other_host}:{port}", "LTAI-own", "own-secret").get_queue("changes")
        err = server_error(wrong.send_message, Message("to the wrong account"))
        assert err.type == "AccessDenied" and err.request_id
        assert "forbidden" in err.message and err.host_id == f"http://{other_host}:{port}"
        # ... and another account's key at this account's endpoint
        stranger = Account(f"http://{own_host}:{port}", "LTAI-other", "s2").get_queue("changes")
        assert server_error(stranger.peek_message).type == "AccessDenied"
        # the local endpoint (an address, no account in it) stands for the key's own account
        local = Account(cloud.endpoint, "LTAI-own", "own-secret").get_queue("changes")
        assert [m.message_body for m in local.batch_peek_message(16)] == [b"to my own account"]
        denied = [(c["action"], c["status"]) for c in cloud.calls.list() if c.get("code") == "AccessDenied"]
        assert denied == [("SendMessage", 403), ("PeekMessage", 403)]

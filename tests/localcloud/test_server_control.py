"""The unsigned control API under /_emulator/ and the server's wire behaviour."""
from __future__ import annotations

import http.client
import json
import time
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest
from alibabacloud_eventbridge20200401 import models as eb
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from alibabacloud_tea_openapi.utils_models import OpenApiRequest, Params
from darabonba.runtime import RuntimeOptions

from localcloud.base import ApiError, CallContext
from localcloud.control_client import ControlClient, ControlError
from localcloud.server import LocalCloud
from localcloud.signing import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, sign_headers


def put(client: Any, n: int = 1, bus: str = "default") -> Any:
    return client.put_events(eb.PutEventsRequest(event_bus_name=bus, event_list=[
        eb.PutEventsRequestEventList(id=f"e-{n}", source="s", type="t")])).body


def rpc(client: Any, action: str, version: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    params = Params(action=action, version=version, protocol="HTTPS", pathname="/", method="POST", auth_type="AK",
                    style="RPC", req_body_type="formData", body_type="json")
    return client.call_api(params, OpenApiRequest(query=query or {}), RuntimeOptions())["body"]


def test_health(localcloud: Any) -> None:
    h = localcloud.health()
    assert h["status"] == "ok"
    assert h["services"]["eventbridge"] == "2020-04-01"
    assert h["endpoint"] == localcloud.endpoint


def test_calls_in_order_and_clear(eventbridge_client: Any, localcloud: Any) -> None:
    put(eventbridge_client, 1)
    put(eventbridge_client, 2)
    calls = localcloud.calls()
    assert [json.loads(c["params"]["EventList"])[0]["Id"] for c in calls] == ["e-1", "e-2"]
    assert all(set(c) >= {"action", "params", "status", "code", "requestId", "version"} for c in calls)
    assert calls[0]["seq"] < calls[1]["seq"]
    localcloud.clear_calls()
    assert localcloud.calls() == []


def test_reset_clears_everything(eventbridge_client: Any, localcloud: Any) -> None:
    localcloud.create_bus("extra")
    put(eventbridge_client)
    localcloud.faults.inject("Nothing", drop=True)
    localcloud.reset()
    assert localcloud.calls() == []
    assert localcloud.events() == []
    assert localcloud.faults.list() == []
    assert [b["name"] for b in localcloud.state()["eventbridge"]["buses"]] == ["default"]


def test_state_put_rejects_unknown_service(localcloud: Any) -> None:
    with pytest.raises(ControlError, match="400"):
        localcloud.load_state({"rds": {}})


@pytest.mark.parametrize("raw", [b"{not json", b'{"ecs": ' + b"1" * 5000 + b"}", b"[" * 5000 + b"]" * 5000])
def test_a_control_body_that_is_not_json_is_400(localcloud: Any, raw: bytes) -> None:
    url = urlsplit(localcloud.endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request("PUT", "/_emulator/state", body=raw, headers={"Content-Type": "application/json"})
        reply = conn.getresponse()
        answer = json.loads(reply.read())
    finally:
        conn.close()
    assert reply.status == 400 and "body is not JSON" in json.dumps(answer)
    assert localcloud.request("GET", "health") is not None  # still serving


def test_unknown_control_endpoint(localcloud: Any) -> None:
    with pytest.raises(ControlError, match="404"):
        localcloud.request("GET", "nope")


def test_faults_endpoint_returns_all_rules(localcloud: Any) -> None:
    rules = localcloud.faults.inject("A", drop=True)
    rules = localcloud.faults.inject("B", latency_ms=5, times=3)
    assert [(r["action"], r.get("remaining")) for r in rules] == [("A", None), ("B", 3)]
    localcloud.faults.clear()
    assert localcloud.faults.list() == []


def test_unknown_action_is_an_error(eventbridge_client: Any, localcloud: Any) -> None:
    with pytest.raises(ClientException) as info:
        rpc(eventbridge_client, "NoSuchAction", "2020-04-01")
    assert info.value.status_code == 404
    assert localcloud.calls()[0]["code"] == info.value.code


def test_unknown_version_is_an_error(eventbridge_client: Any, localcloud: Any) -> None:
    with pytest.raises(ClientException) as info:
        rpc(eventbridge_client, "PutEvents", "1999-01-01")
    assert (info.value.code, info.value.status_code) == ("InvalidVersion", 400)


def test_keep_alive_and_nodelay_make_serial_calls_fast(eventbridge_client: Any, localcloud: Any) -> None:
    """Serial calls reuse one connection, and the server sets TCP_NODELAY on it (Nagle + delayed ACK would
    cost ~40 ms per call): checked on the sockets themselves, not with a clock."""
    import socket

    def connections() -> dict[Any, socket.socket]:
        with localcloud.server._httpd._conns_lock:
            return {c.getpeername(): c for c in localcloud.server._httpd._conns}

    put(eventbridge_client, 0)
    before = connections()
    for i in range(5):
        put(eventbridge_client, i)
    after = connections()
    assert len(set(after) - set(before)) == 0  # the five calls reused an open connection
    assert after and all(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in after.values())


def test_error_body_shape_and_request_id_header(localcloud: Any) -> None:
    host = urlsplit(localcloud.endpoint).netloc
    headers = sign_headers("POST", "/", {}, {"host": host, "x-acs-action": "PutEvents", "x-acs-version": "2020-04-01"},
                           b"", DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
    conn = http.client.HTTPConnection(host, timeout=10)
    conn.request("POST", "/", headers=headers)
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    assert resp.status == 400
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert resp.getheader("x-acs-request-id") == body["RequestId"]
    assert resp.getheader("Content-Type").startswith("application/json")


class StubService:
    version = "2014-05-26"
    name = "ecs"

    def handle(self, action: str, params: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        if action == "Boom":
            raise RuntimeError("bug")
        if action == "Replay":
            return {"RequestId": "ORIGINAL-ID", "Ok": True}
        if action == "Refuse":
            raise ApiError(403, "Forbidden", "nope", recommend="ask")
        return {"Ok": True}

    def reset(self) -> None: ...

    def dump_state(self) -> dict[str, Any]:
        return {"stub": True}

    def load_state(self, state: dict[str, Any]) -> None: ...


@pytest.fixture(scope="module")
def stub_cloud() -> Iterator[LocalCloud]:
    with LocalCloud(services=[StubService()]) as cloud:
        yield cloud


def stub_client(cloud: LocalCloud) -> Any:
    from alibabacloud_ecs20140526.client import Client

    return Client(ControlClient(cloud.endpoint).sdk_config())


def test_service_request_id_kept(stub_cloud: LocalCloud) -> None:
    client = stub_client(stub_cloud)
    assert rpc(client, "Replay", "2014-05-26")["RequestId"] == "ORIGINAL-ID"
    body = rpc(client, "Other", "2014-05-26")
    assert body["Ok"] is True and len(body["RequestId"]) == 36


def test_service_bug_is_internal_error(stub_cloud: LocalCloud, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ServerException) as info:
        rpc(stub_client(stub_cloud), "Boom", "2014-05-26")
    assert (info.value.code, info.value.status_code) == ("InternalError", 500)
    assert "RuntimeError: bug" in capsys.readouterr().err


def test_api_error_status_code_and_recommend(stub_cloud: LocalCloud) -> None:
    with pytest.raises(ClientException) as info:
        rpc(stub_client(stub_cloud), "Refuse", "2014-05-26")
    assert (info.value.code, info.value.status_code) == ("Forbidden", 403)
    assert info.value.data["Recommend"] == "ask"
    assert info.value.data["HostId"] == "ecs.aliyuncs.com"


def test_stop_closes_idle_keep_alive_connections() -> None:
    cloud = LocalCloud().start()
    control = ControlClient(cloud.endpoint)
    control.health()  # leaves a keep-alive connection open
    t0 = time.perf_counter()
    cloud.stop()
    assert time.perf_counter() - t0 < 2
    with pytest.raises(OSError):
        ControlClient(cloud.endpoint).health()


def _raw(endpoint: str, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, Any]:
    url = urlsplit(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        if body and "Content-Length" not in headers:
            headers = {**headers, "Content-Length": str(len(body))}
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders(body or None)
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read() or b"null")
    finally:
        conn.close()


@pytest.mark.parametrize("length, status", [("abc", 400), ("-5", 400), (str(10 ** 12), 413)])
def test_a_content_length_that_cannot_be_read_is_answered_before_any_body(localcloud: Any, length: str,
                                                                        status: int) -> None:
    # Nothing is read into memory for it: the answer comes at once, though no body follows.
    answer, body = _raw(localcloud.endpoint, "POST", "/_emulator/clock",
                        {"Host": "127.0.0.1", "Content-Type": "application/json", "Content-Length": length})
    assert answer == status, body
    assert ("Content-Length" if status == 400 else "at most") in body["error"]


def test_a_long_poll_timeout_must_be_finite(localcloud: Any) -> None:
    answer, body = _raw(localcloud.endpoint, "GET", "/_emulator/calls?count=99999&timeout=nan",
                        {"Host": "127.0.0.1"})
    assert answer == 400 and "finite" in body["error"]


@pytest.mark.parametrize("state", [{"ecs": [1]}, {"ecs": {"accounts": 5}}])
def test_a_state_of_the_wrong_shape_is_refused_and_changes_nothing(localcloud: Any, state: Any) -> None:
    from pathlib import Path

    sample = json.loads((Path(__file__).parents[2] / "events" / "apply" / "state.json").read_text())
    before = localcloud.load_state(sample)  # the state a user had loaded, to be kept
    answer, body = _raw(localcloud.endpoint, "PUT", "/_emulator/state",
                        {"Host": "127.0.0.1", "Content-Type": "application/json"}, json.dumps(state).encode())
    assert answer == 400 and "as it was" in body["error"]
    assert localcloud.state() == before

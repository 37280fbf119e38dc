"""HTTP and timer triggers of the test application: real HTTP in, the FC 3.0 event to the handler and its
response out; ``@every 1s`` fires; ``sgrule local trigger`` fires once."""
from __future__ import annotations

import base64
import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from localcloud.cli import main


def _request(url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
             ) -> http.client.HTTPResponse:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest(method, path)
    for k, v in (headers or {}).items():
        conn.putheader(k, v)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    return conn.getresponse()


def test_http_request_reaches_the_function_as_the_fc3_event_and_its_response_comes_back(fcapp: Any) -> None:
    url = fcapp.info["http"]["t-web"]
    assert url == fcapp.http_url("t-web")
    body = b'{"hello": "world"}'
    resp = _request(url, "POST", "/hooks/git%20hub?x=1&x=2&status=207", body,
                    {"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=ab", "X-Multi": "a"})
    assert resp.status == 207
    assert resp.getheader("X-Echo-Path") == "/hooks/git%20hub"
    event = json.loads(resp.read())
    assert event["version"] == "v1"
    assert event["rawPath"] == "/hooks/git%20hub"  # relative to the function's URL, still encoded
    assert event["requestContext"]["http"]["path"] == "/hooks/git hub"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["body"] == body.decode() and event["isBase64Encoded"] is False
    assert event["headers"]["X-Hub-Signature-256"] == "sha256=ab"
    assert event["queryParameters"] == {"x": "1,2", "status": "207"}
    assert event["requestContext"]["accountId"] == "1234567890123456"
    assert event["requestContext"]["timeEpoch"].isdigit()


def test_binary_bodies_travel_base64_both_ways(fcapp: Any) -> None:
    url = fcapp.http_url("t-web")
    raw = bytes(range(256))
    echo = json.loads(_request(url, "PUT", "/upload", raw, {"Content-Type": "application/octet-stream"}).read())
    assert echo["isBase64Encoded"] is True and base64.b64decode(echo["body"]) == raw
    resp = _request(url, "GET", "/file?binary=1")
    assert (resp.status, resp.getheader("X-Test"), resp.read()) == (201, "bin", b"\x00\x01\xfe\xff")
    plain = _request(url, "GET", "/?plain=1")
    assert (plain.status, plain.read()) == (200, b"just text")
    assert _request(url, "DELETE", "/").status == 405  # TriggerConfig.methods: GET, POST, PUT


def test_timer_every_second_fires_and_local_trigger_fires_once(fcapp: Any, fcapp_sink: Any,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    def ticks() -> list[dict[str, Any]]:
        return [i for i in fcapp.invocations(function="t-tick") if i["trigger"] == "timer:every-second"]

    fcapp.wait_for(lambda: len(ticks()) >= 2, timeout=10)
    event = json.loads(fcapp_sink.events(".tick")[0]["event"])
    assert event["triggerName"] == "every-second" and event["payload"] == '{"hello": "timer"}'
    assert event["triggerTime"].endswith("Z")
    assert main(["trigger", "t-tick", "--endpoint", fcapp.endpoint]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is True and result["result"] == "ok" and result["trigger"] == "every-second"
    fired = [e for e in fcapp_sink.events(".tick") if e["requestId"] == result["requestId"]]
    assert len(fired) == 1
    assert main(["trigger", "t-web", "--endpoint", fcapp.endpoint]) == 2  # no timer on that function
    assert "no timer trigger" in capsys.readouterr().err

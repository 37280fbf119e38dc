"""Function Compute 2023-03-30 through the official ``alibabacloud_fc20230330`` client over HTTP: sync and
async invocations, FC's error shapes, instances (state, initializer, timeout kill), GetFunction/ListFunctions."""
from __future__ import annotations

import base64
import json
from typing import Any

import pytest


def _invoke(fcapp: Any, name: str, body: bytes, **headers: Any) -> Any:
    from alibabacloud_fc20230330 import models
    from darabonba.runtime import RuntimeOptions

    return fcapp.fc_client().invoke_function_with_options(
        name, models.InvokeFunctionRequest(body=body), models.InvokeFunctionHeaders(**headers), RuntimeOptions())


def test_sync_invoke_returns_the_handler_bytes_with_module_state_and_one_initializer(fcapp: Any) -> None:
    first = _invoke(fcapp, "t-echo", b"\x00raw bytes\xff", x_fc_invocation_type="Sync", x_fc_log_type="Tail")
    assert first.status_code == 200
    doc = json.loads(first.body.read())
    assert doc["eventType"] == "bytes" and doc["event"] == "\x00raw bytes\ufffd"
    assert doc["function"] == "t-echo" and doc["memory"] == 256 and doc["timeout"] == 10
    assert doc["requestId"] == first.headers["x-fc-request-id"]
    env = doc["env"]
    assert env["TEST_GREETING"] == "t-hello" and env["TEST_QUEUE"] == "t-in"  # template references resolved
    assert env["TEST_BOOM_ARN"] == "acs:fc:cn-hangzhou:1234567890123456:functions/t-boom"
    # localcloud's own endpoint wins over the template's, for the variable the template's Metadata names
    assert env["TEST_ECS_ENDPOINT"] == fcapp.endpoint
    assert env["ALIBABA_CLOUD_ACCESS_KEY_ID"] == fcapp.access_key_id
    assert env["FC_FUNCTION_NAME"] == "t-echo" and env["FC_REGION"] == "cn-hangzhou"
    tail = base64.b64decode(first.headers["x-fc-log-result"]).decode()
    assert f"FC Invoke Start RequestId: {doc['requestId']}" in tail and "echo handler call" in tail
    # The same instance keeps its module: the call counter grows, the initializer ran once.
    again = [json.loads(_invoke(fcapp, "t-echo", b"x").body.read()) for _ in range(3)]
    same = [d for d in again if d["pid"] == doc["pid"]]
    assert same, "the warm instance was not reused"
    assert all(d["initialized"] == 1 for d in [doc, *again])
    assert [d["calls"] for d in same] == sorted(d["calls"] for d in same) and max(d["calls"] for d in same) > 1


def test_a_handler_exception_is_fcs_unhandled_invocation_error(fcapp: Any) -> None:
    resp = _invoke(fcapp, "t-boom", b"payload", x_fc_log_type="Tail")
    assert resp.status_code == 200
    assert resp.headers["x-fc-error-type"] == "UnhandledInvocationError"
    err = json.loads(resp.body.read())
    assert err["errorType"] == "BoomError" and err["errorMessage"] == "boom: payload"
    frame = err["stackTrace"][-1]
    assert frame[0].endswith('boom/index.py"') and frame[2] == "in handler"
    assert "worker.py" not in json.dumps(err["stackTrace"])  # only the function's own frames
    assert "BoomError: boom: payload" in base64.b64decode(resp.headers["x-fc-log-result"]).decode()


def test_unknown_function_is_404_function_not_found_and_listing_works(fcapp: Any) -> None:
    from alibabacloud_fc20230330 import models
    from alibabacloud_tea_openapi.exceptions import ClientException

    with pytest.raises(ClientException) as info:
        _invoke(fcapp, "no-such-function", b"")
    assert (info.value.status_code, info.value.code) == (404, "FunctionNotFound")
    client = fcapp.fc_client()
    fn = client.get_function("t-echo", models.GetFunctionRequest()).body
    assert (fn.function_name, fn.handler, fn.timeout, fn.memory_size) == ("t-echo", "index.handler", 10, 256)
    assert fn.instance_lifecycle_config.initializer.handler == "index.initialize"
    page = client.list_functions(models.ListFunctionsRequest(prefix="t-", limit=4)).body
    rest = client.list_functions(models.ListFunctionsRequest(prefix="t-", next_token=page.next_token)).body
    names = [f.function_name for f in page.functions + rest.functions]
    assert names == ["t-boom", "t-echo", "t-mkbus", "t-sink", "t-sleepy", "t-tick", "t-web"]
    with pytest.raises(ClientException) as bad:
        client.get_function("nope", models.GetFunctionRequest())
    assert bad.value.code == "FunctionNotFound"


def test_a_wrong_signature_is_refused(fcapp: Any) -> None:
    from alibabacloud_fc20230330.client import Client
    from alibabacloud_tea_openapi.exceptions import ClientException

    client = Client(fcapp.sdk_config(access_key_secret="wrong"))
    from alibabacloud_fc20230330 import models

    with pytest.raises(ClientException) as info:
        client.get_function("t-echo", models.GetFunctionRequest())
    assert info.value.code == "SignatureDoesNotMatch"


def test_timeout_kills_the_instance_and_the_next_invocation_gets_a_fresh_one(fcapp: Any) -> None:
    import os

    warm = _invoke(fcapp, "t-sleepy", b"0")
    warm_doc = json.loads(warm.body.read())
    slow = _invoke(fcapp, "t-sleepy", b"5")  # the function's timeout is 1 s
    assert slow.headers["x-fc-error-type"] == "UnhandledInvocationError"
    assert json.loads(slow.body.read())["errorMessage"] == "Function timed out after 1 seconds"
    by_id = {i["requestId"]: i for i in fcapp.invocations(function="t-sleepy")}
    killed = by_id[slow.headers["x-fc-request-id"]]["instanceId"]
    assert killed not in {i.id for i in fcapp.app.invoker.pool("t-sleepy")._all}  # gone from the pool
    assert killed == by_id[warm.headers["x-fc-request-id"]]["instanceId"]  # calls in a row share an instance
    with pytest.raises(ProcessLookupError):
        os.kill(warm_doc["pid"], 0)  # its process is gone
    fresh = _invoke(fcapp, "t-sleepy", b"0", x_fc_log_type="Tail")
    rid = fresh.headers["x-fc-request-id"]
    doc = json.loads(fresh.body.read())
    assert doc["initialized"] == 1
    fresh_inv = {i["requestId"]: i for i in fcapp.invocations(function="t-sleepy")}[rid]
    assert fresh_inv["instanceId"] != killed
    assert fresh_inv["coldStart"]  # a new instance, which ran the initializer first
    assert f"FC Initialize Start RequestId: {rid}" in base64.b64decode(fresh.headers["x-fc-log-result"]).decode()


def test_async_task_id_runs_once_and_a_second_submission_is_409(fcapp: Any, fcapp_sink: Any) -> None:
    from alibabacloud_tea_openapi.exceptions import ClientException

    first = _invoke(fcapp, "t-sink", b"once", x_fc_invocation_type="Async", x_fc_async_task_id="task-once-1")
    assert first.status_code == 202
    with pytest.raises(ClientException) as info:
        _invoke(fcapp, "t-sink", b"once", x_fc_invocation_type="Async", x_fc_async_task_id="task-once-1")
    assert info.value.status_code == 409 and info.value.code == "AsyncTaskAlreadyExists"
    rid = first.headers["x-fc-request-id"]
    fcapp.wait_for(lambda: [e for e in fcapp_sink.events() if e["requestId"] == rid])
    fcapp.wait_idle()
    assert [e["event"] for e in fcapp_sink.events() if e["requestId"] == rid] == ["once"]
    with pytest.raises(ClientException) as bad:
        _invoke(fcapp, "t-sink", b"", x_fc_invocation_type="Async", x_fc_async_task_id="9-starts-with-digit")
    assert bad.value.code == "InvalidArgument"


def test_async_failure_is_retried_then_sent_to_on_failure_with_fcs_payload(fcapp: Any) -> None:
    resp = _invoke(fcapp, "t-boom", b"async please", x_fc_invocation_type="Async")
    rid = resp.headers["x-fc-request-id"]
    fcapp.wait_for(lambda: fcapp.queue_messages("t-async-failures"), timeout=20)
    runs = [i for i in fcapp.invocations(function="t-boom") if i["requestId"] == rid]
    assert [i["attempt"] for i in runs] == [1, 2, 3]  # MaxAsyncRetryAttempts: 2
    assert all(i["errorType"] == "UnhandledInvocationError" and i["trigger"] == "async" for i in runs)
    [message] = [m for m in fcapp.queue_messages("t-async-failures") if rid in m["body"]]
    payload = json.loads(message["body"])
    assert set(payload) == {"timestamp", "requestContext", "requestPayload", "responseContext", "responsePayload"}
    assert payload["requestContext"] == {"requestId": rid, "condition": "UnhandledInvocationError",
                                         "functionArn": "acs:fc:cn-hangzhou:1234567890123456:functions/t-boom",
                                         "approximateInvokeCount": 3}
    assert payload["requestPayload"] == "async please"
    assert payload["responseContext"] == {"statusCode": 200, "functionError": "UnhandledInvocationError"}
    assert json.loads(payload["responsePayload"])["errorType"] == "BoomError"


def test_async_delay_holds_the_invocation_back(fcapp: Any, fcapp_sink: Any) -> None:
    import time

    sent = time.time()
    resp = _invoke(fcapp, "t-sink", b"later", x_fc_invocation_type="Async",
                   common_headers={"x-fc-async-delay": "1"})
    rid = resp.headers["x-fc-request-id"]
    [run] = fcapp.wait_for(lambda: [i for i in fcapp.invocations(function="t-sink") if i["requestId"] == rid])
    assert run["start"] - sent >= 0.9
    from alibabacloud_tea_openapi.exceptions import ClientException

    with pytest.raises(ClientException) as info:
        _invoke(fcapp, "t-sink", b"", x_fc_invocation_type="Async", common_headers={"x-fc-async-delay": "3601"})
    assert info.value.code == "InvalidArgument"

"""The outcome bus, from template.yml as ROS would create it: the stack's FunctionInvoker runs the outcome-bus
function (functions/outcome_bus) before anything else, which creates the bus with EventBridge CreateEventBus
through the official SDK; running it again (a stack update) finds the bus and changes nothing."""
from __future__ import annotations

import json
from typing import Any

from alibabacloud_fc20230330 import models as fc

FUNCTION = "sgrule-outcome-bus"


def test_the_stack_made_the_outcome_bus_and_a_second_run_keeps_it(localcloud_app: Any) -> None:
    [first] = [i for i in localcloud_app.invocations(function=FUNCTION)]
    assert first["trigger"] == "ros:OutcomeBus" and first["errorType"] is None
    assert "sgrule-outcomes" in localcloud_app.app.info()["buses"]
    event = json.dumps({"eventBusName": "sgrule-outcomes", "description": "again"}).encode()
    body = localcloud_app.fc_client().invoke_function(FUNCTION, fc.InvokeFunctionRequest(body=event)).body.read()
    assert json.loads(body) == {"eventBusName": "sgrule-outcomes", "created": False}


def test_a_bad_event_is_an_error_that_fails_the_stack(localcloud_app: Any) -> None:
    response = localcloud_app.fc_client().invoke_function_with_options(
        FUNCTION, fc.InvokeFunctionRequest(body=b'{"eventBusName": ""}'), fc.InvokeFunctionHeaders(), _runtime())
    assert response.headers.get("x-fc-error-type") == "UnhandledInvocationError"
    assert "eventBusName must be a non-empty string" in response.body.read().decode()


def _runtime() -> Any:
    from darabonba.runtime import RuntimeOptions

    return RuntimeOptions()

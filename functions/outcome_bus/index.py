"""FC 3.0 entry point of the outcome-bus function: ROS invokes it once while it creates (or updates) the stack
(``ALIYUN::FC3::FunctionInvoker`` in template.yml), to create the EventBridge bus the outcome events go to --
ROS has no resource type for a custom bus. Nothing else invokes it.

The event is ``{"eventBusName": "<name>", "description": "<text>"}``; the bus is created in the function's
region with EventBridge ``CreateEventBus``, and a bus of that name that exists already is left as it is (a
stack update invokes it again). The answer is ``{"eventBusName", "created"}``; a refusal raises, so ROS fails
the stack with the error (the invoker checks it).
"""
from __future__ import annotations

import json

from sgrule.clients.eventbridge import create_event_bus
from sgrule.runtime.config import CommonSettings


def handler(event, context):
    try:
        request = json.loads(event)
        name = request["eventBusName"]
    except (ValueError, TypeError, KeyError):
        raise ValueError('the event must be JSON {"eventBusName": "<name>", "description": "<text>"}') from None
    if not isinstance(name, str) or not name:
        raise ValueError("eventBusName must be a non-empty string")
    created = create_event_bus(CommonSettings(), name, str(request.get("description") or ""))
    return json.dumps({"eventBusName": name, "created": created})

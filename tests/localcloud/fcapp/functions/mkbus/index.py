"""Test-only function: creates the EventBridge bus named in its event with the official SDK (CreateEventBus),
as a stack's FunctionInvoker would; an existing bus is fine."""
import json
import os

from alibabacloud_eventbridge20200401.client import Client
from alibabacloud_eventbridge20200401.models import CreateEventBusRequest
from alibabacloud_tea_openapi.utils_models import Config


def handler(event, context):
    name = json.loads(event)["name"]
    endpoint = os.environ["TEST_EVENTBRIDGE_ENDPOINT"]
    client = Client(Config(access_key_id=os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                           access_key_secret=os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
                           protocol="http", endpoint=endpoint.removeprefix("http://"), region_id="cn-hangzhou"))
    try:
        client.create_event_bus(CreateEventBusRequest(event_bus_name=name))
    except Exception as exc:
        if getattr(exc, "code", None) != "EventBusAlreadyExist":
            raise
        return json.dumps({"created": False})
    return json.dumps({"created": True})

"""EventBridge PutEvents through the official alibabacloud_eventbridge20200401 client."""
from __future__ import annotations

import json
from typing import Any

import pytest
from alibabacloud_eventbridge20200401 import models as eb
from alibabacloud_tea_openapi.exceptions import ClientException

# The limits as the EventBridge "Limits" page states them (not the emulator's constants: the test must be able
# to catch the emulator getting them wrong).
MAX_EVENTS_PER_REQUEST = 16
MAX_EVENT_BYTES = 256 * 1024
MAX_SOURCE_LEN = 128
MAX_TYPE_LEN = 64
MAX_SUBJECT_LEN = 512


def event(i: int | str = 1, **overrides: Any) -> eb.PutEventsRequestEventList:
    fields: dict[str, Any] = dict(id=f"evt-{i}", source="sgrule.test", type="sgrule:Rule:Changed", spec_version="1.0",
                                  data_content_type="application/json", subject=f"sg-{i}",
                                  time="2026-11-27T10:00:00Z", data={"n": i, "note": "a b+c&d"})
    fields.update(overrides)
    return eb.PutEventsRequestEventList(**fields)


def put(client: Any, events: list[eb.PutEventsRequestEventList], bus: str = "default") -> Any:
    return client.put_events(eb.PutEventsRequest(event_bus_name=bus, event_list=events)).body


def test_put_events_happy_path(eventbridge_client: Any, localcloud: Any) -> None:
    body = put(eventbridge_client, [event(1), event(2)])
    assert body.success is True and body.code == "Success"
    assert body.request_id
    assert body.data.failed_entry_count == 0
    assert [e.event_id for e in body.data.entry_list] == ["evt-1", "evt-2"]
    assert all(e.trace_id and e.error_code is None for e in body.data.entry_list)

    stored = localcloud.events()
    assert [(s["bus"], s["eventId"]) for s in stored] == [("default", "evt-1"), ("default", "evt-2")]
    assert stored[0]["event"]["Data"] == {"n": 1, "note": "a b+c&d"}
    assert stored[0]["event"]["Source"] == "sgrule.test"
    assert stored[0]["requestId"] == body.request_id
    assert stored[0]["receivedAt"].endswith("Z")


def test_events_kept_in_order_and_filtered_by_bus(eventbridge_client: Any, localcloud: Any) -> None:
    localcloud.create_bus("ops")
    put(eventbridge_client, [event("a")])
    put(eventbridge_client, [event("b")], bus="ops")
    put(eventbridge_client, [event("c")])
    assert [e["eventId"] for e in localcloud.events()] == ["evt-a", "evt-b", "evt-c"]
    assert [e["eventId"] for e in localcloud.events(bus="ops")] == ["evt-b"]
    localcloud.clear_events()
    assert localcloud.events() == []


def test_unknown_bus(eventbridge_client: Any, localcloud: Any) -> None:
    with pytest.raises(ClientException) as info:
        put(eventbridge_client, [event()], bus="no-such-bus")
    assert (info.value.code, info.value.status_code) == ("EventBusNotExist", 409)
    assert localcloud.events() == []


def test_missing_bus_name(eventbridge_client: Any) -> None:
    with pytest.raises(ClientException) as info:
        eventbridge_client.put_events(eb.PutEventsRequest(event_list=[event()]))
    assert info.value.code == "MissingEventBusName"


def test_max_events_per_request(eventbridge_client: Any, localcloud: Any) -> None:
    body = put(eventbridge_client, [event(i) for i in range(MAX_EVENTS_PER_REQUEST)])
    assert body.data.failed_entry_count == 0
    with pytest.raises(ClientException) as info:
        put(eventbridge_client, [event(i) for i in range(MAX_EVENTS_PER_REQUEST + 1)])
    assert info.value.code == "PutEventsRequestTooManyEvents"
    assert len(localcloud.events()) == MAX_EVENTS_PER_REQUEST  # the rejected batch stored nothing


def test_empty_event_list(eventbridge_client: Any) -> None:
    with pytest.raises(ClientException) as info:
        put(eventbridge_client, [])
    assert info.value.code == "PutEventsRequestEmpty"


@pytest.mark.parametrize(
    ("overrides", "ok"),
    [
        ({"source": "s" * MAX_SOURCE_LEN}, True),
        ({"source": "s" * (MAX_SOURCE_LEN + 1)}, False),
        ({"type": "t" * MAX_TYPE_LEN}, True),
        ({"type": "t" * (MAX_TYPE_LEN + 1)}, False),
        ({"subject": "x" * MAX_SUBJECT_LEN}, True),
        ({"subject": "x" * (MAX_SUBJECT_LEN + 1)}, False),
        ({"id": "a" * 128}, True),
        ({"id": "a" * 129}, False),
        ({"id": "-starts-with-hyphen"}, False),
        ({"id": "has_underscore"}, False),
        ({"id": None}, False),
        ({"source": None}, False),
        ({"type": None}, False),
    ],
)
def test_per_event_validation(eventbridge_client: Any, localcloud: Any, overrides: dict[str, Any], ok: bool) -> None:
    body = put(eventbridge_client, [event("good"), event("checked", **overrides)])
    assert body.success is True
    assert body.data.failed_entry_count == (0 if ok else 1)
    good, checked = body.data.entry_list
    assert good.error_code is None
    assert (checked.error_code is None) == ok
    if not ok:
        assert checked.error_code in {"EventAttributeInvalid", "EventMissingAttribute"}
        assert checked.error_message
    assert len(localcloud.events()) == (2 if ok else 1)


def test_event_size_limit(eventbridge_client: Any) -> None:
    # The size counts the whole serialized entry; leave room for the other attributes.
    fits = put(eventbridge_client, [event(1, data="x" * (MAX_EVENT_BYTES - 1024))])
    assert fits.data.failed_entry_count == 0
    too_big = put(eventbridge_client, [event(2, data="x" * MAX_EVENT_BYTES)])
    assert too_big.data.failed_entry_count == 1
    assert too_big.data.entry_list[0].error_code == "EventSizeExceedLimit"


def test_request_size_limit(eventbridge_client: Any) -> None:
    # 5 events of ~250 KB each: every event is within its limit, the batch is over 1 MB.
    with pytest.raises(ClientException) as info:
        put(eventbridge_client, [event(i, data="x" * (250 * 1024)) for i in range(5)])
    assert info.value.code == "PutEventsRequestTooLarge"


@pytest.mark.parametrize("event_list", ["[{not json", '[{"id": ' + "1" * 5000 + "}]", "[" * 5000 + "]" * 5000],
                         ids=["syntax", "huge-integer", "deep-nesting"])
def test_event_list_not_json(localcloud: Any, event_list: str) -> None:
    from alibabacloud_eventbridge20200401.client import Client
    from alibabacloud_tea_openapi.utils_models import OpenApiRequest, Params
    from darabonba.runtime import RuntimeOptions

    client = Client(localcloud.sdk_config())
    params = Params(action="PutEvents", version="2020-04-01", protocol="HTTPS", pathname="/", method="POST",
                    auth_type="AK", style="RPC", req_body_type="formData", body_type="json")
    with pytest.raises(ClientException) as info:
        client.call_api(params, OpenApiRequest(body={"EventBusName": "default", "EventList": event_list}),
                        RuntimeOptions())
    assert info.value.code == "JsonAttributeInvalid"


def test_state_round_trip_keeps_buses_and_events(eventbridge_client: Any, localcloud: Any) -> None:
    localcloud.create_bus("audit")
    put(eventbridge_client, [event(1)], bus="audit")
    state = localcloud.state()
    assert {b["name"] for b in state["eventbridge"]["buses"]} == {"default", "audit"}
    localcloud.reset()
    assert localcloud.events() == []
    with pytest.raises(ClientException):
        put(eventbridge_client, [event(2)], bus="audit")
    localcloud.load_state({"eventbridge": state["eventbridge"]})
    assert [e["eventId"] for e in localcloud.events(bus="audit")] == ["evt-1"]
    assert put(eventbridge_client, [event(3)], bus="audit").data.failed_entry_count == 0


def test_event_list_as_sent_by_sdk_is_json_in_form_body(eventbridge_client: Any, localcloud: Any) -> None:
    put(eventbridge_client, [event(1)])
    [call] = localcloud.calls(action="PutEvents")
    assert call["params"]["EventBusName"] == "default"
    assert json.loads(call["params"]["EventList"])[0]["Id"] == "evt-1"


def test_create_event_bus_makes_a_bus_once(eventbridge_client: Any, localcloud: Any) -> None:
    body = eventbridge_client.create_event_bus(eb.CreateEventBusRequest(event_bus_name="made-by-sdk",
                                                                        description="d")).body
    assert body.success is True and body.data.event_bus_arn.endswith(":eventbus/made-by-sdk")
    assert put(eventbridge_client, [event(1)], bus="made-by-sdk").data.failed_entry_count == 0
    # A name in use is refused, not merged: the caller sees it existed (and decides that is fine).
    with pytest.raises(ClientException) as info:
        eventbridge_client.create_event_bus(eb.CreateEventBusRequest(event_bus_name="made-by-sdk"))
    assert (info.value.code, info.value.status_code) == ("EventBusAlreadyExist", 409)
    for bad in ("-leading-dash", "has space", "x" * 128):
        with pytest.raises(ClientException) as info:
            eventbridge_client.create_event_bus(eb.CreateEventBusRequest(event_bus_name=bad))
        assert info.value.code == "EventBusNameInvalid"
    with pytest.raises(ClientException) as info:
        eventbridge_client.create_event_bus(eb.CreateEventBusRequest())
    assert info.value.code == "MissingEventBusName"

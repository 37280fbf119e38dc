"""Every error of an event, each with its documented code (``event_errors``), and the "did you mean" hints for
misspelt CloudEvents attributes and misspelt MNS/EventBridge wrapper attributes."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sgrule.contract.envelope import unwrap
from sgrule.contract.errors import SgruleError
from sgrule.contract.event import MAX_ERRORS, event_errors, parse_event

GOOD = {"specversion": "1.0", "id": "c-1", "source": "tests", "type": "sgrule.egress.modify",
        "time": "2026-11-27T10:00:00Z",
        "data": {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-aaa", "SecurityGroupRuleId": "sgr-111"}}


def event(data: dict[str, Any] | None = None, **attrs: Any) -> dict[str, Any]:
    ev = copy.deepcopy(GOOD)
    ev["data"].update(data or {})
    ev.update(attrs)
    return ev


def pairs(raw: Any) -> list[tuple[str, str | None]]:
    return [(e.code, e.field) for e in event_errors(raw)]


def test_a_valid_event_has_no_errors() -> None:
    assert event_errors(GOOD) == []


def test_independent_field_mistakes_are_each_reported_with_their_own_code() -> None:
    # Codes as the README's validation table documents them, one per mistake.
    ev = event({"PortRange": "0/80", "Policy": "maybe", "Priority": 101, "Descripton": "typo",
                "NicType": "wifi"})
    assert pairs(ev) == [
        ("InvalidEvent.UnknownField", "data.Descripton"),
        ("InvalidParam.PortRange", "data.PortRange"),
        ("InvalidPolicy.Malformed", "data.Policy"),
        ("InvalidPriority.ValueNotSupported", "data.Priority"),
        ("InvalidNicType.ValueNotSupported", "data.NicType"),
    ]
    with pytest.raises(SgruleError) as first:
        parse_event(ev)
    assert (first.value.code, first.value.field) == pairs(ev)[0]  # the outcome reports the first of them


def test_every_broken_combination_is_reported() -> None:
    ev = event({"IpProtocol": "icmp", "PortRange": "80/80", "DestCidrIp": "10.0.0.0/8",
                "Ipv6DestCidrIp": "2001:db8::/32"})
    assert pairs(ev) == [
        ("InvalidParam.DestIp", "data.Ipv6DestCidrIp"),
        ("InvalidParam.Ipv4ProtocolConflictWithIpv6Address", "data.IpProtocol"),
        ("InvalidParam.ProtocolAndPortRangeMismatch", "data.PortRange"),
    ]


def test_combinations_are_judged_only_on_valid_fields() -> None:
    # A bad DestCidrIp is one mistake, not also "no destination".
    ev = event({"IpProtocol": "TCP", "PortRange": "443/443", "DestCidrIp": "10.0.0.300", "Description": "x"})
    del ev["data"]["SecurityGroupRuleId"]
    assert pairs(ev) == [("InvalidParam.DestCidrIp", "data.DestCidrIp")]


def test_envelope_and_data_mistakes_together() -> None:
    ev = event({"SecurityGroupId": None, "Policy": "x"}, Time="2026-11-27T10:00:00Z", source="", type="other")
    del ev["time"]
    assert pairs(ev) == [
        ("InvalidEvent.UnknownField", "Time"),  # says "did you mean 'time'", so no second error for time
        ("InvalidEvent.InvalidAttribute", "source"),
        ("InvalidEvent.InvalidAttribute", "type"),
        ("MissingParameter", "data.SecurityGroupId"),
        ("InvalidPolicy.Malformed", "data.Policy"),
    ]
    assert "did you mean 'time'" in event_errors(ev)[0].message


def test_a_misspelt_required_attribute_is_named() -> None:
    # Lower-case misspellings are valid extension names, so only the missing attribute shows them.
    ev = event(specversoin="1.0", tiem="2026-11-27T10:00:00Z")
    del ev["specversion"], ev["time"]
    errors = event_errors(ev)
    assert [(e.code, e.field) for e in errors] == [("InvalidEvent.MissingAttribute", "specversion"),
                                                  ("InvalidEvent.MissingAttribute", "time")]
    assert "'specversoin'" in errors[0].message and "'tiem'" in errors[1].message
    with pytest.raises(SgruleError, match="misspelling"):
        parse_event(ev)  # the outcome says it too


def test_errors_are_capped_for_a_hostile_event() -> None:
    ev = event({f"Bogus{i}": i for i in range(5 * MAX_ERRORS)})
    errors = event_errors(ev)
    assert len(errors) == MAX_ERRORS and {e.code for e in errors} == {"InvalidEvent.UnknownField"}


@pytest.mark.parametrize("raw", [None, 1, "x", [GOOD], {"data": []}])
def test_not_an_event(raw: Any) -> None:
    errors = event_errors(raw)
    assert errors and errors[0].code.startswith(("InvalidEvent.", "MissingParameter"))


def _wrapper(data: dict[str, Any]) -> dict[str, Any]:
    return {"specversion": "1.0", "id": "w-1", "source": "acs:mns", "type": "mns:Queue:SendMessage",
            "time": "2026-11-27T10:06:00.100Z", "data": data}


@pytest.mark.parametrize("key", ["MessageBody", "messagebody", "message_body", "msgBody", "messageBdy"])
def test_a_misspelt_message_body_gets_a_did_you_mean(key: str) -> None:
    body = json.dumps(GOOD)
    [item] = unwrap(json.dumps([_wrapper({"messageId": "m-1", key: body})]))
    assert item.raw is None and item.message_id == "m-1"
    assert item.error is not None and item.error.code == "InvalidEvent.UnknownField"
    assert item.error.field == f"data.{key}" and "did you mean 'data.messageBody'" in item.error.message


def test_a_message_body_outside_data_gets_a_did_you_mean() -> None:
    [item] = unwrap(json.dumps([{"messageId": "m-2", "messageBody": json.dumps(GOOD)}]))
    assert item.error is not None and item.error.field == "messageBody" and item.message_id == "m-2"


def test_sibling_wrapper_attributes_are_not_mistaken_for_the_body() -> None:
    [item] = unwrap(json.dumps([_wrapper({"messageId": "m-3", "requestId": "r", "messageBody": json.dumps(GOOD)})]))
    assert item.error is None and item.raw == GOOD
    [bare] = unwrap(json.dumps(GOOD))
    assert bare.error is None and bare.raw == GOOD

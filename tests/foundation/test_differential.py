"""Differential: sgrule's models and localcloud's ECS are two independent readings of the
ModifySecurityGroupEgressRule documentation. Every case of the validation table (test_event_rules) and the
cases below goes through both -- ``parse_event`` on one side, the official SDK over HTTP against localcloud on
the other -- and they must answer with the same code and HTTP status (or both accept). Where they may not, the
case is in DOCUMENTED with the pair of answers and the reason, taken from the documentation; a change of
either answer fails the test, so the reason is re-read whenever a side moves.
"""
from __future__ import annotations

from typing import Any

import pytest
from alibabacloud_ecs20140526 import models
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from test_event_rules import BY_ID, INVALID_DATA, MATCH, VALID, event

from sgrule.contract.errors import SgruleError
from sgrule.contract.event import parse_event

ACCOUNT = "1234567890123456"  # localcloud's default key
OTHER_ACCOUNT = "1234567890"  # owns sg-bbb too: DestGroupOwnerId in the table's cross-account case

# Cases added to the table: each with the code the documentation gives (None: a valid request).
EXTRA: list[tuple[str, dict[str, Any], str | None]] = [
    # Integers as the wire spells them: ASCII digits, an optional minus; nothing Python's int() also takes.
    ("priority padded", {**BY_ID, "Priority": " 5"}, "InvalidPriority.Malformed"),
    ("priority plus sign", {**BY_ID, "Priority": "+5"}, "InvalidPriority.Malformed"),
    ("priority underscore", {**BY_ID, "Priority": "1_0"}, "InvalidPriority.Malformed"),
    ("priority arabic digit", {**BY_ID, "Priority": "\u0665"}, "InvalidPriority.Malformed"),
    ("priority negative", {**BY_ID, "Priority": "-5"}, "InvalidPriority.ValueNotSupported"),
    ("priority leading zeros", {**BY_ID, "Priority": "007"}, None),
    # Values are taken as sent: " tcp" is not one of the listed protocols.
    ("protocol padded", {**BY_ID, "IpProtocol": " tcp"}, "InvalidIpProtocol.ValueNotSupported"),
    ("port padded", {**BY_ID, "PortRange": "80/80 "}, "InvalidParam.PortRange"),
    ("port empty", {**BY_ID, "PortRange": ""}, "InvalidParam.PortRange"),
    ("source port fullwidth", {**BY_ID, "SourcePortRange": "\uff11/\uff12"}, "InvalidSourcePortRange.Malformed"),
    ("icmp source ports", {**BY_ID, "IpProtocol": "ICMP", "SourcePortRange": "1/2"},
     "InvalidParam.ProtocolAndPortRangeMismatch"),
    # "CIDR blocks and IPv4 addresses are supported": not a netmask, not padding, not an IPv6 zone id.
    ("dest netmask", {**BY_ID, "DestCidrIp": "10.0.0.0/255.0.0.0"}, "InvalidParam.DestCidrIp"),
    ("dest padded", {**BY_ID, "DestCidrIp": " 10.0.0.0/8"}, "InvalidParam.DestCidrIp"),
    ("ipv6 source zone id", {**BY_ID, "Ipv6SourceCidrIp": "fe80::1%1"}, "InvalidParam.Ipv6SourceCidrIp"),
    ("owner id negative", {**BY_ID, "DestGroupId": "sg-bbb", "DestGroupOwnerId": "-1"},
     "InvalidParam.InvalidModifyRuleRequest"),
    ("token DEL char", {**BY_ID, "ClientToken": "tok\x7f"}, "InvalidParam.InvalidModifyRuleRequest"),
    ("match dest group same", {**{k: v for k, v in MATCH.items() if k != "DestCidrIp"}, "DestGroupId": "sg-aaa",
                               "NicType": "intranet"}, "InvalidSecurityGroup.IsSame"),
    # "If both DestGroupId and DestCidrIp are specified, DestCidrIp takes precedence": the group is ignored.
    ("group ignored beside cidr", {**BY_ID, "DestCidrIp": "10.0.0.0/8", "DestGroupId": "sg-aaa"}, None),
    # InvalidParamter.Conflict names SourceCidrIp and DestCidrIp: the IPv4 pair only.
    ("ipv6 source equals dest", {**{k: v for k, v in MATCH.items() if k != "DestCidrIp"},
                                 "Ipv6DestCidrIp": "2001:db8::1", "Ipv6SourceCidrIp": "2001:db8::1/128"}, None),
]

# case id -> (sgrule's answer, localcloud's answer, the documented reason they differ)
DOCUMENTED: dict[str, tuple[Any, Any, str]] = {
    "owner account empty": (("InvalidParam.InvalidModifyRuleRequest", 400), None,
                            "'You cannot delete the value of a non-empty parameter': the rule has no owner account, "
                            "so the API has nothing to refuse; an event refuses any empty value before the rule is "
                            "known"),
    "description not text": (("InvalidSecurityGroupDiscription.Malformed", 400), None,
                             "Description is a string of 1 to 512 characters: the JSON number 5 is none, but the "
                             "wire carries every value as text ('5'), which the API cannot tell from a string"),
    "unknown key": (("InvalidEvent.UnknownField", 400), None,
                    "'Portrange' is no request parameter of this API: the SDK's request model drops it, so the "
                    "API never sees it (the code is sgrule's own, for its event)"),
    "null clears": (("InvalidParam.InvalidModifyRuleRequest", 400), None,
                    "'You cannot delete the value of a non-empty parameter'; a null cannot be sent (the SDK omits "
                    "it), so the API sees no Description at all and changes nothing"),
    "match no description": (("InvalidParam.InvalidModifyRuleRequest", 400), None,
                             "Description is optional and, without SecurityGroupRuleId, the only field this API "
                             "modifies: the API accepts a request that changes nothing; an event refuses it"),
    "match owner without group": (("InvalidParam.InvalidModifyRuleRequest", 400), None,
                                  "DestGroupOwnerId qualifies DestGroupId, and a CIDR takes precedence over a "
                                  "group: the API ignores an owner beside a CIDR; an event refuses a field that "
                                  "cannot take effect"),
    "match account without group": (("InvalidParam.InvalidModifyRuleRequest", 400), None,
                                    "DestGroupOwnerAccount qualifies DestGroupId, and a CIDR takes precedence over "
                                    "a group: the API ignores an account beside a CIDR; an event refuses a field "
                                    "that cannot take effect"),
}


def _rule(rule_id: str, **fields: Any) -> dict[str, Any]:
    return {"SecurityGroupRuleId": rule_id, "IpProtocol": "TCP", "PortRange": "443/443", "DestCidrIp": "10.0.0.0/8",
            "Policy": "accept", "Priority": 1, "NicType": "intranet", "Description": "", **fields}


# sgr-111 (the table's BY_ID rule) as each case needs it: a valid change must be possible on the live rule
# (the documentation forbids changing a rule's destination type or IP family).
LIVE_111 = {
    "by id ipv6": _rule("sgr-111", DestCidrIp="", Ipv6DestCidrIp="2001:db8:9::/48"),
    "by id group cross account": _rule("sgr-111", DestCidrIp="", DestGroupId="sg-ccc"),
}


def world(case_id: str) -> dict[str, Any]:
    """Group sg-aaa holds a rule for each by-match case of the table (MATCH and its variants)."""
    rules = [LIVE_111.get(case_id) or _rule("sgr-111"),
             _rule("sgr-222", DestCidrIp="", DestGroupId="sg-bbb"),
             _rule("sgr-333", DestCidrIp="", DestPrefixListId="pl-1"),
             _rule("sgr-444", Priority=5, SourceCidrIp="10.9.0.0/16"),
             _rule("sgr-555", DestCidrIp="", Ipv6DestCidrIp="2001:db8::1/128", Ipv6SourceCidrIp="2001:db8::1/128")]
    groups = {gid: {"SecurityGroupId": gid, "VpcId": "vpc-1", "rules": []} for gid in ("sg-bbb", "sg-ccc")}
    region = {"security_groups": {"sg-aaa": {"SecurityGroupId": "sg-aaa", "VpcId": "vpc-1", "rules": rules}, **groups},
              "prefix_lists": {"pl-1": {"PrefixListId": "pl-1", "PrefixListName": "pl", "AddressFamily": "IPv4",
                                        "MaxEntries": 10}}}
    other = {"security_groups": {"sg-bbb": {"SecurityGroupId": "sg-bbb", "VpcId": "vpc-1", "rules": []}}}
    return {"ecs": {"accounts": {ACCOUNT: {"cn-hangzhou": region}, OTHER_ACCOUNT: {"cn-hangzhou": other}}}}


def sgrule_answer(data: dict[str, Any]) -> Any:
    try:
        parse_event(event(data))
    except SgruleError as err:
        return err.code, err.http_status
    return None


def localcloud_answer(ecs_client: Any, localcloud: Any, case_id: str, data: dict[str, Any]) -> Any:
    localcloud.load_state(world(case_id))
    request = models.ModifySecurityGroupEgressRuleRequest().from_map(dict(data))
    try:
        ecs_client.modify_security_group_egress_rule(request)
    except (ClientException, ServerException) as err:
        return err.code, err.status_code
    return None


def _cases() -> list[Any]:
    table = [(cid, data, code) for cid, data, code, _ in INVALID_DATA] + [(cid, data, None) for cid, data in VALID]
    out = []
    for cid, data, code in table + EXTRA:
        out.append(pytest.param(cid, {k: v for k, v in data.items() if v is not ...}, code, id=cid))
    return out


@pytest.mark.parametrize("case_id,data,code", _cases())
def test_sgrule_and_localcloud_answer_alike(ecs_client: Any, localcloud: Any, case_id: str, data: dict[str, Any],
                                            code: str | None) -> None:
    ours, theirs = sgrule_answer(data), localcloud_answer(ecs_client, localcloud, case_id, data)
    if case_id in DOCUMENTED:
        expected_ours, expected_theirs, reason = DOCUMENTED[case_id]
        assert (ours, theirs) == (expected_ours, expected_theirs), f"documented difference changed: {reason}"
        return
    assert ours == theirs, f"{case_id}: sgrule {ours}, localcloud {theirs}"
    assert (ours[0] if ours else None) == code  # and both give the table's code


def test_documented_differences_are_cases_and_say_why() -> None:
    ids = {c.values[0] for c in _cases()}
    assert set(DOCUMENTED) <= ids
    for ours, theirs, reason in DOCUMENTED.values():
        assert ours != theirs and len(reason) > 40

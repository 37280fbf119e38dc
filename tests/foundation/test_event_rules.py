"""Every documented stateless rule of ModifySecurityGroupEgressRule, each with the exact API code."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from sgrule.contract.errors import CODES, SgruleError
from sgrule.contract.event import build_request, parse_event

BY_ID = {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-aaa", "SecurityGroupRuleId": "sgr-111"}
MATCH = {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-aaa", "IpProtocol": "TCP", "PortRange": "443/443",
         "DestCidrIp": "10.0.0.0/8", "Description": "https out"}
FULL = {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-aaa", "SecurityGroupRuleId": "sgr-111",
        "IpProtocol": "TCP", "PortRange": "443/443", "DestCidrIp": "10.0.0.0/8"}


def event(data: Any = None, **attrs: Any) -> dict[str, Any]:
    ev = {"specversion": "1.0", "id": "c-1", "source": "tests", "type": "sgrule.egress.modify",
          "time": "2026-11-27T10:00:00Z", "data": copy.deepcopy(BY_ID) if data is None else data}
    ev.update(attrs)
    return {k: v for k, v in ev.items() if v is not ...}


def code_of(ev: dict[str, Any]) -> tuple[str, str | None]:
    with pytest.raises(SgruleError) as info:
        parse_event(ev)
    return info.value.code, info.value.field


# (case id, data, expected code, expected field)
INVALID_DATA = [
    # required addressing
    ("region missing", {"SecurityGroupId": "sg-aaa", "SecurityGroupRuleId": "sgr-1"}, "MissingParameter", "RegionId"),
    ("group missing", {"RegionId": "cn-hangzhou", "SecurityGroupRuleId": "sgr-1"}, "MissingParameter", "SecurityGroupId"),
    ("group malformed", {**BY_ID, "SecurityGroupId": "group-1"}, "InvalidSecurityGroupId.NotFound", "SecurityGroupId"),
    ("rule id malformed", {**BY_ID, "SecurityGroupRuleId": "rule-1"}, "SecurityGroupRule.NotFound", "SecurityGroupRuleId"),
    ("region malformed", {**BY_ID, "RegionId": "Hangzhou"}, "InvalidSecurityGroupId.NotFound", "RegionId"),
    # protocol
    ("protocol unknown", {**BY_ID, "IpProtocol": "SCTP"}, "InvalidIpProtocol.ValueNotSupported", "IpProtocol"),
    ("protocol empty", {**BY_ID, "IpProtocol": ""}, "InvalidIpProtocol.ValueNotSupported", "IpProtocol"),
    ("protocol number", {**BY_ID, "IpProtocol": 6}, "InvalidIpProtocol.ValueNotSupported", "IpProtocol"),
    # port ranges
    ("port no slash", {**BY_ID, "PortRange": "443"}, "InvalidParam.PortRange", "PortRange"),
    ("port zero", {**BY_ID, "PortRange": "0/80"}, "InvalidParam.PortRange", "PortRange"),
    ("port too big", {**BY_ID, "PortRange": "1/65536"}, "InvalidParam.PortRange", "PortRange"),
    ("port reversed", {**BY_ID, "PortRange": "443/80"}, "InvalidParam.PortRange", "PortRange"),
    ("port half -1", {**BY_ID, "PortRange": "-1/80"}, "InvalidParam.PortRange", "PortRange"),
    ("port not string", {**BY_ID, "PortRange": 443}, "InvalidParam.PortRange", "PortRange"),
    ("source port bad", {**BY_ID, "SourcePortRange": "9/1"}, "InvalidSourcePortRange.Malformed", "SourcePortRange"),
    ("tcp with -1/-1", {**BY_ID, "IpProtocol": "tcp", "PortRange": "-1/-1"},
     "InvalidParam.ProtocolAndPortRangeMismatch", "PortRange"),
    ("udp source -1/-1", {**BY_ID, "IpProtocol": "UDP", "SourcePortRange": "-1/-1"},
     "InvalidParam.ProtocolAndPortRangeMismatch", "SourcePortRange"),
    ("icmp with ports", {**BY_ID, "IpProtocol": "ICMP", "PortRange": "1/1"},
     "InvalidParam.ProtocolAndPortRangeMismatch", "PortRange"),
    ("gre with ports", {**BY_ID, "IpProtocol": "gre", "PortRange": "1/10"},
     "InvalidParam.ProtocolAndPortRangeMismatch", "PortRange"),
    ("all with ports", {**BY_ID, "IpProtocol": "all", "PortRange": "1/65535"},
     "InvalidParam.ProtocolAndPortRangeMismatch", "PortRange"),
    ("icmpv6 with ports", {**BY_ID, "IpProtocol": "icmpv6", "PortRange": "1/1"},
     "InvalidParam.ProtocolAndPortRangeMismatch", "PortRange"),
    # policy and priority
    ("policy bad", {**BY_ID, "Policy": "allow"}, "InvalidPolicy.Malformed", "Policy"),
    ("priority text", {**BY_ID, "Priority": "high"}, "InvalidPriority.Malformed", "Priority"),
    ("priority bool", {**BY_ID, "Priority": True}, "InvalidPriority.Malformed", "Priority"),
    ("priority float", {**BY_ID, "Priority": 1.5}, "InvalidPriority.Malformed", "Priority"),
    ("priority 0", {**BY_ID, "Priority": 0}, "InvalidPriority.ValueNotSupported", "Priority"),
    ("priority 101", {**BY_ID, "Priority": "101"}, "InvalidPriority.ValueNotSupported", "Priority"),
    ("priority superscript", {**BY_ID, "Priority": "\u00b2"}, "InvalidPriority.Malformed", "Priority"),
    ("priority 5000 digits", {**BY_ID, "Priority": "9" * 5000}, "InvalidPriority.Malformed", "Priority"),
    ("port arabic digits", {**BY_ID, "PortRange": "\u0661/\u0662"}, "InvalidParam.PortRange", "PortRange"),
    ("ipv6 zone id", {**BY_ID, "Ipv6DestCidrIp": "fe80::1%eth0"}, "InvalidParam.Ipv6DestCidrIp", "Ipv6DestCidrIp"),
    ("token control char", {**BY_ID, "ClientToken": "tok\x00"}, "InvalidParam.InvalidModifyRuleRequest", "ClientToken"),
    # addresses
    ("dest v4 bad", {**BY_ID, "DestCidrIp": "10.0.0.256/8"}, "InvalidParam.DestCidrIp", "DestCidrIp"),
    ("dest v4 given v6", {**BY_ID, "DestCidrIp": "2001:db8::/32"}, "InvalidParam.DestCidrIp", "DestCidrIp"),
    ("dest v4 bad prefix", {**BY_ID, "DestCidrIp": "10.0.0.0/33"}, "InvalidParam.DestCidrIp", "DestCidrIp"),
    ("source v4 bad", {**BY_ID, "SourceCidrIp": "abc"}, "InvalidParam.SourceCidrIp", "SourceCidrIp"),
    ("dest v6 bad", {**BY_ID, "Ipv6DestCidrIp": "2001:db8::zz"}, "InvalidParam.Ipv6DestCidrIp", "Ipv6DestCidrIp"),
    ("dest v6 given v4", {**BY_ID, "Ipv6DestCidrIp": "10.0.0.1"}, "InvalidParam.Ipv6DestCidrIp", "Ipv6DestCidrIp"),
    ("source v6 bad", {**BY_ID, "Ipv6SourceCidrIp": "::/129"}, "InvalidParam.Ipv6SourceCidrIp", "Ipv6SourceCidrIp"),
    ("dest v4 and v6", {**BY_ID, "DestCidrIp": "10.0.0.0/8", "Ipv6DestCidrIp": "2001:db8::/32"},
     "InvalidParam.DestIp", "Ipv6DestCidrIp"),
    ("source v4 and v6", {**BY_ID, "SourceCidrIp": "10.0.0.0/8", "Ipv6SourceCidrIp": "2001:db8::/32"},
     "InvalidParam.SourceIp", "Ipv6SourceCidrIp"),
    ("v4 dest v6 source", {**BY_ID, "DestCidrIp": "10.0.0.0/8", "Ipv6SourceCidrIp": "2001:db8::/32"},
     "InvalidParameter.Conflict", "Ipv6SourceCidrIp"),
    ("v6 dest v4 source", {**BY_ID, "Ipv6DestCidrIp": "2001:db8::/32", "SourceCidrIp": "10.0.0.0/8"},
     "InvalidParameter.Conflict", "SourceCidrIp"),
    ("icmp with ipv6", {**BY_ID, "IpProtocol": "icmp", "Ipv6DestCidrIp": "2001:db8::/32"},
     "InvalidParam.Ipv4ProtocolConflictWithIpv6Address", "IpProtocol"),
    ("icmpv6 with ipv4", {**BY_ID, "IpProtocol": "ICMPv6", "DestCidrIp": "10.0.0.0/8"},
     "InvalidParam.Ipv6ProtocolConflictWithIpv4Address", "IpProtocol"),
    ("source equals dest", {**BY_ID, "SourceCidrIp": "10.0.0.1", "DestCidrIp": "10.0.0.1/32"},
     "InvalidParamter.Conflict", "SourceCidrIp"),
    # groups, prefix lists, nic type, owners
    ("dest group same", {**BY_ID, "DestGroupId": "sg-aaa"}, "InvalidSecurityGroup.IsSame", "DestGroupId"),
    ("dest group malformed", {**BY_ID, "DestGroupId": "aaa"}, "InvalidDestGroupId.NotFound", "DestGroupId"),
    ("prefix list malformed", {**BY_ID, "DestPrefixListId": "list-1"}, "InvalidPrefixListId.NotFound", "DestPrefixListId"),
    ("nic type bad", {**BY_ID, "NicType": "public"}, "InvalidNicType.ValueNotSupported", "NicType"),
    ("owner id bad", {**BY_ID, "DestGroupOwnerId": "12ab"}, "InvalidParam.InvalidModifyRuleRequest", "DestGroupOwnerId"),
    ("owner account empty", {**BY_ID, "DestGroupOwnerAccount": ""},
     "InvalidParam.InvalidModifyRuleRequest", "DestGroupOwnerAccount"),
    # description and client token
    ("description empty", {**BY_ID, "Description": ""}, "InvalidSecurityGroupDiscription.Malformed", "Description"),
    ("description 513", {**BY_ID, "Description": "x" * 513}, "InvalidSecurityGroupDiscription.Malformed", "Description"),
    ("description not text", {**BY_ID, "Description": 5}, "InvalidSecurityGroupDiscription.Malformed", "Description"),
    ("token too long", {**BY_ID, "ClientToken": "t" * 65}, "InvalidParam.InvalidModifyRuleRequest", "ClientToken"),
    ("token not ascii", {**BY_ID, "ClientToken": "tökén"}, "InvalidParam.InvalidModifyRuleRequest", "ClientToken"),
    # unknown keys and nulls
    ("unknown key", {**BY_ID, "Portrange": "1/2"}, "InvalidEvent.UnknownField", "Portrange"),
    ("null clears", {**BY_ID, "Description": None}, "InvalidParam.InvalidModifyRuleRequest", "Description"),
    # by-match mode needs the identifying fields, a destination and Description
    ("match no description", {k: v for k, v in MATCH.items() if k != "Description"},
     "InvalidParam.InvalidModifyRuleRequest", "Description"),
    ("match no destination", {k: v for k, v in MATCH.items() if k != "DestCidrIp"}, "MissingParameter.Dest", "DestCidrIp"),
    ("match no protocol", {k: v for k, v in MATCH.items() if k != "IpProtocol"},
     "InvalidIpProtocol.ValueNotSupported", "IpProtocol"),
    ("match no port", {k: v for k, v in MATCH.items() if k != "PortRange"}, "InvalidParam.PortRange", "PortRange"),
    ("match group internet", {**MATCH, "DestCidrIp": ..., "DestGroupId": "sg-bbb", "NicType": "internet"},
     "InvalidDestGroupId.Mismatch", "NicType"),
    ("match owner without group", {**MATCH, "DestGroupOwnerId": 123},
     "InvalidParam.InvalidModifyRuleRequest", "DestGroupOwnerId"),
    ("match account without group", {**MATCH, "DestGroupOwnerAccount": "acct@example.com"},
     "InvalidParam.InvalidModifyRuleRequest", "DestGroupOwnerAccount"),
]


@pytest.mark.parametrize("data,code,field", [c[1:] for c in INVALID_DATA], ids=[c[0] for c in INVALID_DATA])
def test_each_documented_rule_has_its_api_code(data: dict[str, Any], code: str, field: str) -> None:
    data = {k: v for k, v in data.items() if v is not ...}
    assert code_of(event(data)) == (code, f"data.{field}")


def test_every_code_used_is_in_the_table_with_a_status() -> None:
    for _, _, code, _ in INVALID_DATA:
        assert code in CODES or code == "InvalidDestGroupId.Mismatch"
    # Statuses as the API's error table gives them.
    err = SgruleError("InvalidDestGroupId.Mismatch")
    assert (err.http_status, err.code) == (403, "InvalidDestGroupId.Mismatch")
    assert SgruleError("InvalidSecurityGroup.IsSame").http_status == 403
    assert SgruleError("SecurityGroupRule.NotFound").http_status == 404
    assert SgruleError("InvalidParam.PortRange").http_status == 400
    # Ours, by HTTP's meaning (RFC 9110): given up on a transient failure is 503 "temporarily unable to
    # handle the request" (15.6.4); an unexpected error is 500 "an unexpected condition" (15.6.1).
    assert SgruleError("Runtime.RetriesExhausted").http_status == 503
    assert SgruleError("Runtime.Unexpected").http_status == 500


INVALID_ENVELOPES = [
    ("not an object", ["x"], "InvalidEvent.Malformed", None),
    ("no id", event(id=...), "InvalidEvent.MissingAttribute", "id"),
    ("no source", event(source=...), "InvalidEvent.MissingAttribute", "source"),
    ("no time", event(time=...), "InvalidEvent.MissingAttribute", "time"),
    ("no data", event(data=...), "InvalidEvent.MissingAttribute", "data"),
    ("no specversion", event(specversion=...), "InvalidEvent.MissingAttribute", "specversion"),
    ("wrong type", event(type="sgrule.ingress.modify"), "InvalidEvent.InvalidAttribute", "type"),
    ("old specversion", event(specversion="0.3"), "InvalidEvent.InvalidAttribute", "specversion"),
    ("date only", event(time="2026-11-27"), "InvalidEvent.InvalidAttribute", "time"),
    ("no offset", event(time="2026-11-27T10:00:00"), "InvalidEvent.InvalidAttribute", "time"),
    ("epoch", event(time=1795773600), "InvalidEvent.InvalidAttribute", "time"),
    ("bad month", event(time="2026-13-01T00:00:00Z"), "InvalidEvent.InvalidAttribute", "time"),
    ("no seconds", event(time="2026-11-27T09:15Z"), "InvalidEvent.InvalidAttribute", "time"),
    ("week date", event(time="2026-W48-5T09:15:00Z"), "InvalidEvent.InvalidAttribute", "time"),
    ("year 1 with offset", event(time="0001-01-01T00:00:00+01:00"), "InvalidEvent.InvalidAttribute", "time"),
    ("year 9999 with offset", event(time="9999-12-31T23:59:59-01:00"), "InvalidEvent.InvalidAttribute", "time"),
    ("empty id", event(id=""), "InvalidEvent.InvalidAttribute", "id"),
    ("data not object", event(data=[1]), "InvalidEvent.InvalidAttribute", "data"),
    ("attribute case typo", event(Source="x"), "InvalidEvent.UnknownField", "Source"),
    ("content type", event(datacontenttype="text/plain"), "InvalidEvent.InvalidAttribute", "datacontenttype"),
]


@pytest.mark.parametrize("ev,code,field", [c[1:] for c in INVALID_ENVELOPES], ids=[c[0] for c in INVALID_ENVELOPES])
def test_envelope_errors(ev: Any, code: str, field: str | None) -> None:
    assert code_of(ev) == (code, field)


def test_extension_attributes_are_kept() -> None:
    ev = parse_event(event(correlationid="chg-1", aliyunaccountid="123", traceparent="00-ab"))
    assert ev.correlationid == "chg-1"
    assert ev.model_extra == {"aliyunaccountid": "123", "traceparent": "00-ab"}


VALID = [
    ("by id minimal", BY_ID),
    ("by id every field", {**BY_ID, "Policy": "DROP", "Priority": "7", "IpProtocol": "udp", "PortRange": "53/53",
                           "DestCidrIp": "10.0.0.0/8", "SourceCidrIp": "192.168.0.0/16", "SourcePortRange": "1/65535",
                           "Description": "d" * 512, "ClientToken": "t" * 64}),
    ("by id ipv6", {**BY_ID, "IpProtocol": "ICMPv6", "PortRange": "-1/-1", "Ipv6DestCidrIp": "2001:db8::/32",
                    "Ipv6SourceCidrIp": "2001:db8:1::1"}),
    ("by id group cross account", {**BY_ID, "DestGroupId": "sg-bbb", "DestGroupOwnerAccount": "a@b.c",
                                   "DestGroupOwnerId": "1234567890"}),
    ("by match cidr", MATCH),
    ("by match group intranet", {**{k: v for k, v in MATCH.items() if k != "DestCidrIp"}, "DestGroupId": "sg-bbb",
                                 "NicType": "intranet"}),
    ("by match prefix list", {**{k: v for k, v in MATCH.items() if k != "DestCidrIp"}, "DestPrefixListId": "pl-1"}),
    ("by match priority", {**MATCH, "Priority": 5, "Policy": "accept", "SourceCidrIp": "10.9.0.0/16"}),
    ("gre", {**BY_ID, "IpProtocol": "GRE", "PortRange": "-1/-1"}),
    ("all", {**BY_ID, "IpProtocol": "all", "PortRange": "-1/-1", "SourcePortRange": "-1/-1"}),
]


# What each valid case's fields become, by the doc's rules (protocols upper case, ICMPv6 as the doc spells it,
# policy lower case, Priority and DestGroupOwnerId integers, addresses as CIDR blocks); fields not listed
# stay as given.
NORMALISED: dict[str, dict[str, Any]] = {
    "by id minimal": {},
    "by id every field": {"Policy": "drop", "Priority": 7, "IpProtocol": "UDP"},
    "by id ipv6": {"Ipv6SourceCidrIp": "2001:db8:1::1/128"},
    "by id group cross account": {"DestGroupOwnerId": 1234567890},
    "by match cidr": {},
    "by match group intranet": {},
    "by match prefix list": {},
    "by match priority": {},
    "gre": {},
    "all": {"IpProtocol": "ALL"},
}


@pytest.mark.parametrize("data,normalised", [(c[1], NORMALISED[c[0]]) for c in VALID], ids=[c[0] for c in VALID])
def test_valid_events(data: dict[str, Any], normalised: dict[str, Any]) -> None:
    ev = parse_event(event(data))
    assert ev.data.mode == ("by_id" if "SecurityGroupRuleId" in data else "by_match")
    assert ev.data.present() == {**data, **normalised}  # every field kept, none added, each normalised


def test_normalises_what_the_api_treats_as_equal() -> None:
    data = parse_event(event({**BY_ID, "IpProtocol": "tcp", "Policy": "Accept", "Priority": "07",
                              "DestCidrIp": "10.0.0.1", "SourceCidrIp": "10.1.2.3/16", "NicType": "Intranet",
                              "PortRange": "0080/0443"})).data
    assert data.IpProtocol == "TCP"
    assert data.Policy == "accept"
    assert data.Priority == 7
    assert data.DestCidrIp == "10.0.0.1/32"
    assert data.SourceCidrIp == "10.1.0.0/16"
    assert data.NicType == "intranet"
    assert data.PortRange == "80/443"
    v6 = parse_event(event({**BY_ID, "Ipv6DestCidrIp": "2001:DB8:0:0::1"})).data
    assert v6.Ipv6DestCidrIp == "2001:db8::1/128"


def test_prefix_list_is_ignored_when_another_destination_is_given() -> None:
    data = parse_event(event({**MATCH, "DestPrefixListId": "pl-1"})).data
    assert data.DestPrefixListId is None and data.DestCidrIp == "10.0.0.0/8"


def test_fully_formed_request_needs_protocol_port_and_destination() -> None:
    assert build_request(FULL).to_params()["PortRange"] == "443/443"
    for missing, code in [("IpProtocol", "InvalidIpProtocol.ValueNotSupported"),
                          ("PortRange", "InvalidParam.PortRange"), ("DestCidrIp", "MissingParameter.Dest")]:
        with pytest.raises(SgruleError) as info:
            build_request({k: v for k, v in FULL.items() if k != missing})
        assert info.value.code == code
    with pytest.raises(SgruleError) as info:
        build_request({**{k: v for k, v in FULL.items() if k != "DestCidrIp"},
                       "DestGroupId": "sg-b", "NicType": "internet"})
    assert (info.value.code, info.value.http_status) == ("InvalidDestGroupId.Mismatch", 403)


def test_request_params_are_strings_under_api_names() -> None:
    params = build_request({**FULL, "Priority": 3}).to_params()
    assert params == {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-aaa", "SecurityGroupRuleId": "sgr-111",
                      "Priority": "3", "IpProtocol": "TCP", "PortRange": "443/443", "DestCidrIp": "10.0.0.0/8"}


def test_time_orders_changes() -> None:
    early = parse_event(event(time="2026-11-27T10:00:00+08:00"))
    late = parse_event(event(time="2026-11-27T02:00:00.000001Z"))
    assert late.time_us - early.time_us == 1

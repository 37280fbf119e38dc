"""ModifySecurityGroupEgressRule through the official SDK over HTTP: every error code the emulator produces,
by-id field filling and its limits, by-match identification."""
from __future__ import annotations

from typing import Any, Callable

import pytest

pytest.importorskip("alibabacloud_ecs20140526")
from alibabacloud_ecs20140526 import models
from alibabacloud_tea_openapi.exceptions import ClientException

REGION = "cn-hangzhou"
ACCOUNT = "1234567890123456"  # localcloud's default credential


def modify(client: Any, **params: Any) -> Any:
    req = models.ModifySecurityGroupEgressRuleRequest().from_map({"RegionId": REGION, **params})
    return client.modify_security_group_egress_rule(req)


def egress_perms(client: Any, sg: str) -> dict[str, Any]:
    body = client.describe_security_group_attribute(models.DescribeSecurityGroupAttributeRequest(
        region_id=REGION, security_group_id=sg, direction="egress")).body
    return {p.security_group_rule_id: p for p in body.permissions.permission}


def expect_error(fn: Callable[[], Any], code: str, status: int) -> ClientException:
    with pytest.raises(ClientException) as info:
        fn()
    assert (info.value.code, info.value.status_code) == (code, status), info.value.message
    return info.value


@pytest.fixture
def world(ecs_seed: Any, ecs_client: Any) -> dict[str, str]:
    """A VPC group with one TCP 80 rule to 10.0.0.0/8, plus the neighbours the error cases point at."""
    sg = ecs_seed.group(vpc_id="vpc-1", name="main")
    return {
        "sg": sg,
        "peer": ecs_seed.group(vpc_id="vpc-1", name="peer"),
        "other_vpc": ecs_seed.group(vpc_id="vpc-2", name="other"),
        "classic": ecs_seed.group(vpc_id=None, name="classic"),
        "pl4": ecs_seed.prefix_list(name="v4", cidrs=["10.1.0.0/16"]),
        "pl6": ecs_seed.prefix_list(name="v6", cidrs=["2001:db8::/32"], address_family="IPv6"),
        "rule": ecs_seed.egress(sg, port_range="80/80", dest_cidr_ip="10.0.0.0/8", description="orig"),
    }


def match(w: dict[str, str], **over: Any) -> dict[str, Any]:
    """A by-match request for the world's rule, with overrides (None removes a key)."""
    p: dict[str, Any] = {"SecurityGroupId": w["sg"], "IpProtocol": "TCP", "PortRange": "80/80",
                         "DestCidrIp": "10.0.0.0/8", "Description": "new"}
    p.update(over)
    return {k: v for k, v in p.items() if v is not None}


def by_id(w: dict[str, str], **over: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"SecurityGroupId": w["sg"], "SecurityGroupRuleId": w["rule"]}
    p.update(over)
    return {k: v for k, v in p.items() if v is not None}


V6 = "2001:db8:1::/48"
# (case id, request builder, code, status). Every code the emulator produces for this action.
CASES: list[tuple[str, Callable[[dict[str, str]], dict[str, Any]], str, int]] = [
    ("protocol-unknown", lambda w: match(w, IpProtocol="FOO"), "InvalidIpProtocol.ValueNotSupported", 400),
    ("protocol-missing", lambda w: match(w, IpProtocol=None), "InvalidIpProtocol.ValueNotSupported", 400),
    ("port-no-slash", lambda w: match(w, PortRange="80"), "InvalidParam.PortRange", 400),
    ("port-zero", lambda w: match(w, PortRange="0/80"), "InvalidParam.PortRange", 400),
    ("port-reversed", lambda w: match(w, PortRange="90/80"), "InvalidParam.PortRange", 400),
    ("port-too-high", lambda w: match(w, PortRange="1/65536"), "InvalidParam.PortRange", 400),
    ("port-missing", lambda w: match(w, PortRange=None), "InvalidParam.PortRange", 400),
    ("by-id-port-bad", lambda w: by_id(w, PortRange="a/b"), "InvalidParam.PortRange", 400),
    ("source-port-bad", lambda w: match(w, SourcePortRange="22-23"), "InvalidSourcePortRange.Malformed", 400),
    ("tcp-with-minus-one", lambda w: match(w, PortRange="-1/-1"), "InvalidParam.ProtocolAndPortRangeMismatch", 400),
    ("icmp-with-ports", lambda w: match(w, IpProtocol="icmp"), "InvalidParam.ProtocolAndPortRangeMismatch", 400),
    ("all-with-source-ports", lambda w: match(w, IpProtocol="ALL", PortRange="-1/-1", SourcePortRange="22/22"),
     "InvalidParam.ProtocolAndPortRangeMismatch", 400),
    ("by-id-protocol-vs-kept-ports", lambda w: by_id(w, IpProtocol="GRE"),
     "InvalidParam.ProtocolAndPortRangeMismatch", 400),
    ("policy", lambda w: match(w, Policy="allow"), "InvalidPolicy.Malformed", 400),
    ("priority-not-int", lambda w: match(w, Priority="high"), "InvalidPriority.Malformed", 400),
    ("priority-101", lambda w: match(w, Priority="101"), "InvalidPriority.ValueNotSupported", 400),
    ("priority-0", lambda w: by_id(w, Priority="0"), "InvalidPriority.ValueNotSupported", 400),
    ("nic-type", lambda w: match(w, NicType="public"), "InvalidNicType.ValueNotSupported", 400),
    ("description-513", lambda w: match(w, Description="x" * 513), "InvalidSecurityGroupDiscription.Malformed", 400),
    ("dest-cidr-bad", lambda w: match(w, DestCidrIp="10.0.0.300"), "InvalidParam.DestCidrIp", 400),
    ("dest-cidr-v6-value", lambda w: match(w, DestCidrIp=V6), "InvalidParam.DestCidrIp", 400),
    ("source-cidr-bad", lambda w: match(w, SourceCidrIp="192.168.0.0/33"), "InvalidParam.SourceCidrIp", 400),
    ("v6-dest-bad", lambda w: match(w, DestCidrIp=None, Ipv6DestCidrIp="2001:db8::1::/64"),
     "InvalidParam.Ipv6DestCidrIp", 400),
    ("v6-source-v4-value", lambda w: match(w, Ipv6SourceCidrIp="1.2.3.4"), "InvalidParam.Ipv6SourceCidrIp", 400),
    ("dest-both-families", lambda w: match(w, Ipv6DestCidrIp=V6), "InvalidParam.DestIp", 400),
    ("source-both-families", lambda w: match(w, SourceCidrIp="192.168.0.0/16", Ipv6SourceCidrIp=V6),
     "InvalidParam.SourceIp", 400),
    ("no-destination", lambda w: match(w, DestCidrIp=None), "MissingParameter.Dest", 400),
    ("v4-dest-v6-source", lambda w: match(w, Ipv6SourceCidrIp=V6), "InvalidParameter.Conflict", 400),
    ("by-id-adds-v6-source-to-v4-rule", lambda w: by_id(w, Ipv6SourceCidrIp=V6), "InvalidParameter.Conflict", 400),
    ("icmp-v6-address", lambda w: match(w, IpProtocol="ICMP", PortRange="-1/-1", DestCidrIp=None, Ipv6DestCidrIp=V6),
     "InvalidParam.Ipv4ProtocolConflictWithIpv6Address", 400),
    ("icmpv6-v4-address", lambda w: match(w, IpProtocol="icmpv6", PortRange="-1/-1"),
     "InvalidParam.Ipv6ProtocolConflictWithIpv4Address", 400),
    ("icmpv6-v4-prefix-list", lambda w: match(w, IpProtocol="ICMPv6", PortRange="-1/-1", DestCidrIp=None,
                                              DestPrefixListId=w["pl4"]),
     "InvalidParam.ProtocolAndAddressFamilyMismatch", 400),
    ("source-equals-dest", lambda w: match(w, SourceCidrIp="10.0.0.0/8"), "InvalidParamter.Conflict", 400),
    ("source-equals-dest-normalised", lambda w: match(w, DestCidrIp="10.0.0.1", SourceCidrIp="10.0.0.1/32"),
     "InvalidParamter.Conflict", 400),
    ("dest-group-is-self", lambda w: match(w, DestCidrIp=None, DestGroupId=w["sg"]), "InvalidSecurityGroup.IsSame", 403),
    ("dest-group-internet", lambda w: match(w, DestCidrIp=None, DestGroupId=w["peer"], NicType="internet"),
     "InvalidDestGroupId.Mismatch", 403),
    ("client-token-too-long", lambda w: match(w, ClientToken="t" * 65), "InvalidParam.InvalidModifyRuleRequest", 400),
    ("client-token-control-char", lambda w: match(w, ClientToken="t\x01"), "InvalidParam.InvalidModifyRuleRequest",
     400),
    ("missing-group-id", lambda w: match(w, SecurityGroupId=None), "MissingParameter", 400),
    ("group-not-found", lambda w: match(w, SecurityGroupId="sg-doesnotexist"), "InvalidSecurityGroupId.NotFound", 404),
    ("dest-group-not-found", lambda w: match(w, DestCidrIp=None, DestGroupId="sg-doesnotexist"),
     "InvalidDestGroupId.NotFound", 404),
    ("dest-group-other-vpc", lambda w: match(w, DestCidrIp=None, DestGroupId=w["other_vpc"]),
     "InvalidDestGroupId.Mismatch", 400),
    ("dest-group-classic", lambda w: match(w, DestCidrIp=None, DestGroupId=w["classic"]),
     "InvalidNetworkType.Conflict", 403),
    ("prefix-list-not-found", lambda w: match(w, DestCidrIp=None, DestPrefixListId="pl-doesnotexist"),
     "InvalidPrefixListId.NotFound", 400),
    ("prefix-list-vs-source-family", lambda w: match(w, DestCidrIp=None, DestPrefixListId=w["pl6"],
                                                     SourceCidrIp="192.168.0.0/16"),
     "InvalidParam.PrefixListAddressFamilyMismatch", 400),
    ("match-nothing", lambda w: match(w, PortRange="81/81"), "SecurityGroupRule.NotFound", 404),
    ("match-priority-mismatch", lambda w: match(w, Priority="2"), "SecurityGroupRule.NotFound", 404),
    ("match-policy-mismatch", lambda w: match(w, Policy="drop"), "SecurityGroupRule.NotFound", 404),
    ("by-id-unknown-rule", lambda w: by_id(w, SecurityGroupRuleId="sgr-doesnotexist"), "SecurityGroupRule.NotFound", 404),
    ("by-id-nic-type", lambda w: by_id(w, NicType="intranet", SecurityGroupId=w["classic"],
                                       SecurityGroupRuleId=w["classic_rule"]), "InvalidOperation.ModifyNicType", 400),
    ("by-id-cidr-to-group", lambda w: by_id(w, DestGroupId=w["peer"]), "InvalidOperation.ModifySgRuleEntityType", 400),
    ("by-id-cidr-to-prefix-list", lambda w: by_id(w, DestPrefixListId=w["pl4"]),
     "InvalidOperation.ModifySgRuleEntityType", 400),
    ("by-id-v4-to-v6", lambda w: by_id(w, Ipv6DestCidrIp=V6), "InvalidParam.InvalidModifyRuleRequest", 400),
    ("by-id-empty-description", lambda w: by_id(w, Description=""), "InvalidSecurityGroupDiscription.Malformed", 400),
    ("by-id-empty-protocol", lambda w: by_id(w, IpProtocol=""), "InvalidIpProtocol.ValueNotSupported", 400),
    ("by-id-clear-destination", lambda w: by_id(w, DestCidrIp=""), "InvalidParam.InvalidModifyRuleRequest", 400),
    ("by-id-duplicate", lambda w: by_id(w, PortRange="443/443"), "InvalidParam.InvalidModifyRuleRequest", 400),
]


@pytest.mark.parametrize("build,code,status", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_modify_error_codes(world: dict[str, str], ecs_client: Any, ecs_seed: Any, localcloud: Any,
                            build: Callable[[dict[str, str]], dict[str, Any]], code: str, status: int) -> None:
    world["classic_rule"] = ecs_seed.egress(world["classic"], port_range="22/22")
    ecs_seed.egress(world["sg"], port_range="443/443", dest_cidr_ip="10.0.0.0/8")  # for the duplicate case
    before = localcloud.state()["ecs"]
    expect_error(lambda: modify(ecs_client, **build(world)), code, status)
    assert localcloud.state()["ecs"] == before  # a refused modify changes nothing


def test_missing_region_is_missing_parameter(world: dict[str, str], ecs_client: Any) -> None:
    req = models.ModifySecurityGroupEgressRuleRequest().from_map(match(world))
    err = expect_error(lambda: ecs_client.modify_security_group_egress_rule(req), "MissingParameter", 400)
    assert "RegionId" in err.message


def test_by_id_fills_omitted_fields_from_the_rule(ecs_seed: Any, ecs_client: Any) -> None:
    sg = ecs_seed.group()
    rid = ecs_seed.egress(sg, port_range="80/80", dest_cidr_ip="10.0.0.0/8", source_cidr_ip="192.168.0.0/16",
                          source_port_range="1000/2000", policy="drop", priority="5", description="orig")
    modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=rid, PortRange="443/443")
    p = egress_perms(ecs_client, sg)[rid]
    assert (p.ip_protocol, p.port_range, p.dest_cidr_ip, p.source_cidr_ip, p.source_port_range, p.policy,
            p.priority, p.description, p.nic_type) == (
        "TCP", "443/443", "10.0.0.0/8", "192.168.0.0/16", "1000/2000", "Drop", "5", "orig",
        "intranet")
    for field, value, attr, shown in [("Priority", "7", "priority", "7"), ("Policy", "accept", "policy", "Accept"),
                                      ("DestCidrIp", "172.16.0.0/12", "dest_cidr_ip", "172.16.0.0/12"),
                                      ("Description", "changed", "description", "changed"),
                                      ("IpProtocol", "udp", "ip_protocol", "UDP"),
                                      ("SourcePortRange", "3000/3001", "source_port_range", "3000/3001")]:
        modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=rid, **{field: value})
        assert getattr(egress_perms(ecs_client, sg)[rid], attr) == shown
    p = egress_perms(ecs_client, sg)[rid]
    assert (p.ip_protocol, p.port_range, p.dest_cidr_ip, p.source_cidr_ip, p.policy, p.priority) == (
        "UDP", "443/443", "172.16.0.0/12", "192.168.0.0/16", "Accept", "7")
    assert len(egress_perms(ecs_client, sg)) == 1  # modified in place, never re-created
    assert p.security_group_rule_id == rid


def test_by_id_keeps_entity_type_but_allows_same_type_changes(ecs_seed: Any, ecs_client: Any) -> None:
    sg, peer, peer2 = ecs_seed.group(), ecs_seed.group(name="peer"), ecs_seed.group(name="peer2")
    pl_a, pl_b = ecs_seed.prefix_list(name="pa"), ecs_seed.prefix_list(name="pb", cidrs=["10.9.0.0/16"])
    pl6 = ecs_seed.prefix_list(name="six", cidrs=["2001:db8::/32"], address_family="IPv6")
    to_group = ecs_seed.egress(sg, dest_group_id=peer)
    to_pl = ecs_seed.egress(sg, dest_prefix_list_id=pl_a)
    to_v6 = ecs_seed.egress(sg, ipv_6dest_cidr_ip="2001:db8::/32")
    modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=to_group, DestGroupId=peer2)
    modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=to_pl, DestPrefixListId=pl_b)
    modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=to_v6, Ipv6DestCidrIp="2001:db8:ffff::/48")
    perms = egress_perms(ecs_client, sg)
    assert (perms[to_group].dest_group_id, perms[to_group].dest_group_name) == (peer2, "peer2")
    assert (perms[to_pl].dest_prefix_list_id, perms[to_pl].dest_prefix_list_name) == (pl_b, "pb")
    assert perms[to_v6].ipv_6dest_cidr_ip == "2001:db8:ffff::/48"
    expect_error(lambda: modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=to_group, DestCidrIp="1.1.1.1"),
                 "InvalidOperation.ModifySgRuleEntityType", 400)
    expect_error(lambda: modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=to_pl, DestGroupId=peer),
                 "InvalidOperation.ModifySgRuleEntityType", 400)
    expect_error(lambda: modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=to_pl, DestPrefixListId=pl6),
                 "InvalidParam.PrefixListAddressFamilyMismatch", 400)
    expect_error(lambda: modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=to_v6, DestCidrIp="10.0.0.0/8"),
                 "InvalidParam.InvalidModifyRuleRequest", 400)
    # The same NicType as the rule's is not a modification.
    modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=to_group, NicType="intranet", Description="ok")
    assert egress_perms(ecs_client, sg)[to_group].description == "ok"


def test_by_id_clearing_an_empty_field_is_a_no_op(ecs_seed: Any, ecs_client: Any) -> None:
    sg = ecs_seed.group()
    rid = ecs_seed.egress(sg, port_range="80/80")
    modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=rid, SourceCidrIp="", Description="d")
    assert egress_perms(ecs_client, sg)[rid].description == "d"
    rid2 = ecs_seed.egress(sg, port_range="81/81", source_cidr_ip="192.168.0.0/16")
    err = expect_error(lambda: modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=rid2, SourceCidrIp=""),
                       "InvalidParam.InvalidModifyRuleRequest", 400)
    assert "SourceCidrIp" in err.message


def test_by_id_duplicate_counts_everything_but_description(ecs_seed: Any, ecs_client: Any) -> None:
    sg = ecs_seed.group()
    a = ecs_seed.egress(sg, port_range="80/80", priority="1")
    b = ecs_seed.egress(sg, port_range="80/80", priority="2")
    expect_error(lambda: modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=b, Priority="1",
                                Description="different"), "InvalidParam.InvalidModifyRuleRequest", 400)
    modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=b, Priority="3")  # not a duplicate
    modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=a, PortRange="80/80", Priority="1")  # itself: fine
    assert {p.priority for p in egress_perms(ecs_client, sg).values()} == {"1", "3"}


def test_by_match_changes_description_only(ecs_seed: Any, ecs_client: Any) -> None:
    sg = ecs_seed.group()
    target = ecs_seed.egress(sg, port_range="80/80", dest_cidr_ip="10.0.0.1/32", priority="5", policy="drop",
                             description="before")
    other = ecs_seed.egress(sg, port_range="80/80", dest_cidr_ip="10.0.0.1/32", priority="6", policy="drop",
                            description="other")
    # Case-insensitive protocol and 10.0.0.1 == 10.0.0.1/32, as the API compares them.
    modify(ecs_client, SecurityGroupId=sg, IpProtocol="tcp", PortRange="80/80", DestCidrIp="10.0.0.1",
           Priority="5", Policy="Drop", Description="after")
    perms = egress_perms(ecs_client, sg)
    assert (perms[target].description, perms[other].description) == ("after", "other")
    assert (perms[target].priority, perms[target].policy, perms[target].port_range) == ("5", "Drop", "80/80")
    # Priority defaults to 1 and Policy to accept: without them the rule is not found.
    expect_error(lambda: modify(ecs_client, SecurityGroupId=sg, IpProtocol="TCP", PortRange="80/80",
                                DestCidrIp="10.0.0.1/32", Policy="drop", Description="x"),
                 "SecurityGroupRule.NotFound", 404)
    expect_error(lambda: modify(ecs_client, SecurityGroupId=sg, IpProtocol="TCP", PortRange="80/80",
                                DestCidrIp="10.0.0.1/32", Priority="5", Description="x"),
                 "SecurityGroupRule.NotFound", 404)


def test_by_match_with_group_and_prefix_list_destinations(ecs_seed: Any, ecs_client: Any) -> None:
    sg, peer = ecs_seed.group(), ecs_seed.group(name="peer")
    pl = ecs_seed.prefix_list()
    g_rule = ecs_seed.egress(sg, port_range="22/22", dest_group_id=peer)
    pl_rule = ecs_seed.egress(sg, port_range="22/22", dest_prefix_list_id=pl)
    modify(ecs_client, SecurityGroupId=sg, IpProtocol="TCP", PortRange="22/22", DestGroupId=peer, Description="g")
    modify(ecs_client, SecurityGroupId=sg, IpProtocol="TCP", PortRange="22/22", DestPrefixListId=pl, Description="p")
    perms = egress_perms(ecs_client, sg)
    assert (perms[g_rule].description, perms[pl_rule].description) == ("g", "p")


def test_dest_prefix_list_is_ignored_when_a_cidr_is_given(ecs_seed: Any, ecs_client: Any) -> None:
    sg = ecs_seed.group()
    rid = ecs_seed.egress(sg, port_range="80/80", dest_cidr_ip="10.0.0.0/8")
    modify(ecs_client, SecurityGroupId=sg, IpProtocol="TCP", PortRange="80/80", DestCidrIp="10.0.0.0/8",
           DestPrefixListId="pl-doesnotexist", Description="ignored pl")
    assert egress_perms(ecs_client, sg)[rid].description == "ignored pl"

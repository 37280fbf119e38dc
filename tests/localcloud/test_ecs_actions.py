"""The other ECS actions through the official SDK over HTTP: groups, egress authorize/revoke, attribute shape and
paging, prefix lists, unknown action, quota."""
from __future__ import annotations

import json
import re
from typing import Any, Callable

import pytest

pytest.importorskip("alibabacloud_ecs20140526")
from alibabacloud_ecs20140526 import models
from alibabacloud_tea_openapi import utils_models
from alibabacloud_tea_openapi.exceptions import ClientException
from darabonba.runtime import RuntimeOptions

REGION = "cn-hangzhou"
ACCOUNT = "1234567890123456"


def expect_error(fn: Callable[[], Any], code: str, status: int) -> ClientException:
    with pytest.raises(ClientException) as info:
        fn()
    assert (info.value.code, info.value.status_code) == (code, status), info.value.message
    return info.value


def attribute(client: Any, sg: str, **kw: Any) -> Any:
    return client.describe_security_group_attribute(models.DescribeSecurityGroupAttributeRequest(
        region_id=REGION, security_group_id=sg, **kw)).body


def authorize(client: Any, sg: str, *perms: dict[str, Any], **flat: Any) -> Any:
    req = models.AuthorizeSecurityGroupEgressRequest().from_map(
        {"RegionId": REGION, "SecurityGroupId": sg, **flat, "Permissions": list(perms) or None})
    return client.authorize_security_group_egress(req)


def revoke(client: Any, sg: str, **params: Any) -> Any:
    req = models.RevokeSecurityGroupEgressRequest().from_map({"RegionId": REGION, "SecurityGroupId": sg, **params})
    return client.revoke_security_group_egress(req)


def rules_in_state(localcloud: Any, sg: str) -> list[dict[str, Any]]:
    return localcloud.state()["ecs"]["accounts"][ACCOUNT][REGION]["security_groups"][sg]["rules"]


# --- security groups -----------------------------------------------------------------------------------------
def test_create_describe_delete_security_group(ecs_client: Any, localcloud: Any) -> None:
    vpc = ecs_client.create_security_group(models.CreateSecurityGroupRequest(
        region_id=REGION, vpc_id="vpc-abc", security_group_name="web", description="d")).body.security_group_id
    classic = ecs_client.create_security_group(models.CreateSecurityGroupRequest(region_id=REGION)).body
    assert re.fullmatch(r"sg-[a-z0-9]{20}", vpc) and classic.request_id
    body = attribute(ecs_client, vpc)
    assert (body.security_group_name, body.description, body.vpc_id, body.region_id) == ("web", "d", "vpc-abc", REGION)
    assert attribute(ecs_client, classic.security_group_id).vpc_id == ""
    ecs_client.delete_security_group(models.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=vpc))
    expect_error(lambda: attribute(ecs_client, vpc), "InvalidSecurityGroupId.NotFound", 404)
    expect_error(lambda: ecs_client.delete_security_group(models.DeleteSecurityGroupRequest(
        region_id=REGION, security_group_id=vpc)), "InvalidSecurityGroupId.NotFound", 404)
    assert list(localcloud.state()["ecs"]["accounts"][ACCOUNT][REGION]["security_groups"]) == [
        classic.security_group_id]


def test_create_security_group_errors(ecs_client: Any) -> None:
    expect_error(lambda: ecs_client.create_security_group(models.CreateSecurityGroupRequest(
        region_id=REGION, vpc_id="not-a-vpc")), "InvalidVpcId.NotFound", 404)
    err = expect_error(lambda: ecs_client.create_security_group(models.CreateSecurityGroupRequest()),
                       "MissingParameter", 400)
    assert "RegionId" in err.message


def test_delete_referenced_group_is_refused(ecs_seed: Any, ecs_client: Any) -> None:
    sg, peer = ecs_seed.group(), ecs_seed.group()
    ecs_seed.egress(sg, dest_group_id=peer)
    expect_error(lambda: ecs_client.delete_security_group(models.DeleteSecurityGroupRequest(
        region_id=REGION, security_group_id=peer)), "DependencyViolation", 403)


def test_describe_security_groups_filters_and_pages(ecs_seed: Any, ecs_client: Any) -> None:
    a = [ecs_seed.group(vpc_id="vpc-a", name=f"a{i}") for i in range(12)]
    b = [ecs_seed.group(vpc_id="vpc-b", name=f"b{i}") for i in range(3)]

    def describe(**kw: Any) -> Any:
        return ecs_client.describe_security_groups(models.DescribeSecurityGroupsRequest(region_id=REGION, **kw)).body

    by_vpc = describe(vpc_id="vpc-b", page_size=50)
    assert [g.security_group_id for g in by_vpc.security_groups.security_group] == b and by_vpc.total_count == 3
    picked = describe(security_group_ids=json.dumps([a[0], b[1], "sg-unknown"]))
    assert {g.security_group_id for g in picked.security_groups.security_group} == {a[0], b[1]}
    # NextToken paging walks every group exactly once.
    seen, token = [], None
    while True:
        page = describe(max_results=10, next_token=token)
        seen += [g.security_group_id for g in page.security_groups.security_group]
        token = page.next_token
        if not token:
            break
    assert seen == a + b
    # PageNumber/PageSize paging.
    p2 = describe(page_number=2, page_size=5)
    assert [g.security_group_id for g in p2.security_groups.security_group] == a[5:10]
    assert (p2.page_number, p2.page_size, p2.total_count) == (2, 5, 15)
    expect_error(lambda: describe(security_group_ids="not json"), "InvalidSecurityGroupIds.Malformed", 400)
    # JSON beyond what a reader takes (an integer over 4300 digits, nesting over 100 levels): the same error
    for beyond in ("[" + "1" * 5000 + "]", "[" * 200 + "]" * 200):
        expect_error(lambda beyond=beyond: describe(security_group_ids=beyond), "InvalidSecurityGroupIds.Malformed", 400)
    expect_error(lambda: describe(max_results=101), "InvalidMaxResults.Malformed", 400)
    expect_error(lambda: describe(max_results=10, next_token="garbage!"), "InvalidNextToken.Malformed", 400)


def test_describe_security_groups_pages_stay_whole_while_groups_come_and_go(ecs_seed: Any, ecs_client: Any) -> None:
    """A scan pages through the groups while others create and delete them: no group that exists through
    the whole walk is skipped or returned twice."""
    groups = [ecs_seed.group(name=f"g{i}") for i in range(9)]

    def page(token: str | None) -> Any:
        return ecs_client.describe_security_groups(models.DescribeSecurityGroupsRequest(
            region_id=REGION, max_results=3, next_token=token)).body

    first = page(None)
    assert [g.security_group_id for g in first.security_groups.security_group] == groups[:3]
    ecs_client.delete_security_group(models.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=groups[1]))
    ecs_client.delete_security_group(models.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=groups[4]))
    added = ecs_seed.group(name="late")
    seen, token = [g.security_group_id for g in first.security_groups.security_group], first.next_token
    while token:
        body = page(token)
        seen += [g.security_group_id for g in body.security_groups.security_group]
        token = body.next_token
    survivors = [g for g in groups if g not in (groups[1], groups[4])]
    assert [g for g in seen if g in survivors] == survivors and len(seen) == len(set(seen))
    assert seen.count(added) == 1  # a group created mid-walk comes last, once


# --- authorize / describe attribute / revoke -------------------------------------------------------------------
def test_authorize_flat_and_permissions_and_permission_shape(ecs_seed: Any, ecs_client: Any) -> None:
    sg, peer = ecs_seed.group(), ecs_seed.group(name="peer")
    pl = ecs_seed.prefix_list(name="corp")
    authorize(ecs_client, sg, IpProtocol="tcp", PortRange="22/22", DestCidrIp="10.0.0.0/8", Description="flat")
    authorize(ecs_client, sg,
              {"IpProtocol": "udp", "PortRange": "53/53", "DestGroupId": peer, "Policy": "drop", "Priority": "9"},
              {"IpProtocol": "all", "PortRange": "-1/-1", "DestPrefixListId": pl},
              {"IpProtocol": "icmpv6", "PortRange": "-1/-1", "Ipv6DestCidrIp": "2001:db8::/32"})
    body = attribute(ecs_client, sg, direction="egress")
    perms = body.permissions.permission
    assert [p.ip_protocol for p in perms] == ["TCP", "UDP", "ALL", "ICMPV6"]
    flat, grp, plr, v6 = perms
    assert (flat.direction, flat.policy, flat.priority, flat.nic_type, flat.description) == (
        "egress", "Accept", "1", "intranet", "flat")
    assert re.fullmatch(r"sgr-[a-z0-9]{20}", flat.security_group_rule_id)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", flat.create_time)
    assert (grp.dest_group_id, grp.dest_group_name, grp.policy, grp.priority) == (peer, "peer", "Drop", "9")
    assert (plr.dest_prefix_list_id, plr.dest_prefix_list_name, plr.port_range) == (pl, "corp", "-1/-1")
    assert v6.ipv_6dest_cidr_ip == "2001:db8::/32"
    assert attribute(ecs_client, sg, direction="ingress").permissions.permission == []
    expect_error(lambda: attribute(ecs_client, sg, direction="out"), "InvalidDirection.Malformed", 400)


def test_authorize_identical_rule_is_not_added_twice(ecs_seed: Any, ecs_client: Any, localcloud: Any) -> None:
    sg = ecs_seed.group()
    authorize(ecs_client, sg, IpProtocol="TCP", PortRange="80/80", DestCidrIp="10.0.0.1/32", Description="a")
    authorize(ecs_client, sg, IpProtocol="tcp", PortRange="80/80", DestCidrIp="10.0.0.1", Description="b")
    authorize(ecs_client, sg, {"IpProtocol": "TCP", "PortRange": "80/80", "DestCidrIp": "10.0.0.1"},
              {"IpProtocol": "TCP", "PortRange": "80/80", "DestCidrIp": "10.0.0.1", "Priority": "2"})
    rules = rules_in_state(localcloud, sg)
    assert [(r["Priority"], r["Description"]) for r in rules] == [(1, "a"), (2, "")]


def test_authorize_validates_like_modify(ecs_seed: Any, ecs_client: Any) -> None:
    sg = ecs_seed.group()
    expect_error(lambda: authorize(ecs_client, sg, IpProtocol="TCP", PortRange="80/80"), "MissingParameter.Dest", 400)
    expect_error(lambda: authorize(ecs_client, sg, {"IpProtocol": "TCP", "PortRange": "80/80",
                                                    "DestCidrIp": "10.0.0.0/8"},
                                   {"IpProtocol": "XTP", "PortRange": "80/80", "DestCidrIp": "10.0.0.0/8"}),
                 "InvalidIpProtocol.ValueNotSupported", 400)
    assert attribute(ecs_client, sg).permissions.permission == []  # the valid first permission was not added


def test_rule_limit_is_authorization_limit_exceed(ecs_seed: Any, ecs_client: Any, localcloud: Any) -> None:
    state = localcloud.state()
    state["ecs"]["settings"]["rule_limit"] = 3
    localcloud.load_state(state)
    sg = ecs_seed.group()
    authorize(ecs_client, sg, *({"IpProtocol": "TCP", "PortRange": f"{p}/{p}", "DestCidrIp": "10.0.0.0/8"}
                                for p in (1, 2)))
    expect_error(lambda: authorize(ecs_client, sg, *({"IpProtocol": "TCP", "PortRange": f"{p}/{p}",
                                                      "DestCidrIp": "10.0.0.0/8"} for p in (3, 4))),
                 "AuthorizationLimitExceed", 403)
    assert len(rules_in_state(localcloud, sg)) == 2  # all or nothing
    authorize(ecs_client, sg, IpProtocol="TCP", PortRange="3/3", DestCidrIp="10.0.0.0/8")
    authorize(ecs_client, sg, IpProtocol="TCP", PortRange="3/3", DestCidrIp="10.0.0.0/8")  # duplicate: no new rule
    expect_error(lambda: authorize(ecs_client, sg, IpProtocol="TCP", PortRange="4/4", DestCidrIp="10.0.0.0/8"),
                 "AuthorizationLimitExceed", 403)


def test_default_rule_limit_is_200(ecs_seed: Any, ecs_client: Any, localcloud: Any) -> None:
    sg = ecs_seed.group()
    perms = [{"IpProtocol": "TCP", "PortRange": f"{p}/{p}", "DestCidrIp": "10.0.0.0/8"} for p in range(1, 201)]
    authorize(ecs_client, sg, *perms)
    expect_error(lambda: authorize(ecs_client, sg, IpProtocol="UDP", PortRange="1/1", DestCidrIp="10.0.0.0/8"),
                 "AuthorizationLimitExceed", 403)
    assert len(rules_in_state(localcloud, sg)) == 200


def test_revoke_by_id_and_by_match(ecs_seed: Any, ecs_client: Any, localcloud: Any) -> None:
    sg = ecs_seed.group()
    r1, r2, r3 = (ecs_seed.egress(sg, port_range=f"{p}/{p}") for p in (1, 2, 3))
    revoke(ecs_client, sg, SecurityGroupRuleId=[r1])
    revoke(ecs_client, sg, IpProtocol="tcp", PortRange="2/2", DestCidrIp="10.0.0.0/8")
    assert [r["SecurityGroupRuleId"] for r in rules_in_state(localcloud, sg)] == [r3]
    expect_error(lambda: revoke(ecs_client, sg, SecurityGroupRuleId=[r1]), "SecurityGroupRule.NotFound", 404)
    revoke(ecs_client, sg, Permissions=[{"IpProtocol": "TCP", "PortRange": "3/3", "DestCidrIp": "10.0.0.0/8"}])
    assert rules_in_state(localcloud, sg) == []


def test_describe_attribute_pages_with_next_token(ecs_seed: Any, ecs_client: Any) -> None:
    sg = ecs_seed.group()
    authorize(ecs_client, sg, *({"IpProtocol": "TCP", "PortRange": f"{p}/{p}", "DestCidrIp": "10.0.0.0/8"}
                                for p in range(1, 26)))
    ids, token, pages = [], None, 0
    while True:
        body = attribute(ecs_client, sg, max_results=10, next_token=token)
        ids += [p.security_group_rule_id for p in body.permissions.permission]
        pages += 1
        token = body.next_token
        if not token:
            break
    assert pages == 3 and len(ids) == len(set(ids)) == 25
    assert len(attribute(ecs_client, sg).permissions.permission) == 25  # default 500 per page
    expect_error(lambda: attribute(ecs_client, sg, max_results=9), "InvalidMaxResults.Malformed", 400)
    expect_error(lambda: attribute(ecs_client, sg, max_results=1001), "InvalidMaxResults.Malformed", 400)
    expect_error(lambda: attribute(ecs_client, sg, next_token="garbage!"), "InvalidNextToken.Malformed", 400)
    expect_error(lambda: attribute(ecs_client, sg, nic_type="wifi"), "InvalidNicType.ValueNotSupported", 400)


def test_classic_group_nic_type_filter(ecs_seed: Any, ecs_client: Any) -> None:
    sg, peer = ecs_seed.group(vpc_id=None), ecs_seed.group(vpc_id=None)
    ecs_seed.egress(sg, port_range="80/80")  # internet by default in the classic network
    # (ecs_seed finds new rules with the default NicType filter, which hides intranet rules here.)
    authorize(ecs_client, sg, IpProtocol="TCP", PortRange="81/81", NicType="intranet", DestGroupId=peer)
    assert [p.port_range for p in attribute(ecs_client, sg).permissions.permission] == ["80/80"]
    assert [p.port_range for p in attribute(ecs_client, sg, nic_type="intranet").permissions.permission] == ["81/81"]
    # A classic group's default NicType is internet, which a group destination does not allow.
    expect_error(lambda: authorize(ecs_client, sg, IpProtocol="TCP", PortRange="82/82", DestGroupId=peer),
                 "InvalidDestGroupId.Mismatch", 403)


# --- prefix lists ----------------------------------------------------------------------------------------
def test_prefix_lists(ecs_seed: Any, ecs_client: Any) -> None:
    v4 = [ecs_seed.prefix_list(name=f"four{i}", cidrs=["10.0.0.0/8", "192.168.0.0/16"]) for i in range(3)]
    v6 = ecs_seed.prefix_list(name="six", cidrs=["2001:db8::/32"], address_family="IPv6", max_entries=5,
                              description="d6")
    assert all(re.fullmatch(r"pl-[a-z0-9]{20}", x) for x in v4 + [v6])

    def describe(**kw: Any) -> Any:
        return ecs_client.describe_prefix_lists(models.DescribePrefixListsRequest(region_id=REGION, **kw)).body

    one = describe(prefix_list_id=[v6]).prefix_lists.prefix_list
    assert [(p.prefix_list_id, p.address_family, p.max_entries, p.description, p.prefix_list_name)
            for p in one] == [(v6, "IPv6", 5, "d6", "six")]
    assert [p.prefix_list_id for p in describe(address_family="IPv4").prefix_lists.prefix_list] == v4
    first = describe(max_results=2)
    second = describe(max_results=2, next_token=first.next_token)
    assert [p.prefix_list_id for p in first.prefix_lists.prefix_list + second.prefix_lists.prefix_list] == v4 + [v6]
    assert not second.next_token
    sg = ecs_seed.group()
    ecs_seed.egress(sg, dest_prefix_list_id=v4[0])
    assert describe(prefix_list_id=[v4[0]]).prefix_lists.prefix_list[0].association_count == 1
    expect_error(lambda: ecs_seed.prefix_list(name="bad", address_family="IPv5"), "InvalidAddressFamily.Malformed", 400)
    expect_error(lambda: ecs_seed.prefix_list(name="mixed", cidrs=["2001:db8::/32"]),
                 "InvalidParam.EntryAddressFamilyMismatch", 400)
    expect_error(lambda: ecs_seed.prefix_list(name="many", cidrs=["10.0.0.0/8", "11.0.0.0/8"], max_entries=1),
                 "InvalidParam.EntriesExceedMaxEntries", 400)


# --- the wire ----------------------------------------------------------------------------------------------
def test_unknown_action_is_400_invalid_action(ecs_client: Any) -> None:
    params = utils_models.Params(action="DescribeNothing", version="2014-05-26", protocol="HTTPS", pathname="/",
                                 method="POST", auth_type="AK", style="RPC", req_body_type="formData",
                                 body_type="json")
    request = utils_models.OpenApiRequest(query={"RegionId": REGION})
    expect_error(lambda: ecs_client.call_api(params, request, RuntimeOptions()), "InvalidAction.NotFound", 400)


def test_state_round_trips_and_accounts_are_separate(ecs_seed: Any, ecs_client: Any, localcloud: Any) -> None:
    sg = ecs_seed.group()
    ecs_seed.egress(sg, description="kept")
    dumped = localcloud.state()
    localcloud.reset()
    assert attribute_or_none(ecs_client, sg) is None
    localcloud.load_state(dumped)
    assert localcloud.state() == dumped
    assert attribute(ecs_client, sg).permissions.permission[0].description == "kept"
    # Another account's state is invisible to this caller.
    dumped["ecs"]["accounts"] = {"999": dumped["ecs"]["accounts"][ACCOUNT]}
    localcloud.load_state(dumped)
    assert attribute_or_none(ecs_client, sg) is None


def attribute_or_none(client: Any, sg: str) -> Any:
    try:
        return attribute(client, sg)
    except ClientException as err:
        assert err.code == "InvalidSecurityGroupId.NotFound"
        return None

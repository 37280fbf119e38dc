"""The pytest plugin's fixtures against the ECS emulator, through the official ECS client."""
from __future__ import annotations

from typing import Any

from alibabacloud_ecs20140526 import models as ecs


def test_create_and_describe_security_group(ecs_client: Any, localcloud: Any) -> None:
    sg = ecs_client.create_security_group(ecs.CreateSecurityGroupRequest(
        region_id="cn-hangzhou", vpc_id="vpc-1", security_group_name="web")).body.security_group_id
    groups = ecs_client.describe_security_groups(ecs.DescribeSecurityGroupsRequest(
        region_id="cn-hangzhou")).body.security_groups.security_group
    assert [g.security_group_id for g in groups] == [sg]
    assert [c["action"] for c in localcloud.calls()] == ["CreateSecurityGroup", "DescribeSecurityGroups"]
    assert localcloud.calls()[0]["params"]["VpcId"] == "vpc-1"


def test_each_test_starts_empty(ecs_client: Any, localcloud: Any) -> None:
    groups = ecs_client.describe_security_groups(ecs.DescribeSecurityGroupsRequest(
        region_id="cn-hangzhou")).body.security_groups.security_group
    assert groups == []


def test_seed_egress_returns_the_new_rule_id(ecs_seed: Any) -> None:
    sg = ecs_seed.group(name="app")
    r1 = ecs_seed.egress(sg)
    r2 = ecs_seed.egress(sg, port_range="80/80", dest_cidr_ip="192.168.0.0/16")
    assert r1.startswith("sgr-") and r2.startswith("sgr-") and r1 != r2
    assert sorted(ecs_seed.egress_rule_ids(sg)) == sorted([r1, r2])


def test_seed_prefix_list_usable_in_a_rule(ecs_seed: Any) -> None:
    pl = ecs_seed.prefix_list(name="corp", cidrs=["10.1.0.0/16", "10.2.0.0/16"])
    assert pl.startswith("pl-")
    sg = ecs_seed.group()
    assert ecs_seed.egress(sg, dest_prefix_list_id=pl).startswith("sgr-")


def test_state_dump_and_load_covers_ecs(ecs_seed: Any, localcloud: Any) -> None:
    sg = ecs_seed.group(name="kept")
    rule = ecs_seed.egress(sg)
    state = localcloud.state()
    assert set(state) == {"ecs", "eventbridge", "mns"}
    localcloud.reset()
    assert ecs_seed.client.describe_security_groups(ecs.DescribeSecurityGroupsRequest(
        region_id="cn-hangzhou")).body.security_groups.security_group == []
    localcloud.load_state(state)
    assert ecs_seed.egress_rule_ids(sg) == [rule]

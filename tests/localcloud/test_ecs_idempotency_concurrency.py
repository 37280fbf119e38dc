"""ClientToken idempotence and concurrent writers, through the official SDK over HTTP."""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

pytest.importorskip("alibabacloud_ecs20140526")
from alibabacloud_ecs20140526 import models
from alibabacloud_tea_openapi.exceptions import ClientException

from localcloud.base import CallContext
from localcloud.ecs import EcsService

REGION = "cn-hangzhou"
ACCOUNT = "1234567890123456"


def groups_in_state(localcloud: Any) -> dict[str, Any]:
    return localcloud.state()["ecs"]["accounts"].get(ACCOUNT, {}).get(REGION, {}).get("security_groups", {})


def modify(client: Any, **params: Any) -> Any:
    return client.modify_security_group_egress_rule(
        models.ModifySecurityGroupEgressRuleRequest().from_map({"RegionId": REGION, **params}))


def test_client_token_replay_returns_first_response_and_has_one_effect(ecs_client: Any, localcloud: Any) -> None:
    req = models.CreateSecurityGroupRequest(region_id=REGION, vpc_id="vpc-1", client_token="tok-create-1")
    first = ecs_client.create_security_group(req).body
    again = ecs_client.create_security_group(req).body
    assert (again.security_group_id, again.request_id) == (first.security_group_id, first.request_id)
    assert list(groups_in_state(localcloud)) == [first.security_group_id]
    calls = localcloud.calls("CreateSecurityGroup")
    # Two calls, one effect; the log shows the RequestId each caller got: the first call's, twice.
    assert [c["requestId"] for c in calls] == [first.request_id, first.request_id]


def test_authorize_replay_does_not_re_add_a_revoked_rule(ecs_seed: Any, ecs_client: Any, localcloud: Any) -> None:
    sg = ecs_seed.group()
    req = models.AuthorizeSecurityGroupEgressRequest().from_map({
        "RegionId": REGION, "SecurityGroupId": sg, "ClientToken": "tok-auth",
        "Permissions": [{"IpProtocol": "TCP", "PortRange": "80/80", "DestCidrIp": "10.0.0.0/8"}]})
    first = ecs_client.authorize_security_group_egress(req).body.request_id
    rid = groups_in_state(localcloud)[sg]["rules"][0]["SecurityGroupRuleId"]
    ecs_client.revoke_security_group_egress(models.RevokeSecurityGroupEgressRequest(
        region_id=REGION, security_group_id=sg, security_group_rule_id=[rid]))
    assert ecs_client.authorize_security_group_egress(req).body.request_id == first
    assert groups_in_state(localcloud)[sg]["rules"] == []  # the replay had no effect


def test_modify_replay_and_mismatch(ecs_seed: Any, ecs_client: Any, localcloud: Any) -> None:
    sg = ecs_seed.group()
    rid = ecs_seed.egress(sg)
    first = modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=rid, Description="a", ClientToken="t1")
    modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=rid, Description="b", ClientToken="t2")
    replay = modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=rid, Description="a", ClientToken="t1")
    assert replay.body.request_id == first.body.request_id
    assert groups_in_state(localcloud)[sg]["rules"][0]["Description"] == "b"
    with pytest.raises(ClientException) as info:
        modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=rid, Description="c", ClientToken="t1")
    assert (info.value.code, info.value.status_code) == ("IdempotentParameterMismatch", 400)
    assert groups_in_state(localcloud)[sg]["rules"][0]["Description"] == "b"


def test_failed_call_does_not_consume_the_token(ecs_seed: Any, ecs_client: Any) -> None:
    sg = ecs_seed.group()
    rid = ecs_seed.egress(sg)
    with pytest.raises(ClientException):
        modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=rid, Priority="500", ClientToken="t-fail")
    # A 4xx is not stored: the corrected request with the same token runs (the parameters differ anyway).
    modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=rid, Priority="50", ClientToken="t-fail")


def test_tokens_are_scoped_per_action_and_account() -> None:
    svc = EcsService()
    a, b = CallContext("111", "ak1"), CallContext("222", "ak2")
    params = {"RegionId": REGION, "ClientToken": "shared"}
    g1 = svc.handle("CreateSecurityGroup", params, a)["SecurityGroupId"]
    g2 = svc.handle("CreateSecurityGroup", params, b)["SecurityGroupId"]
    assert g1 != g2  # another account's token is not a replay
    pl = svc.handle("CreatePrefixList", {**params, "PrefixListName": "pl", "AddressFamily": "IPv4",
                                         "MaxEntries": "5"}, a)
    assert pl["PrefixListId"].startswith("pl-")  # another action's token is not a mismatch
    replay = svc.handle("CreateSecurityGroup", params, a)
    assert replay["SecurityGroupId"] == g1 and "RequestId" in replay


def test_concurrent_same_token_has_one_effect(ecs_client: Any, localcloud: Any) -> None:
    req = models.CreateSecurityGroupRequest(region_id=REGION, vpc_id="vpc-1", client_token="tok-race")
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: ecs_client.create_security_group(req).body.security_group_id, range(16)))
    assert len(ids) == 1 and list(groups_in_state(localcloud)) == list(ids)


def test_concurrent_modifies_lose_no_update(ecs_seed: Any, ecs_client: Any, localcloud: Any) -> None:
    """16 threads each modify their own rule of one group 20 times: every rule ends with its last write."""
    sg = ecs_seed.group()
    authorize = models.AuthorizeSecurityGroupEgressRequest().from_map({
        "RegionId": REGION, "SecurityGroupId": sg,
        "Permissions": [{"IpProtocol": "TCP", "PortRange": f"{1000 + i}/{1000 + i}", "DestCidrIp": "10.0.0.0/8"}
                        for i in range(16)]})
    ecs_client.authorize_security_group_egress(authorize)
    rule_ids = [r["SecurityGroupRuleId"] for r in groups_in_state(localcloud)[sg]["rules"]]
    assert len(rule_ids) == 16
    start = threading.Barrier(16)

    def writer(i: int) -> None:
        start.wait()
        for j in range(20):
            port = 2000 + i * 100 + j
            modify(ecs_client, SecurityGroupId=sg, SecurityGroupRuleId=rule_ids[i], PortRange=f"{port}/{port}",
                   Priority=str(j + 1), Description=f"t{i}-w{j}")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(writer, range(16)))
    rules = {r["SecurityGroupRuleId"]: r for r in groups_in_state(localcloud)[sg]["rules"]}
    assert len(rules) == 16
    for i, rid in enumerate(rule_ids):
        port = 2000 + i * 100 + 19
        assert (rules[rid]["PortRange"], rules[rid]["Priority"], rules[rid]["Description"]) == (
            f"{port}/{port}", 20, f"t{i}-w19")
    assert len(localcloud.calls("ModifySecurityGroupEgressRule")) == 16 * 20


def test_service_lock_alone_prevents_lost_updates() -> None:
    """Same race straight on EcsService (no HTTP server lock in front): the service's own lock must hold."""
    svc = EcsService()
    ctx = CallContext(ACCOUNT, "ak")
    sg = svc.handle("CreateSecurityGroup", {"RegionId": REGION, "VpcId": "vpc-1"}, ctx)["SecurityGroupId"]
    flat = {f"Permissions.{i + 1}.{k}": v for i in range(16)
            for k, v in {"IpProtocol": "TCP", "PortRange": f"{i + 1}/{i + 1}", "DestCidrIp": "10.0.0.0/8"}.items()}
    svc.handle("AuthorizeSecurityGroupEgress", {"RegionId": REGION, "SecurityGroupId": sg, **flat}, ctx)
    rule_ids = [r["SecurityGroupRuleId"] for r in
                svc.dump_state()["accounts"][ACCOUNT][REGION]["security_groups"][sg]["rules"]]
    start = threading.Barrier(16)

    def writer(i: int) -> None:
        start.wait()
        for j in range(200):
            svc.handle("ModifySecurityGroupEgressRule", {
                "RegionId": REGION, "SecurityGroupId": sg, "SecurityGroupRuleId": rule_ids[i],
                "PortRange": f"{1000 + i * 1000 + j}/{1000 + i * 1000 + j}", "Description": f"{i}-{j}"}, ctx)
            # Interleave a token-guarded create per thread: exactly one group per token, whatever the race.
            svc.handle("CreateSecurityGroup", {"RegionId": REGION, "ClientToken": f"tok-{j}"}, ctx)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(writer, range(16)))
    state = svc.dump_state()["accounts"][ACCOUNT][REGION]["security_groups"]
    assert len(state) == 1 + 200
    rules = {r["SecurityGroupRuleId"]: r for r in state[sg]["rules"]}
    assert [(rules[rid]["PortRange"], rules[rid]["Description"]) for rid in rule_ids] == [
        (f"{1000 + i * 1000 + 199}/{1000 + i * 1000 + 199}", f"{i}-199") for i in range(16)]
    json.dumps(svc.dump_state())  # JSON-able


def test_unknown_action_direct_is_not_200() -> None:
    from localcloud.base import ApiError

    with pytest.raises(ApiError) as info:
        EcsService().handle("RunInstances", {"RegionId": REGION}, CallContext(ACCOUNT, "ak"))
    assert (info.value.status, info.value.code) == (400, "InvalidAction.NotFound")

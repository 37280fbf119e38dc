"""Both SDK generations against localcloud: the classic ``aliyun-python-sdk-core`` + ``aliyun-python-sdk-ecs``
(RPC signature 1.0, parameters in the query) and the current ``alibabacloud_ecs20140526`` (ACS3). The same
scenario -- every ECS action localcloud implements: create groups, authorize, describe with both pagings,
modify by ID and by match, revoke, prefix lists, an error code, ClientToken replay, delete -- runs through
each on a fresh emulator, and the transcripts (responses, errors) and the final ECS state must be identical
once generated ids and times are named by their order of creation."""
from __future__ import annotations

import importlib
import json
import re
from typing import Any, Callable

from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_tea_openapi.exceptions import ClientException as TeaClientException
from alibabacloud_tea_openapi.exceptions import ServerException as TeaServerException
from aliyunsdkcore.acs_exception.exceptions import ServerException as ClassicServerException

REGION = "cn-hangzhou"
_ID = re.compile(r"\b(?:sg|sgr|pl)-[0-9a-z]{20}\b")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
# API list parameter -> the classic request's setter (the others are set_<Name>).
_CLASSIC_LIST_SETTERS = {"Permissions": "set_Permissions", "Entry": "set_Entrys",
                         "SecurityGroupRuleId": "set_SecurityGroupRuleIds", "PrefixListId": "set_PrefixListIds"}


class Failure(Exception):
    def __init__(self, code: str, status: int) -> None:
        super().__init__(f"{status} {code}")
        self.code, self.status = code, status


Call = Callable[[str, dict[str, Any]], dict[str, Any]]


def current_call(client: Any) -> Call:
    """One ECS action through the current SDK's typed request and method (fields under their API names)."""
    def call(action: str, fields: dict[str, Any]) -> dict[str, Any]:
        request = getattr(ecs_models, f"{action}Request")().from_map({"RegionId": REGION, **fields})
        method = getattr(client, re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower())
        try:
            return method(request).body.to_map()
        except (TeaClientException, TeaServerException) as exc:
            raise Failure(exc.code, exc.status_code) from None
    return call


def classic_call(client: Any) -> Call:
    """The same through the classic SDK's request class and ``do_action_with_exception``."""
    def call(action: str, fields: dict[str, Any]) -> dict[str, Any]:
        module = importlib.import_module(f"aliyunsdkecs.request.v20140526.{action}Request")
        request = getattr(module, f"{action}Request")()
        for name, value in fields.items():
            setter = _CLASSIC_LIST_SETTERS[name] if isinstance(value, list) else f"set_{name}"
            getattr(request, setter)(value)
        try:
            return json.loads(client.do_action_with_exception(request))
        except ClassicServerException as exc:
            raise Failure(exc.get_error_code(), exc.get_http_status()) from None
    return call


def scenario(call: Call) -> tuple[list[Any], list[str]]:
    """Run every action; return the transcript and the ids in order of creation."""
    created: list[str] = []
    log: list[Any] = []

    def step(action: str, fields: dict[str, Any], keep_request_id: bool = False) -> dict[str, Any]:
        try:
            body = call(action, fields)
        except Failure as f:
            log.append([action, "error", f.code, f.status])
            return {}
        log.append([action, {k: v for k, v in body.items() if k != "RequestId" or keep_request_id}])
        return body

    def egress_ids(sg: str) -> list[str]:
        body = step("DescribeSecurityGroupAttribute", {"SecurityGroupId": sg, "Direction": "egress"})
        return [p["SecurityGroupRuleId"] for p in body["Permissions"]["Permission"]]

    groups = []
    for n in range(5):
        body = step("CreateSecurityGroup", {"VpcId": "vpc-1", "SecurityGroupName": f"group-{n}",
                                            "Description": f"scenario group {n}"})
        groups.append(body["SecurityGroupId"])
        created.append(body["SecurityGroupId"])
    sg = groups[0]
    body = step("CreatePrefixList", {"PrefixListName": "corp", "AddressFamily": "IPv4", "MaxEntries": 5,
                                     "Entry": [{"Cidr": "10.1.0.0/16", "Description": "a"},
                                               {"Cidr": "10.2.0.0/16", "Description": "b"}]})
    created.append(body["PrefixListId"])
    step("DescribePrefixLists", {"PrefixListId": [body["PrefixListId"]]})

    # Authorize: three rules in one call, then ClientToken replay (same token, same request: one rule,
    # the first call's RequestId), then the token reused for another request.
    rules = [{"IpProtocol": "TCP", "PortRange": "443/443", "DestCidrIp": "10.0.0.0/8", "Policy": "accept",
              "Priority": "1", "Description": "https"},
             {"IpProtocol": "UDP", "PortRange": "53/53", "DestCidrIp": "10.0.0.2/32", "Policy": "accept",
              "Priority": "2"},
             {"IpProtocol": "TCP", "PortRange": "22/22", "DestPrefixListId": created[-1], "Policy": "drop",
              "Priority": "3"}]
    step("AuthorizeSecurityGroupEgress", {"SecurityGroupId": sg, "Permissions": rules})
    created.extend(egress_ids(sg))
    replayed = {"SecurityGroupId": sg, "ClientToken": "replay-token-1",
                "Permissions": [{"IpProtocol": "TCP", "PortRange": "8080/8080", "DestCidrIp": "192.168.0.0/16",
                                 "Policy": "accept", "Priority": "5"}]}
    first = step("AuthorizeSecurityGroupEgress", replayed, keep_request_id=True)
    again = step("AuthorizeSecurityGroupEgress", replayed, keep_request_id=True)
    log.append(["replay keeps the RequestId", first.get("RequestId") == again.get("RequestId") is not None])
    log[-3][1].pop("RequestId", None)
    log[-2][1].pop("RequestId", None)
    step("AuthorizeSecurityGroupEgress", {**replayed, "Permissions": [{**replayed["Permissions"][0],
                                                                       "PortRange": "8081/8081"}]})
    created.extend(i for i in egress_ids(sg) if i not in created)

    # Modify by ID (a new port range) and by match (description only), an error code, then revoke.
    assert len(created) == 10  # 5 groups, 1 prefix list, 3 + 1 rules
    https, dns, ssh, alt = created[6], created[7], created[8], created[9]
    step("ModifySecurityGroupEgressRule", {"SecurityGroupId": sg, "SecurityGroupRuleId": https,
                                           "PortRange": "8443/8443"})
    step("ModifySecurityGroupEgressRule", {"SecurityGroupId": sg, "IpProtocol": "UDP", "PortRange": "53/53",
                                           "DestCidrIp": "10.0.0.2/32", "Policy": "accept", "Priority": "2",
                                           "Description": "dns by match"})
    step("ModifySecurityGroupEgressRule", {"SecurityGroupId": sg, "SecurityGroupRuleId": ssh,
                                           "PortRange": "70000/1"})  # InvalidParam.PortRange
    step("ModifySecurityGroupEgressRule", {"SecurityGroupId": sg, "SecurityGroupRuleId": "sgr-doesnotexist"})
    step("RevokeSecurityGroupEgress", {"SecurityGroupId": sg, "SecurityGroupRuleId": [alt]})
    step("DescribeSecurityGroupAttribute", {"SecurityGroupId": sg, "Direction": "egress"})
    assert dns  # named in the transcript by its creation order

    # Describe with both pagings.
    step("DescribeSecurityGroups", {"PageSize": 2, "PageNumber": 2})
    token = ""
    while True:
        body = step("DescribeSecurityGroups", {"MaxResults": 2, **({"NextToken": token} if token else {})})
        token = body.get("NextToken") or ""
        if not token:
            break
    step("DescribeSecurityGroups", {"MaxResults": 0})  # out of range: an error code
    step("DeleteSecurityGroup", {"SecurityGroupId": groups[4]})
    step("DeleteSecurityGroup", {"SecurityGroupId": groups[4]})  # gone now
    return log, created


def normalised(obj: Any, created: list[str]) -> Any:
    names = {id_: f"<id{n}>" for n, id_ in enumerate(created)}
    text = json.dumps(obj, sort_keys=True)
    text = _ID.sub(lambda m: names.get(m.group(0), "<unknown id>"), text)
    return json.loads(_TIME.sub("<time>", text))


def run(localcloud: Any, call: Call) -> tuple[Any, Any]:
    localcloud.reset()
    log, created = scenario(call)
    return normalised(log, created), normalised(localcloud.state()["ecs"], created)


def test_both_generations_leave_identical_state(localcloud: Any, ecs_client: Any, acs_client: Any) -> None:
    current_log, current_state = run(localcloud, current_call(ecs_client))
    classic_log, classic_state = run(localcloud, classic_call(acs_client))
    assert classic_log == current_log
    assert classic_state == current_state
    # The scenario did what it says (so that agreeing is not agreeing on nothing).
    errors = [entry[2] for entry in current_log if len(entry) == 4 and entry[1] == "error"]
    assert errors == ["IdempotentParameterMismatch", "InvalidParam.PortRange", "SecurityGroupRule.NotFound",
                      "InvalidMaxResults.Malformed", "InvalidSecurityGroupId.NotFound"]
    assert ["replay keeps the RequestId", True] in current_log
    groups = current_state["accounts"]["1234567890123456"][REGION]["security_groups"]
    assert len(groups) == 4
    rules = {r["SecurityGroupRuleId"]: r for r in groups["<id0>"]["rules"]}
    # <id9> (the replayed rule, created once) was revoked; the token reused for other content made nothing.
    assert set(rules) == {"<id6>", "<id7>", "<id8>"}
    assert rules["<id6>"]["PortRange"] == "8443/8443"
    assert rules["<id7>"]["Description"] == "dns by match"
    calls = localcloud.calls()
    assert calls and all(c.get("signature") == "1.0" for c in calls)  # the last run was the classic one


def test_classic_paging_matches(localcloud: Any, acs_client: Any, ecs_client: Any) -> None:
    call = classic_call(acs_client)
    ids = [call("CreateSecurityGroup", {"VpcId": "vpc-1"})["SecurityGroupId"] for _ in range(5)]
    pages, token = [], ""
    while True:
        body = call("DescribeSecurityGroups", {"MaxResults": 2, **({"NextToken": token} if token else {})})
        pages.append([g["SecurityGroupId"] for g in body["SecurityGroups"]["SecurityGroup"]])
        token = body.get("NextToken") or ""
        if not token:
            break
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]
    legacy = call("DescribeSecurityGroups", {"PageSize": 2, "PageNumber": 3})
    assert (legacy["TotalCount"], [g["SecurityGroupId"] for g in legacy["SecurityGroups"]["SecurityGroup"]]) == \
        (5, ids[4:5])

"""One RAM role per function, granting exactly what that function's code calls (found by following its imports,
tests/deploy/codegraph.py) plus what Function Compute does with the role on its behalf (derived from the
function's own LogConfig and async destination) -- nothing more, nothing missing."""
from __future__ import annotations

import copy
import re
from pathlib import Path, PurePosixPath
from typing import Any

import codegraph
import pytest
import roscheck

ROOT = Path(__file__).resolve().parents[2]
# An SDK client (what makes calls); its exceptions and models may be imported anywhere.
SDK_CLIENTS = re.compile(r"^\s*(?:from|import)\s+(alibabacloud_\w+\.client|mns\.(?:account|queue)|aliyunsdkcore\.client)\b",
                         re.M)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return roscheck.load(ROOT / "template.yml")


def sub_text(value: Any) -> str:
    """A template value as Fn::Sub text: ``{"Ref": "X"}`` -> ``${X}``, ``GetAtt [R, A]`` -> ``${R.A}``."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        return value["Fn::Sub"]
    if isinstance(value, dict) and "Ref" in value:
        return "${" + value["Ref"] + "}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    return str(value)


def function_folder(template: dict[str, Any], props: dict[str, Any]) -> str:
    obj = props["Code"]["OssObjectName"]
    default = template["Parameters"][obj["Ref"]]["Default"] if isinstance(obj, dict) else obj
    return PurePosixPath(default).name.removesuffix(".zip")


def platform_grants(template: dict[str, Any], name: str, props: dict[str, Any]) -> set[tuple[str, str]]:
    """What FC needs the function's role for: writing the LogConfig logstore, the async failure destination."""
    grants = set()
    log = props.get("LogConfig")
    if log:
        grants.add(("log:PostLogStoreLogs", "acs:log:${ALIYUN::Region}:${ALIYUN::AccountId}:project/"
                    f"{sub_text(log['Project'])}/logstore/{sub_text(log['Logstore'])}"))
    for res in template["Resources"].values():
        if res["Type"] == "ALIYUN::FC3::AsyncInvokeConfig" and \
                res["Properties"]["FunctionName"] == {"Fn::GetAtt": [name, "FunctionName"]}:
            for target in (res["Properties"].get("DestinationConfig") or {}).values():
                destination = sub_text(target["Destination"])
                if destination.startswith("acs:mns:"):
                    grants.add(("mns:SendMessage", destination))
    return grants


def role_grants(template: dict[str, Any], role: str) -> set[tuple[str, str]]:
    grants = set()
    for res in template["Resources"].values():
        if res["Type"] != "ALIYUN::RAM::ManagedPolicy" or \
                {"Fn::GetAtt": [role, "RoleName"]} not in res["Properties"].get("Roles", []):
            continue
        for statement in res["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            grants |= {(a, sub_text(r)) for a in actions for r in resources}
    return grants


def role_problems(template: dict[str, Any]) -> list[str]:
    """Per function: actions its code calls that its role lacks, actions granted that nothing calls, platform
    grants missing; and roles shared between functions."""
    out = []
    roles: dict[str, str] = {}
    for name, res in template["Resources"].items():
        if res["Type"] != "ALIYUN::FC3::Function":
            continue
        props = res["Properties"]
        role = props["Role"]["Fn::GetAtt"][0]
        if role in roles:
            out.append(f"{name}: shares role {role} with {roles[role]} (one role per function)")
        roles[role] = name
        if template["Resources"][role]["Properties"].get("Policies"):
            out.append(f"{role}: inline Policies escape this check; use ALIYUN::RAM::ManagedPolicy")
        folder = function_folder(template, props)
        granted = role_grants(template, role)
        platform = platform_grants(template, name, props)
        for action, resource in sorted(platform - granted):
            out.append(f"{name} ({folder}): Function Compute needs {action} on {resource}; {role} does not grant it")
        code_granted = {action for action, _ in granted - platform}
        calls = codegraph.api_actions(folder)
        for action in sorted(calls - code_granted):
            out.append(f"{name} ({folder}): the code calls {action}; {role} does not grant it")
        for action in sorted(code_granted - calls):
            out.append(f"{name} ({folder}): {role} grants {action}, which the code never calls")
    return out


def test_every_role_grants_exactly_what_its_function_calls(template: dict[str, Any]) -> None:
    assert role_problems(template) == []
    # The import analysis found the calls each function is known for (so it is not passing by finding none).
    assert codegraph.api_actions("apply_egress_rule") == {
        "ecs:DescribeSecurityGroupAttribute", "ecs:ModifySecurityGroupEgressRule", "eventbridge:PutEvents"}
    assert codegraph.api_actions("normalise_descriptions") == {
        "ecs:DescribeSecurityGroups", "ecs:DescribeSecurityGroupAttribute", "eventbridge:PutEvents",
        "mns:SendMessage", "mns:BatchSendMessage"}  # reads, enqueues, reports -- never a Modify
    # A batch send is mns:SendMessage in MNS's RAM table and mns:BatchSendMessage in its API reference: both.
    assert codegraph.api_actions("ticket_webhook") == {"mns:SendMessage", "mns:BatchSendMessage"}
    assert codegraph.api_actions("outcome_bus") == {"eventbridge:CreateEventBus"}
    assert codegraph.api_actions("ticket_notify") == set()


def test_a_missing_action_is_caught(template: dict[str, Any]) -> None:
    doc = copy.deepcopy(template)
    statements = doc["Resources"]["ApplyCodePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if s["Action"] != ["eventbridge:PutEvents"]]
    assert role_problems(doc) == [
        "ApplyFunction (apply_egress_rule): the code calls eventbridge:PutEvents; ApplyRole does not grant it"]


def test_an_action_nothing_calls_is_caught(template: dict[str, Any]) -> None:
    doc = copy.deepcopy(template)
    statement = doc["Resources"]["NormaliseCodePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    statement["Action"].append("ecs:ModifySecurityGroupEgressRule")
    assert role_problems(doc) == ["NormaliseFunction (normalise_descriptions): NormaliseRole grants "
                                  "ecs:ModifySecurityGroupEgressRule, which the code never calls"]


def test_a_missing_platform_grant_or_a_shared_role_is_caught(template: dict[str, Any]) -> None:
    doc = copy.deepcopy(template)
    del doc["Resources"]["NotifyPlatformPolicy"]
    doc["Resources"]["WebhookFunction"]["Properties"]["Role"] = {"Fn::GetAtt": ["ApplyRole", "Arn"]}
    found = role_problems(doc)
    assert any(p.startswith("NotifyFunction (ticket_notify): Function Compute needs log:PostLogStoreLogs") for p in found)
    assert "WebhookFunction: shares role ApplyRole with ApplyFunction (one role per function)" in found


def test_the_analysis_follows_lazy_imports_and_sees_every_call_site() -> None:
    # Every SDK call in the client modules is reached by some function (none is dead, none is missed).
    reached = set().union(*(codegraph.api_actions(f) for f in
                            ("apply_egress_rule", "ticket_webhook", "ticket_notify", "normalise_descriptions",
                             "outcome_bus")))
    sites = codegraph.all_sdk_call_sites()
    assert {f"ecs:{c}" for c in sites["sgrule.clients.ecs"]} | {f"eventbridge:{c}" for c in
                                                                sites["sgrule.clients.eventbridge"]} <= reached
    # The apply handler imports the ECS client inside a function (lazily): still followed.
    assert "sgrule.clients.ecs" in codegraph.closure(ROOT / "functions" / "apply_egress_rule" / "index.py")


def test_sdk_clients_are_imported_only_by_the_client_modules() -> None:
    """An SDK call elsewhere would escape the analysis: only sgrule.clients (and the tooling -- the CLI, the
    caller helper sgrule.client, the lazy model loader -- which no function role covers) import SDK clients."""
    shared = ROOT / "shared" / "sgrule"
    allowed = {shared / "clients", shared / "cli", shared / "client.py", shared / "runtime" / "sdk.py"}
    offenders = []
    for path in shared.rglob("*.py"):
        if any(path == a or a in path.parents for a in allowed):
            continue
        if SDK_CLIENTS.search(path.read_text(encoding="utf-8")):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []

"""workflows/apply_change.yml on the local platform: the flow's steps run through the official FC SDK against
the application of template.yml on localcloud (tests/workflows/fdl.py interprets the FDL), each branch driven
by a change that takes it; and sgrule.client, the Python callers' way to the same synchronous contract."""
from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fdl import Flow, FlowDefinitionError, validate

from sgrule.client import ApplyClient, ApplyError

ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT / "workflows" / "apply_change.yml"
REGION = "cn-hangzhou"
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def app(localcloud_app_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = tmp_path_factory.mktemp("flow") / "idempotency.sqlite3"
    params = {"CodeBucket": "local", "AllowedSecurityGroups": "*", "RedisUrl": f"sqlite:///{store}"}
    # Two deliveries and two calls each: a change whose Modify keeps failing ends `failed` on the 2nd delivery.
    env = {"SGRULE_MAX_DELIVERIES": "2", "SGRULE_MAX_ATTEMPTS": "2", "SGRULE_RETRY_BASE_MS": "10",
           "SGRULE_RETRY_CAP_MS": "50"}
    return localcloud_app_factory(ROOT / "template.yml", params, env=env, retry_base_s=0.05)


@pytest.fixture
def ecs(app: Any) -> Any:
    from alibabacloud_ecs20140526.client import Client

    from localcloud.pytest_plugin import EcsSeed

    app.faults.clear()
    return EcsSeed(Client(app.sdk_config()))


@pytest.fixture
def flow(app: Any) -> tuple[Flow, list[float]]:
    sleeps: list[float] = []
    return Flow.load(FLOW, app.fc_client(), sleep=sleeps.append), sleeps


def change(group: str, rule: str, time: str = "2026-11-27T11:00:00Z", **data: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"wf-{next(_ids)}", "source": "workflow/tests", "type": "sgrule.egress.modify",
            "time": time, "correlationid": "flow-test",
            "data": {"RegionId": REGION, "SecurityGroupId": group, "SecurityGroupRuleId": rule, **data}}


def rule_of(ecs: Any, group: str, rule: str) -> Any:
    from alibabacloud_ecs20140526 import models

    body = ecs.client.describe_security_group_attribute(models.DescribeSecurityGroupAttributeRequest(
        region_id=REGION, security_group_id=group, direction="egress")).body
    [found] = [p for p in body.permissions.permission if p.security_group_rule_id == rule]
    return found


def test_the_definition_is_fdl_with_the_documented_fields() -> None:
    doc = yaml.safe_load(FLOW.read_text(encoding="utf-8"))
    states = validate(doc)  # raises on anything malformed
    assert (doc["Type"], doc["SpecVersion"], doc["StartAt"]) == ("StateMachine", "v1", "ApplyChange")
    task = states["ApplyChange"]
    assert (task["Type"], task["Action"], task["TaskMode"]) == ("Task", "FC:InvokeFunction", "RequestComplete")
    assert task["Parameters"]["invocationType"] == "Sync"
    assert task["Parameters"]["resourceArn"].endswith(":functions/sgrule-apply-egress-rule")
    assert {s["Type"] for s in states.values()} == {"Task", "Choice", "Pass", "Succeed", "Fail"}
    # The function the flow calls is the template's apply function.
    template = yaml.safe_load((ROOT / "template.yml").read_text(encoding="utf-8"))
    assert template["Parameters"]["FunctionName"]["Default"] == "sgrule-apply-egress-rule"
    broken = dict(doc, States=[dict(s, Default="Nowhere") if s["Type"] == "Choice" else s for s in doc["States"]])
    with pytest.raises(FlowDefinitionError, match="'Nowhere' names no state"):
        validate(broken)


def test_applied_and_unchanged_succeed(flow: tuple[Flow, list[float]], ecs: Any) -> None:
    runner, sleeps = flow
    group = ecs.group(vpc_id="vpc-flow")
    rule = ecs.egress(group, port_range="443/443", dest_cidr_ip="10.0.0.0/8")
    first = runner.run(change(group, rule, DestCidrIp="10.30.0.0/16"))
    assert (first.status, first.path) == ("Succeeded", ["ApplyChange", "RouteOnStatus", "Applied"])
    assert first.output["outcome"]["data"]["status"] == "applied"
    assert rule_of(ecs, group, rule).dest_cidr_ip == "10.30.0.0/16"
    again = runner.run(change(group, rule, DestCidrIp="10.30.0.0/16"))  # another id, nothing left to do
    assert again.path[-1] == "Applied" and again.output["outcome"]["data"]["status"] == "unchanged"
    assert sleeps == []


def test_superseded_passes_through_its_note(flow: tuple[Flow, list[float]], ecs: Any) -> None:
    runner, _ = flow
    group = ecs.group(vpc_id="vpc-flow")
    rule = ecs.egress(group, port_range="8443/8443")
    newer = runner.run(change(group, rule, time="2026-11-27T12:00:00Z", Description="newer"))
    assert newer.output["outcome"]["data"]["status"] == "applied"
    older = runner.run(change(group, rule, time="2026-11-27T11:00:00Z", Description="older"))
    assert (older.status, older.path) == ("Succeeded", ["ApplyChange", "RouteOnStatus", "Superseded", "Applied"])
    assert older.output["note"] == "superseded by a newer change"
    assert rule_of(ecs, group, rule).description == "newer"


def test_a_rejected_change_fails_the_flow(flow: tuple[Flow, list[float]], ecs: Any) -> None:
    runner, _ = flow
    group = ecs.group(vpc_id="vpc-flow")
    rule = ecs.egress(group, port_range="443/443")
    ex = runner.run(change(group, rule, PortRange="99999/1"))
    assert (ex.status, ex.error, ex.path[-1]) == ("Failed", "sgrule.ChangeRejected", "Rejected")
    assert rule_of(ecs, group, rule).port_range == "443/443"


def test_a_change_still_failing_is_redelivered_then_fails_the_flow(flow: tuple[Flow, list[float]], ecs: Any,
                                                                    app: Any) -> None:
    runner, sleeps = flow
    group = ecs.group(vpc_id="vpc-flow")
    rule = ecs.egress(group, port_range="443/443")
    app.faults.inject("ModifySecurityGroupEgressRule", security_group_id=group,
                      error={"status": 503, "code": "ServiceUnavailable"})
    ex = runner.run(change(group, rule, DestCidrIp="10.40.0.0/16"))
    # 1st invocation: RedeliveryNeeded (an FC function error) -> the Retry policy sends the same event again;
    # 2nd: the last delivery -> outcome `failed` -> the Default branch.
    assert ex.invocations == 2 and sleeps == [10]
    assert (ex.status, ex.error) == ("Failed", "sgrule.ChangeFailed")
    assert ex.path == ["ApplyChange", "ApplyChange", "RouteOnStatus", "NotApplied"]


def test_an_input_of_no_known_shape_ends_in_invocation_failed(flow: tuple[Flow, list[float]]) -> None:
    runner, sleeps = flow
    ex = runner.run({"hello": "world"})
    assert (ex.status, ex.error, ex.path[-1]) == ("Failed", "sgrule.InvocationFailed", "InvocationFailed")
    assert ex.invocations == 5 and sleeps == [10, 20, 40, 60]  # 4 retries, backoff capped at 60 s


def test_the_python_client_applies_one_change_or_several(app: Any, ecs: Any) -> None:
    client = ApplyClient("sgrule-apply-egress-rule", config=app.sdk_config())
    group = ecs.group(vpc_id="vpc-flow")
    a, b = ecs.egress(group, port_range="443/443"), ecs.egress(group, port_range="80/80")
    [one] = client.apply(change(group, a, DestCidrIp="10.50.0.0/16"))
    assert one["data"]["status"] == "applied" and one["data"]["securityGroupRuleId"] == a
    both = client.apply([change(group, b, Description="web"), change(group, a, PortRange="0/1")])
    assert [o["data"]["status"] for o in both] == ["applied", "rejected"]  # request order
    assert both[1]["data"]["error"]["code"] == "InvalidParam.PortRange"
    with pytest.raises(ApplyError) as err:
        client.apply({"hello": "world"})  # type: ignore[arg-type]
    assert (err.value.error_type, err.value.handler_error, err.value.retryable) == \
        ("UnhandledInvocationError", "InvocationError", False)
    assert json.dumps(one)  # plain JSON, ready to log or pass on

"""template.yml's normaliser block against the code: entry points, the nightly timer, its role and policy."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
import roscheck
from test_template import ROOT, policy_actions, resources

from sgrule.normalise.handler import parse_request


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return roscheck.load(ROOT / "template.yml")


def fn(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["NormaliseFunction"]["Properties"]


def test_entry_points_exist(template: dict[str, Any]) -> None:
    props = fn(template)
    code = (ROOT / "functions" / "normalise_descriptions" / "index.py").read_text()
    for entry in (props["Handler"], props["InstanceLifecycleConfig"]["Initializer"]["Handler"]):
        module, func = entry.split(".")
        assert module == "index" and re.search(rf"^def {func}\(", code, re.M), entry
    assert props["Runtime"] == "python3.12"
    assert props["Code"]["OssObjectName"] == {"Ref": "NormaliseCodeObject"}


def test_nightly_timer_sends_a_request_the_function_accepts(template: dict[str, Any]) -> None:
    trigger = template["Resources"]["NormaliseTimer"]["Properties"]
    assert trigger["TriggerType"] == "timer"
    assert trigger["FunctionName"] == {"Fn::GetAtt": ["NormaliseFunction", "FunctionName"]}
    cfg = trigger["TriggerConfig"]
    params = template["Parameters"]
    cron = params[cfg["cronExpression"]["Ref"]]["Default"]
    assert len(cron.split()) == 6  # FC timer cron: seconds first
    assert cfg["enable"] is True
    payload = params[cfg["payload"]["Ref"]]["Default"]
    request = parse_request({"triggerTime": "2026-11-27T02:00:00Z", "triggerName": trigger["TriggerName"],
                             "payload": payload})
    assert request.dryRun is False and json.loads(payload) == {"dryRun": False}


def test_budget_fits_the_timeout(template: dict[str, Any]) -> None:
    props = fn(template)
    env = props["EnvironmentVariables"]
    assert int(env["SGRULE_DEFAULT_TIMEOUT_S"]) == props["Timeout"]
    assert int(env["SGRULE_TIME_RESERVE_MS"]) / 1000 < props["Timeout"] / 10
    # The cursor must outlive the gap between two triggers (a day for the nightly timer).
    assert int(env["SGRULE_NORMALISE_CURSOR_TTL_S"]) > 2 * 24 * 3600


def test_its_own_role_with_only_reads_sends_and_the_report(template: dict[str, Any]) -> None:
    props = fn(template)
    assert props["Role"] == {"Fn::GetAtt": ["NormaliseRole", "Arn"]}
    role = template["Resources"]["NormaliseRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"] == ["fc.aliyuncs.com"]
    attached = {name for name, p in resources(template, "ALIYUN::RAM::ManagedPolicy").items()
                if {"Fn::GetAtt": ["NormaliseRole", "RoleName"]} in p["Properties"]["Roles"]}
    assert attached == {"NormaliseCodePolicy", "NormalisePlatformPolicy"}
    policy = template["Resources"]["NormaliseCodePolicy"]
    actions = policy_actions(policy)
    assert "ecs:ModifySecurityGroupEgressRule" not in actions  # the apply function is the only writer
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        if statement["Action"] == ["mns:SendMessage"]:
            assert statement["Resource"] == [
                {"Fn::Sub": "acs:mns:${ALIYUN::Region}:${ALIYUN::AccountId}:/queues/${ChangeQueueName}/messages"}]
        if statement["Action"] == ["eventbridge:PutEvents"]:
            assert statement["Resource"][0]["Fn::Sub"].endswith(":eventbus/${OutcomeBusName}")
    env = props["EnvironmentVariables"]
    assert env["SGRULE_CHANGE_QUEUE"] == {"Ref": "ChangeQueueName"}
    assert env["SGRULE_OUTCOME_BUS"] == {"Ref": "OutcomeBusName"}


def test_the_timer_invokes_asynchronously_with_bounded_retries(template: dict[str, Any]) -> None:
    """FC timer triggers invoke asynchronously: a failed pass is retried (0-8 per the API), an old one dropped."""
    [cfg] = [r["Properties"] for r in resources(template, "ALIYUN::FC3::AsyncInvokeConfig").values()
             if r["Properties"]["FunctionName"] == {"Fn::GetAtt": ["NormaliseFunction", "FunctionName"]}]
    assert 0 <= cfg["MaxAsyncRetryAttempts"] <= 8 and 1 <= cfg["MaxAsyncEventAgeInSeconds"] <= 604800
    assert "DestinationConfig" not in cfg  # nothing to send anywhere: the next night continues the pass

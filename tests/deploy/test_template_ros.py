"""template.yml against the ROS resource specification from Alibaba's ros-cdk packages (localcloud/ros/spec.json):
types, nested property names, required properties, literal types, allowed values and ranges, Fn::GetAtt
attributes, Ref / DependsOn / Condition targets -- and the check catches each kind of mistake made on purpose,
with one message each. localcloud refuses a template that fails it, with the same messages."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import roscheck
import yaml
from localcloud.ros import check

from sgrule.cli.sdevs import ros_loader

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return roscheck.load(ROOT / "template.yml")


def broken(template: dict[str, Any], edit: Any) -> list[str]:
    doc = copy.deepcopy(template)
    edit(doc)
    return roscheck.problems(doc)


def test_the_template_passes_the_specification(template: dict[str, Any]) -> None:
    assert roscheck.problems(template) == []
    # localcloud's own reader of the short forms sees the same template, and it passes there too.
    assert check.check_file(ROOT / "template.yml") == []
    spec = check.load_spec()
    used = {r["Type"] for r in template["Resources"].values()}
    assert used <= set(spec.resources)
    # The outcome bus is made by a function ROS invokes: the spec has no custom-bus type.
    assert template["Resources"]["OutcomeBus"]["Type"] == "ALIYUN::FC3::FunctionInvoker"
    assert not [t for t in spec.resources if t.startswith("ALIYUN::EventBridge::") and "Bus" in t]


def test_the_broken_copy_fails_with_one_message_per_mistake(template: dict[str, Any]) -> None:
    def edit(doc: dict[str, Any]) -> None:
        resources = doc["Resources"]
        vpc = resources["ApplyFunction"]["Properties"]["VpcConfig"]["Fn::If"][1]
        vpc["VSwitchId"] = vpc.pop("VSwitchIds")                      # a misspelt nested property
        del resources["NotifyRule"]["Properties"]["Targets"][0]["ParamList"][0]["Value"]  # a required one
        resources["LogProject"]["Type"] = "ALIYUN::SLS::Projects"    # an unknown type
        resources["ApplyFunction"]["Properties"]["Role"] = {"Fn::GetAtt": ["ApplyRole", "RoleArn"]}  # attribute

    assert broken(template, edit) == [
        "Resources.LogProject: resource type 'ALIYUN::SLS::Projects' is not in the ROS specification "
        "(ros-cdk 1.15.0); did you mean 'ALIYUN::SLS::Project'?",
        "Resources.ApplyFunction.Properties.Role: ApplyRole (ALIYUN::RAM::Role) has no attribute 'RoleArn'; did "
        "you mean 'Arn'? (it has Arn, RoleId, RoleName)",
        "Resources.ApplyFunction.Properties.VpcConfig[Fn::If 1]: unknown property 'VSwitchId' "
        "(ALIYUN::FC3::Function.VpcConfig); did you mean 'VSwitchIds'?",
        "Resources.NotifyRule.Properties.Targets[0].ParamList[0]: required property 'Value' missing "
        "(ALIYUN::EventBridge::Rule.ParamList)",
    ]


def test_literal_types_allowed_values_ranges_and_lengths_are_checked(template: dict[str, Any]) -> None:
    def edit(doc: dict[str, Any]) -> None:
        apply = doc["Resources"]["ApplyFunction"]["Properties"]
        apply["Cpu"] = 0.01                                             # range 0.05-16
        apply["InternetAccess"] = "yes"                                 # a boolean
        doc["Resources"]["FailedOutcomeRule"]["Properties"]["Targets"][0]["ParamList"] = []  # at least one
        doc["Resources"]["ApplyFunction"]["Properties"]["InstanceIsolationMode"] = "SHARED"  # allowed values

    assert broken(template, edit) == [
        "Resources.ApplyFunction.Properties.Cpu: 0.01 is less than the minimum 0.05 (ALIYUN::FC3::Function)",
        "Resources.ApplyFunction.Properties.InternetAccess: expected a boolean (true or false), got \"yes\" "
        "(ALIYUN::FC3::Function)",
        "Resources.ApplyFunction.Properties.InstanceIsolationMode: \"SHARED\" is not one of ['SHARE', "
        "'SESSION_EXCLUSIVE', 'REQUEST_EXCLUSIVE'] (ALIYUN::FC3::Function); did you mean 'SHARE'?",
        "Resources.FailedOutcomeRule.Properties.Targets[0].ParamList: 0 items, fewer than the minimum 1 "
        "(ALIYUN::EventBridge::Rule.Targets)",
    ]


def test_references_to_nothing_are_caught_with_a_suggestion(template: dict[str, Any]) -> None:
    def edit(doc: dict[str, Any]) -> None:
        resources = doc["Resources"]
        resources["ChangeQueue"]["Properties"]["QueueName"] = {"Ref": "ChangeQueueNam"}
        resources["ApplyFunction"]["DependsOn"].append("ApplyPolicy")
        resources["WebhookFunction"]["Properties"]["VpcConfig"]["Fn::If"][0] = "InAVpc"
        env = resources["WebhookFunction"]["Properties"]["EnvironmentVariables"]
        env["SGRULE_MNS_ENDPOINT"] = {"Fn::Sub": "https://${ALIYUN::AccountId}.mns.${Region}.aliyuncs.com"}
        statement = resources["ApplyPlatformPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
        statement["Resource"] = [{"Fn::Sub": "acs:log:${ALIYUN::Region}:${ALIYUN::AccountId}:project/"
                                             "${LogProject.ProjectName}"}]
        resources["NormaliseTimer"]["Properties"]["FunctionName"] = {"Fn::GetAtt": ["Normalise", "FunctionName"]}

    found = broken(template, edit)
    assert "Resources.ChangeQueue.Properties.QueueName: Ref 'ChangeQueueNam' is neither a parameter, a pseudo " \
           "parameter nor a resource; did you mean 'ChangeQueueName'?" in found
    assert any(p.startswith("Resources.ApplyFunction.DependsOn: no resource 'ApplyPolicy'; did you mean")
               for p in found)
    assert any("Fn::If names no condition 'InAVpc'; did you mean 'InVpc'?" in p for p in found)
    assert any("SGRULE_MNS_ENDPOINT" in p and "Ref 'Region'" in p for p in found)
    assert any("LogProject (ALIYUN::SLS::Project) has no attribute 'ProjectName'" in p for p in found)
    assert any(p.startswith("Resources.NormaliseTimer.Properties.FunctionName: Fn::GetAtt of no resource "
                            "'Normalise'") for p in found)
    assert len(found) == 6


def test_trigger_configurations_are_held_to_the_function_compute_api(template: dict[str, Any]) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["Resources"]["NormaliseTimer"]["Properties"]["TriggerConfig"]["cron"] = "0 0 2 * * *"

    [problem] = broken(template, edit)
    assert "TriggerConfig: unknown property 'cron' (timer trigger)" in problem


def test_localcloud_refuses_to_start_a_template_that_fails_the_specification(template: dict[str, Any],
                                                                            tmp_path: Path) -> None:
    doc = copy.deepcopy(template)
    doc["Resources"]["LogProject"]["Type"] = "ALIYUN::SLS::Projects"
    del doc["Resources"]["NotifyRule"]["Properties"]["Targets"][0]["ParamList"][0]["Value"]
    bad = tmp_path / "template.yml"
    bad.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "sgrule.cli", "local", "start", "--template", str(bad),
                           "--port", "0"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""  # never started: no start-up JSON
    expected = check.problems(check.read(bad))
    assert len(expected) == 2
    for line in expected:
        assert f"  {line}\n" in proc.stderr
    assert "does not pass the ROS specification (ros-cdk 1.15.0); ROS would refuse the stack (2 problems)" \
        in proc.stderr


def test_short_form_tags_are_read_as_long_forms() -> None:
    doc = yaml.load("a: !Ref X\nb: !GetAtt R.Arn\nc: !Sub '${A}-b'\n", Loader=ros_loader())
    assert doc == {"a": {"Ref": "X"}, "b": {"Fn::GetAtt": ["R", "Arn"]}, "c": {"Fn::Sub": "${A}-b"}}

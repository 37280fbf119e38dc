"""template.yml against the ROS reference: every Ref / Fn::GetAtt / Fn::Sub resolves, every resource type,
property name and attribute is documented (tests/deploy/ros_spec.py) -- and the check catches each kind of
mistake when one is made on purpose."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import roscheck
from ros_spec import RESOURCES

from sgrule.cli.sdevs import ros_loader

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return roscheck.load(ROOT / "template.yml")


def broken(template: dict[str, Any], edit: Any) -> list[str]:
    doc = copy.deepcopy(template)
    edit(doc)
    return roscheck.problems(doc)


def test_the_template_resolves_and_uses_only_documented_names(template: dict[str, Any]) -> None:
    assert roscheck.problems(template) == []
    used = {r["Type"] for r in template["Resources"].values()}
    # Every resource kind the application needs is there (and in the table, or problems() would say so).
    assert used == set(RESOURCES)


def test_a_reference_to_nothing_is_caught(template: dict[str, Any]) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["Resources"]["ChangeQueue"]["Properties"]["QueueName"] = {"Ref": "ChangeQueueNam"}

    assert broken(template, edit) == [
        "Resources.ChangeQueue.Properties.QueueName: Ref 'ChangeQueueNam' is neither a parameter, a pseudo "
        "parameter nor a resource"]


def test_a_getatt_of_an_undocumented_attribute_or_a_missing_resource_is_caught(template: dict[str, Any]) -> None:
    def attribute(doc: dict[str, Any]) -> None:
        doc["Resources"]["ApplyFunction"]["Properties"]["Role"] = {"Fn::GetAtt": ["ApplyRole", "RoleArn"]}

    [problem] = broken(template, attribute)
    assert "ApplyRole (ALIYUN::RAM::Role) has no attribute 'RoleArn'" in problem and "'Arn'" in problem

    def resource(doc: dict[str, Any]) -> None:
        doc["Resources"]["NormaliseTimer"]["Properties"]["FunctionName"] = {"Fn::GetAtt": ["Normalise", "FunctionName"]}

    assert broken(template, resource) == [
        "Resources.NormaliseTimer.Properties.FunctionName: Fn::GetAtt of no resource 'Normalise'"]


def test_a_sub_variable_that_resolves_to_nothing_is_caught(template: dict[str, Any]) -> None:
    def edit(doc: dict[str, Any]) -> None:
        env = doc["Resources"]["WebhookFunction"]["Properties"]["EnvironmentVariables"]
        env["SGRULE_MNS_ENDPOINT"] = {"Fn::Sub": "https://${ALIYUN::AccountId}.mns.${Region}.aliyuncs.com"}

    [problem] = broken(template, edit)
    assert "SGRULE_MNS_ENDPOINT" in problem and "Ref 'Region'" in problem
    # ${Resource.Attribute} inside a Sub is checked like Fn::GetAtt.
    def attribute(doc: dict[str, Any]) -> None:
        statement = doc["Resources"]["ApplyPlatformPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
        statement["Resource"] = [{"Fn::Sub": "acs:log:${ALIYUN::Region}:${ALIYUN::AccountId}:project/"
                                             "${LogProject.ProjectName}"}]

    [problem] = broken(template, attribute)
    assert "LogProject (ALIYUN::SLS::Project) has no attribute 'ProjectName'" in problem


def test_an_undocumented_property_or_type_is_caught(template: dict[str, Any]) -> None:
    def typo(doc: dict[str, Any]) -> None:
        vpc = doc["Resources"]["ApplyFunction"]["Properties"]["VpcConfig"]["Fn::If"][1]
        vpc["VSwitchId"] = vpc.pop("VSwitchIds")

    [problem] = broken(template, typo)
    assert problem == ("Resources.ApplyFunction.Properties.VpcConfig[Fn::If 1]: unknown property 'VSwitchId' "
                       "(ALIYUN::FC3::Function); did you mean 'VSwitchIds'?")

    def trigger(doc: dict[str, Any]) -> None:
        doc["Resources"]["NormaliseTimer"]["Properties"]["TriggerConfig"]["cron"] = "0 0 2 * * *"

    [problem] = broken(template, trigger)
    assert "TriggerConfig: unknown property 'cron' (timer trigger)" in problem

    def kind(doc: dict[str, Any]) -> None:
        doc["Resources"]["OutcomeBus"]["Type"] = "ALIYUN::EventBridge::Bus"

    assert broken(template, kind) == [
        "Resources.OutcomeBus: resource type 'ALIYUN::EventBridge::Bus' is not in the reference table"]


def test_dependson_conditions_and_required_properties_are_checked(template: dict[str, Any]) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["Resources"]["ApplyFunction"]["DependsOn"].append("ApplyPolicy")
        doc["Resources"]["WebhookFunction"]["Properties"]["VpcConfig"]["Fn::If"][0] = "InAVpc"
        del doc["Resources"]["FunctionLogstore"]["Properties"]["ProjectName"]

    found = broken(template, edit)
    assert "Resources.ApplyFunction.DependsOn: no resource 'ApplyPolicy'" in found
    assert any("Fn::If names no condition 'InAVpc'" in p for p in found)
    assert any("required property 'ProjectName' missing" in p for p in found)
    assert len(found) == 3


def test_short_form_tags_are_read_as_long_forms() -> None:
    import yaml

    doc = yaml.load("a: !Ref X\nb: !GetAtt R.Arn\nc: !Sub '${A}-b'\n", Loader=ros_loader())
    assert doc == {"a": {"Ref": "X"}, "b": {"Fn::GetAtt": ["R", "Arn"]}, "c": {"Fn::Sub": "${A}-b"}}

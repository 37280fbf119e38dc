"""localcloud/ros/spec.json is what Alibaba's ros-cdk wheels pinned in localcloud/ros/ros-cdk.txt say, not a table
typed by hand: regenerated here from the wheels (downloaded by `make install` into .venv/ros-cdk), it must be
byte-identical to the committed file."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from localcloud.ros import generate

ROOT = Path(__file__).resolve().parents[2]
WHEELS = Path(os.environ.get("SGRULE_ROS_CDK_WHEELS") or ROOT / ".venv" / "ros-cdk")


@pytest.fixture(scope="module")
def regenerated() -> dict:
    try:
        return generate.build(WHEELS)
    except generate.SpecSourceError as exc:  # never skipped: CI installs them with `make install`
        pytest.fail(f"{exc}")


def test_the_committed_spec_is_what_the_pinned_packages_say(regenerated: dict) -> None:
    committed = generate.SPEC.read_text(encoding="utf-8")
    assert generate.render(regenerated) == committed, \
        "localcloud/ros/spec.json is stale against ros-cdk.txt: run `make ros-spec` and commit it"


def test_the_spec_holds_what_the_template_relies_on(regenerated: dict) -> None:
    resources, structs = regenerated["resources"], regenerated["structs"]
    assert regenerated["packages"] == generate.pins()
    # The spec's own answers to the questions the template had to settle.
    assert sorted(t for t in resources if t.startswith("ALIYUN::EventBridge::")) == [
        "ALIYUN::EventBridge::ApiDestination", "ALIYUN::EventBridge::Connection", "ALIYUN::EventBridge::Rule"]
    assert structs["ALIYUN::EventBridge::Rule.ParamList"]["properties"]["Value"] == {"type": "string",
                                                                                   "required": True}
    invoker = resources["ALIYUN::FC3::FunctionInvoker"]
    assert invoker["properties"]["FunctionName"]["required"] is True
    assert {"Event", "CheckError", "Async"} <= set(invoker["properties"])
    function = resources["ALIYUN::FC3::Function"]
    assert function["properties"]["Cpu"]["range"] == {"min": 0.05, "max": 16}
    assert function["attributes"] == ["ARN", "FunctionId", "FunctionName"]
    assert function["properties"]["Code"] == {"type": "struct", "struct": "ALIYUN::FC3::Function.Code"}


def test_a_changed_wheel_is_noticed(regenerated: dict, tmp_path: Path) -> None:
    # The comparison is not vacuous: a spec with one property fewer renders differently.
    changed = {**regenerated, "structs": dict(regenerated["structs"])}
    param_list = changed["structs"]["ALIYUN::EventBridge::Rule.ParamList"]
    changed["structs"]["ALIYUN::EventBridge::Rule.ParamList"] = {
        "properties": {k: v for k, v in param_list["properties"].items() if k != "Value"}}
    assert generate.render(changed) != generate.SPEC.read_text(encoding="utf-8")
    # And missing wheels say what to run.
    with pytest.raises(generate.SpecSourceError, match="make ros-spec"):
        generate.build(tmp_path)

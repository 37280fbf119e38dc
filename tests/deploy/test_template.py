"""template.yml against the code: handler files, trigger and batching, environment, the outcome bus.

The roles against the code are in test_template_roles.py; the names against the ROS reference in
test_template_ros.py.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import roscheck
from pydantic import AliasChoices

from sgrule.apply.config import ApplySettings as Settings
from sgrule.normalise.config import NormaliseSettings

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "shared" / "sgrule"
# SGRULE_* the code reads that the template leaves unset on purpose (see the comment in template.yml).
# The MNS/FC endpoints are common settings the apply function never uses.
UNSET_IN_TEMPLATE = {"SGRULE_ECS_ENDPOINT", "SGRULE_EVENTBRIDGE_ENDPOINT", "SGRULE_MNS_ENDPOINT",
                     "SGRULE_FC_ENDPOINT"}
# Per function: its settings class and what it leaves unset (common settings a function does not use).
FUNCTIONS = {
    "ApplyFunction": (Settings, UNSET_IN_TEMPLATE),
    "NormaliseFunction": (NormaliseSettings, {"SGRULE_ECS_ENDPOINT", "SGRULE_EVENTBRIDGE_ENDPOINT", "SGRULE_FC_ENDPOINT",
                                              "SGRULE_NORMALISE_POLICY"}),
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return roscheck.load(ROOT / "template.yml")


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def the_function(template: dict[str, Any], name: str = "ApplyFunction") -> dict[str, Any]:
    fn = template["Resources"][name]
    assert fn["Type"] == "ALIYUN::FC3::Function"
    return fn["Properties"]


def test_format_and_the_apply_function(template: dict[str, Any]) -> None:
    assert template["ROSTemplateFormatVersion"] == "2015-09-01"
    fn = the_function(template)
    assert fn["Runtime"] == "python3.12"  # the locked dependencies need Python >= 3.11
    assert fn["Handler"] == "index.handler"
    assert fn["InstanceLifecycleConfig"]["Initializer"]["Handler"] == "index.initialize"
    assert 128 <= fn["MemorySize"] <= 512
    assert fn["Timeout"] > 0 and fn["InstanceConcurrency"] >= 1
    assert {"OssBucketName", "OssObjectName"} <= set(fn["Code"])


def test_handler_and_initializer_exist_in_the_function_code(template: dict[str, Any]) -> None:
    fn = the_function(template)
    code = (ROOT / "functions" / "apply_egress_rule" / "index.py").read_text()
    for entry in (fn["Handler"], fn["InstanceLifecycleConfig"]["Initializer"]["Handler"]):
        module, func = entry.split(".")
        assert module == "index"
        assert re.search(rf"^def {func}\(", code, re.M), f"{entry} not defined in index.py"


def test_mns_trigger_with_batching_retries_and_dead_letter_queue(template: dict[str, Any]) -> None:
    trigger = template["Resources"]["ChangeTrigger"]
    props = trigger["Properties"]
    assert props["TriggerType"] == "eventbridge"
    cfg = props["TriggerConfig"]
    assert cfg["eventSourceConfig"]["eventSourceType"] == "MNS"
    assert cfg["eventSourceConfig"]["eventSourceParameters"]["sourceMNSParameters"]["QueueName"] == \
        {"Ref": "ChangeQueueName"}
    run = cfg["runOptions"]
    assert run["mode"] == "event-streaming"  # batch window, retries and DLQ only work in this mode
    assert run["batchWindow"]["CountBasedWindow"] == {"Ref": "BatchSize"}
    assert run["batchWindow"]["TimeBasedWindow"] == {"Ref": "BatchWindowSeconds"}
    params = template["Parameters"]
    assert 1 <= params["BatchSize"]["Default"] <= 10000 and 0 <= params["BatchWindowSeconds"]["Default"] <= 15
    assert run["retryStrategy"]["PushRetryStrategy"] in ("BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY")
    assert "-dlq" in run["deadLetterQueue"]["Arn"]["Fn::Sub"]
    queues = {r["Properties"]["QueueName"] if isinstance(r["Properties"]["QueueName"], str)
              else next(iter(r["Properties"]["QueueName"].values()))
              for r in resources(template, "ALIYUN::MNS::Queue").values()}
    assert queues == {"ChangeQueueName", "${ChangeQueueName}-dlq", "${ChangeQueueName}-failed"}


def test_retries_outlast_max_deliveries(template: dict[str, Any]) -> None:
    """The stream must redeliver at least SGRULE_MAX_DELIVERIES times, or changes reach the DLQ unfinished."""
    trigger = template["Resources"]["ChangeTrigger"]
    attempts = int(trigger["Properties"]["TriggerConfig"]["runOptions"]["retryStrategy"]["MaximumRetryAttempts"])
    env = the_function(template)["EnvironmentVariables"]
    assert attempts + 1 >= int(env["SGRULE_MAX_DELIVERIES"])


def test_the_fleet_is_bounded_by_the_quota(template: dict[str, Any]) -> None:
    """Batches run asynchronously on up to ApplyMaxInstances instances, which share one ECS call budget
    (EcsRate, for apply and the normaliser alike); a batch's share of the budget fits well inside the timeout."""
    from sgrule.store.budget import parse_rates

    params = template["Parameters"]
    cfg = template["Resources"]["ChangeTrigger"]["Properties"]["TriggerConfig"]
    assert cfg["asyncInvocationType"] is True  # synchronous, the stream waits for each batch: one instance
    [reserve] = resources(template, "ALIYUN::FC3::ConcurrencyConfig").values()
    assert reserve["Properties"] == {"FunctionName": {"Fn::GetAtt": ["ApplyFunction", "FunctionName"]},
                                     "ReservedConcurrency": {"Ref": "ApplyMaxInstances"}}
    for name in FUNCTIONS:
        assert the_function(template, name)["EnvironmentVariables"]["SGRULE_ECS_RATE"] == {"Ref": "EcsRate"}
    parse_rates(params["EcsRate"]["Default"])  # the default parses (empty: no budget)
    example = re.search(r"e\.g\. (\S+=\d+(?:,\S+=\d+)*)", " ".join(params["EcsRate"]["Description"].split()))
    assert example is not None
    modify = parse_rates(example.group(1)).get("cn-hangzhou", "ModifySecurityGroupEgressRule")
    assert modify is not None
    # One instance gets about rate / instances calls a second: the largest batch takes at most a quarter
    # of the timeout (the rest: Describe reads, throttled answers' pauses, outcomes, redeliveries).
    share = modify.calls / modify.seconds / params["ApplyMaxInstances"]["Default"]
    assert params["BatchSize"]["MaxValue"] / share <= the_function(template)["Timeout"] / 4
    # An asynchronous invocation carries at most 128 KB: 40 messages averaging up to 3 KB each.
    assert params["BatchSize"]["MaxValue"] <= 40


def test_async_invoke_config_and_outcome_bus(template: dict[str, Any]) -> None:
    props = resources(template, "ALIYUN::FC3::AsyncInvokeConfig")["ApplyAsyncConfig"]["Properties"]
    assert 0 <= props["MaxAsyncRetryAttempts"] <= 8
    # Like the stream: async invokes too are retried until sgrule gives a change its terminal outcome.
    env = the_function(template)["EnvironmentVariables"]
    assert props["MaxAsyncRetryAttempts"] + 1 >= int(env["SGRULE_MAX_DELIVERIES"])
    assert 1 <= props["MaxAsyncEventAgeInSeconds"] <= 604800
    assert "OnFailure" in props["DestinationConfig"]
    # The bus is created while the stack is (ROS has no bus type): by the outcome-bus function, invoked with
    # the bus's name, failing the stack if it cannot.
    [bus] = resources(template, "ALIYUN::FC3::FunctionInvoker").values()
    assert bus["Properties"]["FunctionName"] == {"Fn::GetAtt": ["OutcomeBusFunction", "FunctionName"]}
    assert "${OutcomeBusName}" in bus["Properties"]["Event"]["Fn::Sub"] and bus["Properties"]["CheckError"] is True
    assert the_function(template)["EnvironmentVariables"]["SGRULE_OUTCOME_BUS"] == {"Ref": "OutcomeBusName"}


def settings_env_names(settings: type = Settings) -> set[str]:
    """Every SGRULE_* name a settings class reads (field names with the prefix, or their aliases)."""
    prefix = settings.model_config["env_prefix"]
    names: set[str] = set()
    for name, info in settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{name}".upper())
    return {n for n in names if n.startswith("SGRULE_")}


def direct_env_reads() -> set[str]:
    """SGRULE_* read straight from os.environ (outside Settings), e.g. SGRULE_LAZY_SDK_MODELS."""
    found: set[str] = set()
    pattern = re.compile(r"""(?:environ\.get|getenv|environ\[)\(?\s*["'](SGRULE_[A-Z0-9_]+)["']""")
    for path in SHARED.rglob("*.py"):
        found.update(pattern.findall(path.read_text(encoding="utf-8")))
    return found


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_environment_is_exactly_what_the_code_reads(template: dict[str, Any], function: str) -> None:
    settings, unset = FUNCTIONS[function]
    env = the_function(template, function)["EnvironmentVariables"]
    in_template = {k for k in env if k.startswith("SGRULE_")}
    known = settings_env_names(settings) | direct_env_reads()
    assert "SGRULE_LAZY_SDK_MODELS" in known  # the scan works
    assert in_template <= known, f"not read by the code: {sorted(in_template - known)}"
    assert in_template | unset == known, f"read by the code, missing: {sorted(known - in_template - unset)}"
    assert not any(k.startswith("FC_") for k in env)  # reserved for FC's own variables
    for key in ("SGRULE_ALLOWED_REGIONS", "SGRULE_ALLOWED_SECURITY_GROUPS", "SGRULE_IDEMPOTENCY_URL"):
        assert isinstance(env[key], dict) and "Ref" in env[key], f"{key} should be a parameter"
    assert all(isinstance(v, (str, dict)) for v in env.values())  # FC wants strings


def policy_actions(policy: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow"
        action = statement["Action"]
        actions.update([action] if isinstance(action, str) else action)
    return actions


# Each role's policies against the code: test_template_roles.py (follows each function's imports).


def test_put_events_is_scoped_to_the_outcome_bus(template: dict[str, Any]) -> None:
    policy = resources(template, "ALIYUN::RAM::ManagedPolicy")["ApplyCodePolicy"]
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        if "eventbridge:PutEvents" in statement["Action"]:
            [resource] = statement["Resource"]
            assert resource["Fn::Sub"].endswith(":eventbus/${OutcomeBusName}")
    role = resources(template, "ALIYUN::RAM::Role")["ApplyRole"]["Properties"]
    principals = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
    assert principals == ["fc.aliyuncs.com"]
    assert the_function(template)["Role"] == {"Fn::GetAtt": ["ApplyRole", "Arn"]}


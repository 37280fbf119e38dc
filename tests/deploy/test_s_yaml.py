"""s.yaml (Serverless Devs, fc3) and template.yml describe the same functions: the committed s.yaml is what
`sgrule s-yaml` generates from the template, and an independent comparison (not the generator's code) finds
the same functions, handlers, runtimes, sizes, triggers, environment, roles -- and reports any drift."""
from __future__ import annotations

import copy
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import roscheck
import yaml

from sgrule.cli.sdevs import render, stack_helpers

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return roscheck.load(ROOT / "template.yml")


@pytest.fixture(scope="module")
def s_yaml() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))


def resolve(value: Any, template: dict[str, Any], s_vars: dict[str, Any]) -> Any:
    """A template value with parameter defaults filled in; the same for an s.yaml value and its vars (secrets
    and account/region placeholders left as written on both sides)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        if value["Ref"].startswith("ALIYUN::"):
            return f"<{value['Ref']}>"
        spec = template["Parameters"][value["Ref"]]
        return "<secret>" if spec.get("NoEcho") else spec.get("Default", "")  # no default: the deployer sets it
    if isinstance(value, str):
        value = value.replace("${vars.region}", "<ALIYUN::Region>")
        value = value.replace("${config('AccountID')}", "<ALIYUN::AccountId>")
        value = re.sub(r"\$\{vars\.(\w+)\}", lambda m: str(s_vars.get(m.group(1), m.group(0))), value)
        return "<secret>" if value.startswith("${env(") else value
    return value


def drift(template: dict[str, Any], s_yaml: dict[str, Any]) -> list[str]:
    out = []
    s_vars = s_yaml.get("vars") or {}
    functions = {n: r for n, r in template["Resources"].items() if r["Type"] == "ALIYUN::FC3::Function"
                 and n not in stack_helpers(template)}
    sd = {k: r["props"] for k, r in s_yaml["resources"].items() if r.get("component") == "fc3"}
    folders = {}
    for name, res in functions.items():
        obj = res["Properties"]["Code"]["OssObjectName"]
        folders[PurePosixPath(template["Parameters"][obj["Ref"]]["Default"]).stem] = name
    if set(folders) != set(sd):
        out.append(f"functions differ: template {sorted(folders)}, s.yaml {sorted(sd)}")
    for folder in sorted(set(folders) & set(sd)):
        t, s = functions[folders[folder]]["Properties"], sd[folder]
        if s.get("code") != f"./build/{folder}.zip":
            out.append(f"{folder}: code {s.get('code')!r} is not the zip `sgrule package` builds")
        for key in ("FunctionName", "Handler", "Runtime", "MemorySize", "Cpu", "Timeout", "InstanceConcurrency",
                    "DiskSize", "InternetAccess"):
            a, b = resolve(t.get(key), template, s_vars), resolve(s.get(key[0].lower() + key[1:]), template, s_vars)
            if a != b:
                out.append(f"{folder}: {key} {a!r} in template.yml, {b!r} in s.yaml")
        init_t = t.get("InstanceLifecycleConfig", {}).get("Initializer", {}).get("Handler")
        init_s = (s.get("instanceLifecycleConfig") or {}).get("initializer", {}).get("handler")
        if init_t != init_s:
            out.append(f"{folder}: initializer {init_t!r} in template.yml, {init_s!r} in s.yaml")
        env_t, env_s = t.get("EnvironmentVariables") or {}, s.get("environmentVariables") or {}
        if set(env_t) != set(env_s):
            out.append(f"{folder}: environment differs: only in template.yml {sorted(set(env_t) - set(env_s))}, "
                       f"only in s.yaml {sorted(set(env_s) - set(env_t))}")
        for key in sorted(set(env_t) & set(env_s)):
            if isinstance(env_t[key], dict) and "Ref" not in env_t[key]:
                continue  # an Fn::Sub of the account and region: placeholders on both sides
            a, b = resolve(env_t[key], template, s_vars), resolve(env_s[key], template, s_vars)
            if str(a) != str(b):
                out.append(f"{folder}: {key}={a!r} in template.yml, {b!r} in s.yaml")
        role = template["Resources"][t["Role"]["Fn::GetAtt"][0]]["Properties"]["RoleName"]["Fn::Sub"]
        role_name = re.sub(r"\$\{(\w+)\}", lambda m: template["Parameters"][m.group(1)]["Default"], role)
        if resolve(s.get("role", ""), template, s_vars).rsplit("/", 1)[-1] != role_name:
            out.append(f"{folder}: role {s.get('role')!r} in s.yaml is not {role_name}")
        triggers_t = {(r["Properties"]["TriggerName"], r["Properties"]["TriggerType"])
                      for r in template["Resources"].values() if r["Type"] == "ALIYUN::FC3::Trigger"
                      and r["Properties"]["FunctionName"] == {"Fn::GetAtt": [folders[folder], "FunctionName"]}}
        triggers_s = {(x["triggerName"], x["triggerType"]) for x in s.get("triggers") or []}
        if triggers_t != triggers_s:
            out.append(f"{folder}: triggers {sorted(triggers_t)} in template.yml, {sorted(triggers_s)} in s.yaml")
        has_vpc, has_log = "VpcConfig" in t, "LogConfig" in t
        if has_vpc != ("vpcConfig" in s) or has_log != ("logConfig" in s):
            out.append(f"{folder}: VPC / log configuration differ")
    return out


def test_s_yaml_is_generated_from_the_template_and_current() -> None:
    assert (ROOT / "s.yaml").read_text(encoding="utf-8") == render(ROOT / "template.yml"), \
        "s.yaml is stale: run `sgrule s-yaml --write`"


def test_s_yaml_and_the_template_describe_the_same_functions(template: dict[str, Any],
                                                             s_yaml: dict[str, Any]) -> None:
    assert drift(template, s_yaml) == []
    assert sorted(s_yaml["resources"]) == ["apply_egress_rule", "normalise_descriptions", "ticket_notify",
                                           "ticket_webhook"]
    # Secrets never appear in s.yaml: they come from the deployer's environment.
    text = (ROOT / "s.yaml").read_text(encoding="utf-8")
    for secret in ("REDIS_URL", "WEBHOOK_SENDERS", "NOTIFY_TARGETS"):
        assert "${env('" + secret + "')}" in text


def test_drift_between_the_two_is_reported(template: dict[str, Any], s_yaml: dict[str, Any]) -> None:
    changed = copy.deepcopy(s_yaml)
    apply = changed["resources"]["apply_egress_rule"]["props"]
    apply["handler"] = "main.handler"
    del apply["environmentVariables"]["SGRULE_MAX_DELIVERIES"]
    changed["resources"]["normalise_descriptions"]["props"]["triggers"] = []
    changed["resources"]["ticket_webhook"]["props"]["environmentVariables"]["SGRULE_WEBHOOK_BUDGET_MS"] = "9000"
    found = drift(template, changed)
    assert "apply_egress_rule: Handler 'index.handler' in template.yml, 'main.handler' in s.yaml" in found
    assert any("apply_egress_rule: environment differs: only in template.yml ['SGRULE_MAX_DELIVERIES']" in f
               for f in found)
    assert "normalise_descriptions: triggers [('nightly-normalise', 'timer')] in template.yml, [] in s.yaml" in found
    assert "ticket_webhook: SGRULE_WEBHOOK_BUDGET_MS='4000' in template.yml, '9000' in s.yaml" in found
    assert len(found) == 4
    # and a template change that s.yaml did not follow:
    t2 = copy.deepcopy(template)
    t2["Resources"]["NotifyFunction"]["Properties"]["MemorySize"] = 512
    assert drift(t2, s_yaml) == ["ticket_notify: MemorySize 512 in template.yml, 128 in s.yaml"]


def as_ros_template(s_yaml: dict[str, Any]) -> dict[str, Any]:
    """s.yaml's functions as the ROS resources they deploy (fc3's camelCase keys are the FC 3.0 API's, whose
    ROS names are the same with a capital): each function, its triggers, its async and concurrency configuration. A value
    that is one Serverless Devs variable (``${vars.X}``) becomes a parameter: known only at deploy time."""
    params: dict[str, Any] = {}

    def ros(node: Any, keep_keys: bool = False) -> Any:
        if isinstance(node, str) and re.fullmatch(r"\$\{[^}]+\}", node):
            name = re.sub(r"\W", "", node)
            params[name] = {"Type": "String"}
            return {"Ref": name}
        if isinstance(node, list):
            return [ros(x) for x in node]
        if isinstance(node, dict):
            return {(k if keep_keys else k[:1].upper() + k[1:]): ros(v, keep_keys or k in FREE_FORM)
                    for k, v in node.items()}
        return node

    resources: dict[str, Any] = {}
    for folder, res in s_yaml["resources"].items():
        props = dict(res["props"])
        triggers, async_config = props.pop("triggers", []), props.pop("asyncInvokeConfig", None)
        concurrency = props.pop("concurrencyConfig", None)
        for key in ("region", "code"):  # where to deploy, and the local zip fc3 uploads as the Code
            props.pop(key)
        fn = "".join(p.capitalize() for p in folder.split("_"))
        resources[fn] = {"Type": "ALIYUN::FC3::Function", "Properties": ros(props)}
        function_name = {"Fn::GetAtt": [fn, "FunctionName"]}
        for i, trigger in enumerate(triggers):
            resources[f"{fn}Trigger{i}"] = {"Type": "ALIYUN::FC3::Trigger",
                                            "Properties": {"FunctionName": function_name, **ros(trigger)}}
        if async_config:
            resources[f"{fn}Async"] = {"Type": "ALIYUN::FC3::AsyncInvokeConfig",
                                       "Properties": {"FunctionName": function_name, **ros(async_config)}}
        if concurrency:
            resources[f"{fn}Concurrency"] = {"Type": "ALIYUN::FC3::ConcurrencyConfig",
                                             "Properties": {"FunctionName": function_name, **ros(concurrency)}}
    return {"ROSTemplateFormatVersion": "2015-09-01", "Parameters": params, "Resources": resources}


FREE_FORM = {"environmentVariables", "triggerConfig"}  # maps whose keys are not property names


def test_s_yaml_passes_the_ros_specification(s_yaml: dict[str, Any]) -> None:
    from localcloud.ros import check

    doc = as_ros_template(s_yaml)
    assert len([r for r in doc["Resources"].values() if r["Type"] == "ALIYUN::FC3::Function"]) == 4
    assert check.problems(doc) == []
    # and the translation is not vacuous: a value out of the spec's range is caught through it.
    changed = copy.deepcopy(s_yaml)
    changed["resources"]["ticket_webhook"]["props"]["cpu"] = 32
    assert check.problems(as_ros_template(changed)) == [
        "Resources.TicketWebhook.Properties.Cpu: 32 is more than the maximum 16 (ALIYUN::FC3::Function)"]

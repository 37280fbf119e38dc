"""``sgrule s-yaml [--write]``: s.yaml (Serverless Devs, component ``fc3``) generated from template.yml.

One ``fc3`` resource per ``ALIYUN::FC3::Function`` of the template -- the same function name, handler,
runtime, sizes, initializer, environment, role, VPC and log configuration, triggers (``ALIYUN::FC3::Trigger``),
async configuration (``ALIYUN::FC3::AsyncInvokeConfig``) and reserved concurrency
(``ALIYUN::FC3::ConcurrencyConfig``) -- with the code taken from ``build/<folder>.zip``
(``sgrule package``). Template parameters become ``vars`` (their defaults), NoEcho parameters (secrets)
``${env('NAME')}``, ``ALIYUN::Region`` ``${vars.region}``, ``ALIYUN::AccountId`` ``${config('AccountID')}``.

The fc3 component deploys functions and their triggers only: the roles and policies, queues, outcome bus,
EventBridge rules and log store the functions use come from the ROS stack of template.yml (README, Deploy).
Without ``--write`` the command compares the committed s.yaml with what it would write (exit 1 if stale).
"""
from __future__ import annotations

import argparse
import functools
import re
import sys
from pathlib import Path, PurePosixPath
from typing import Any

from .lock import PROJECT

HEADER = """\
# Serverless Devs (fc3 component): the functions of template.yml, generated from it by `sgrule s-yaml --write`
# -- do not edit by hand; change template.yml and regenerate (a test fails while this file is stale).
# Deploy: `sgrule package` (code zips in build/), then `s deploy` with the access of your Alibaba Cloud
# account. The roles, queues, outcome bus, EventBridge rules and log store these functions use are created by
# the ROS stack of template.yml (README, "Deploy"); set the vars below to that stack's parameters, and the
# secrets in the environment: {secrets}.
"""
_SUB = re.compile(r"\$\{([^}]*)\}")
# Resource type -> the property naming it (what Ref returns, and the name attribute Fn::GetAtt gives).
NAMES = {"ALIYUN::FC3::Function": "FunctionName", "ALIYUN::RAM::Role": "RoleName", "ALIYUN::SLS::Project": "Name",
         "ALIYUN::SLS::Logstore": "LogstoreName", "ALIYUN::MNS::Queue": "QueueName",
         "ALIYUN::EventBridge::EventBus": "EventBusName", "ALIYUN::RAM::ManagedPolicy": "PolicyName"}


class Translator:
    """ROS intrinsic functions -> Serverless Devs variables."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.template = template
        self.params: dict[str, Any] = template.get("Parameters") or {}
        self.resources: dict[str, Any] = template["Resources"]
        self.secrets: dict[str, str] = {p: env_name(p) for p, spec in self.params.items() if (spec or {}).get("NoEcho")}

    def ref(self, name: str) -> str:
        if name == "ALIYUN::Region":
            return "${vars.region}"
        if name == "ALIYUN::AccountId":
            return "${config('AccountID')}"
        if name in self.secrets:
            return "${env('" + self.secrets[name] + "')}"
        if name in self.params:
            return "${vars." + name + "}"
        if name in self.resources:
            return self.name_of(name)
        raise ValueError(f"Ref to {name!r}: not a parameter or resource of the template")

    def name_of(self, resource: str) -> str:
        """What ``Ref`` of a resource gives: its name property."""
        kind = self.resources[resource]["Type"]
        return str(self.value((self.resources[resource].get("Properties") or {})[NAMES[kind]]))

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::Sub":
                return _SUB.sub(lambda m: self._sub_var(m.group(1).strip()), arg)
            if key == "Fn::GetAtt":
                return self.attribute(*arg)
            if key == "Fn::If":  # s.yaml has no conditions: the configured branch (e.g. the VPC) is deployed
                return self.value(arg[1])
            if key.startswith("Fn::"):
                raise ValueError(f"{key} has no Serverless Devs equivalent here")
        return {k: self.value(v) for k, v in node.items()}

    def _sub_var(self, ref: str) -> str:
        if ref.startswith("!"):
            return "${" + ref[1:] + "}"
        if "." in ref and not ref.startswith("ALIYUN::"):
            return str(self.attribute(*ref.split(".", 1)))
        return self.ref(ref)

    def attribute(self, resource: str, attr: str) -> str:
        res = self.resources[resource]
        kind, props = res["Type"], res.get("Properties") or {}
        if kind == "ALIYUN::RAM::Role" and attr == "Arn":
            return "acs:ram::${config('AccountID')}:role/" + str(self.value(props["RoleName"]))
        if NAMES.get(kind) == attr:
            return str(self.value(props[attr]))
        raise ValueError(f"Fn::GetAtt {resource}.{attr} has no Serverless Devs equivalent here")


def env_name(param: str) -> str:
    """``RedisUrl`` -> ``REDIS_URL``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", param).upper()


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _lower_keys(node: Any) -> Any:
    """ROS's PascalCase structure names -> the fc3 component's camelCase (``VSwitchIds`` -> ``vSwitchIds``)."""
    if isinstance(node, dict):
        return {_camel(k): _lower_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_lower_keys(v) for v in node]
    return node


FUNCTION_PROPS = ("FunctionName", "Description", "Runtime", "Handler", "MemorySize", "Cpu", "DiskSize", "Timeout",
                  "InstanceConcurrency", "InternetAccess")


def stack_helpers(template: dict[str, Any]) -> set[str]:
    """Functions only the ROS stack invokes while it is created (``ALIYUN::FC3::FunctionInvoker``, e.g. the one
    that creates the outcome bus): part of the stack, not of what Serverless Devs deploys."""
    return {r["Properties"]["FunctionName"]["Fn::GetAtt"][0] for r in template["Resources"].values()
            if r["Type"] == "ALIYUN::FC3::FunctionInvoker" and isinstance(r["Properties"].get("FunctionName"), dict)
            and "Fn::GetAtt" in r["Properties"]["FunctionName"]}


def generate(template: dict[str, Any]) -> dict[str, Any]:
    """The s.yaml document for ``template`` (loaded with ROS short forms as long forms)."""
    t = Translator(template)
    resources = template["Resources"]
    variables: dict[str, Any] = {"region": "cn-hangzhou"}
    for name, spec in t.params.items():
        spec = spec or {}
        if name in t.secrets:
            continue
        default = spec.get("Default", "")
        if spec.get("Type") == "CommaDelimitedList":
            default = [v.strip() for v in str(default).split(",") if v.strip()]
        variables[name] = default
    out: dict[str, Any] = {"edition": "3.0.0", "name": "sgrule", "access": "default", "vars": variables,
                           "resources": {}}
    for logical, res in resources.items():
        if res["Type"] != "ALIYUN::FC3::Function" or logical in stack_helpers(template):
            continue
        props = res["Properties"]
        code = props["Code"]["OssObjectName"]
        folder = PurePosixPath(str(t.params[code["Ref"]]["Default"] if isinstance(code, dict) else code)).name
        fc: dict[str, Any] = {"region": "${vars.region}"}
        for key in FUNCTION_PROPS:
            if key in props:
                fc[_camel(key)] = t.value(props[key])
        fc["code"] = f"./build/{folder}"  # the zip `sgrule package` builds (functions/<folder> + deps)
        fc["role"] = t.value(props["Role"])
        if "InstanceLifecycleConfig" in props:
            fc["instanceLifecycleConfig"] = _lower_keys(t.value(props["InstanceLifecycleConfig"]))
        for key in ("VpcConfig", "LogConfig"):
            if key in props:
                fc[_camel(key)] = _lower_keys(t.value(props[key]))
        fc["environmentVariables"] = {k: str(v) if not isinstance(v, str) else v
                                      for k, v in t.value(props.get("EnvironmentVariables") or {}).items()}
        for other in resources.values():
            p = other.get("Properties") or {}
            if other["Type"] == "ALIYUN::FC3::AsyncInvokeConfig" and p.get("FunctionName") == \
                    {"Fn::GetAtt": [logical, "FunctionName"]}:
                fc["asyncInvokeConfig"] = _lower_keys(t.value({k: v for k, v in p.items() if k != "FunctionName"}))
            if other["Type"] == "ALIYUN::FC3::ConcurrencyConfig" and p.get("FunctionName") == \
                    {"Fn::GetAtt": [logical, "FunctionName"]}:
                fc["concurrencyConfig"] = _lower_keys(t.value({k: v for k, v in p.items() if k != "FunctionName"}))
        triggers = []
        for other in resources.values():
            p = other.get("Properties") or {}
            if other["Type"] == "ALIYUN::FC3::Trigger" and p.get("FunctionName") == \
                    {"Fn::GetAtt": [logical, "FunctionName"]}:
                trigger = {"triggerName": t.value(p["TriggerName"]), "triggerType": t.value(p["TriggerType"])}
                if "Description" in p:
                    trigger["description"] = t.value(p["Description"])
                trigger["triggerConfig"] = t.value(p["TriggerConfig"])  # already the FC API's keys
                triggers.append(trigger)
        if triggers:
            fc["triggers"] = triggers
        out["resources"][folder.removesuffix(".zip")] = {"component": "fc3", "props": fc}
    used = set(re.findall(r"\$\{vars\.(\w+)\}", repr(out["resources"])))
    out["vars"] = {k: v for k, v in variables.items() if k in used}  # what the functions use, no more
    return out


@functools.cache
def ros_loader() -> Any:
    """A PyYAML SafeLoader that reads the ROS short forms (``!Ref X``, ``!GetAtt R.A``, ``!Sub ...``) as long
    forms; built on first use, so PyYAML stays off the CLI's start-up."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def short(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]  # a mapping node here
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", short)
    return Loader


def load_template(path: Path) -> dict[str, Any]:
    """template.yml, ROS short forms (``!Ref``, ``!GetAtt``, ``!Sub``) read as long forms."""
    import yaml

    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=ros_loader())


def render(template_path: Path) -> str:
    import yaml

    template = load_template(template_path)
    doc = generate(template)
    secrets = ", ".join(sorted(Translator(template).secrets.values())) or "none"
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)
    return HEADER.format(secrets=secrets) + body


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("s-yaml", help="check (or --write) s.yaml, generated from template.yml",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--write", action="store_true", help="write s.yaml")
    p.add_argument("--template", default=str(PROJECT / "template.yml"), help="ROS template (default: template.yml)")
    p.add_argument("--out", default=str(PROJECT / "s.yaml"), help="s.yaml to write or check (default: s.yaml)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    text = render(Path(args.template))
    out = Path(args.out)
    if args.write:
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}")
        return 0
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        print(f"{out} is stale: template.yml changed (run `sgrule s-yaml --write`)", file=sys.stderr)
        return 1
    return 0

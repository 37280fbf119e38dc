"""Reading a ROS template (``ROSTemplateFormatVersion: '2015-09-01'``) the way ROS would resolve it.

:func:`load_template` parses the YAML (long-form intrinsics and the ``!Ref`` / ``!Sub`` / ``!GetAtt`` short
forms), checks the parameters given with ``--param K=V`` against the template's ``Parameters`` (type,
``AllowedValues``, ``MinValue``/``MaxValue``; a parameter without a ``Default`` must be given), and resolves
every intrinsic function in the resources' properties:

- ``Ref``: a parameter, a pseudo parameter (``ALIYUN::Region``, ``ALIYUN::AccountId``, ``ALIYUN::StackName``,
  ``ALIYUN::StackId``, ``ALIYUN::NoValue``) or a resource (its physical name, see :data:`NAME_PROPERTY`);
- ``Fn::GetAtt`` ``[Resource, Attribute]``: the attributes localcloud knows (:func:`_attribute`);
- ``Fn::Sub``: ``${Param}``, ``${Resource.Attribute}``, ``${ALIYUN::Region}``, ``${!Literal}``, with an
  optional variable map;
- ``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::Equals``, ``Fn::If`` with ``Conditions``.

A reference to nothing, an unknown function or attribute, or a cycle raises :class:`TemplateError` naming
the resource and the property path. Nothing here knows sgrule: it reads what any FC 3.0 template declares.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

NO_VALUE = object()  # ALIYUN::NoValue: the property is dropped

# Resource type -> the property that names it (what ``Ref`` returns).
NAME_PROPERTY = {
    "ALIYUN::FC3::Function": "FunctionName",
    "ALIYUN::FC3::Trigger": "TriggerName",
    "ALIYUN::MNS::Queue": "QueueName",
    "ALIYUN::MNS::Topic": "TopicName",
    "ALIYUN::EventBridge::EventBus": "EventBusName",
    "ALIYUN::EventBridge::Rule": "RuleName",
    "ALIYUN::RAM::Role": "RoleName",
    "ALIYUN::RAM::ManagedPolicy": "PolicyName",
    "ALIYUN::SLS::Project": "Name",
    "ALIYUN::SLS::Logstore": "LogstoreName",
}


class TemplateError(ValueError):
    """The template cannot be used as written (the message says where and what to do)."""


@dataclass
class Resource:
    logical_id: str
    type: str
    properties: dict[str, Any]  # resolved
    depends_on: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Physical name (what ``Ref`` gives)."""
        prop = NAME_PROPERTY.get(self.type)
        value = self.properties.get(prop) if prop else None
        return str(value) if value not in (None, "") else self.logical_id


@dataclass(frozen=True)
class LocalRun:
    """How a local run stands in for the cloud, as the template's ``Metadata: LocalRun`` declares it: the
    variables of the functions' environments a local emulator sets. localcloud knows no application's setting
    names; it takes them from here. Every field may be absent (then nothing is set for it)."""

    endpoint_variables: dict[str, str] = field(default_factory=dict)  # product (ecs, mns, ...) -> variable
    outcome_bus_variable: str | None = None   # the bus outcome events go to (a local run: ``default``)
    change_queue_variable: str | None = None  # the MNS queue changes go to (a local run creates it)
    store_url_variable: str | None = None     # the store's URL (a local run: a fresh SQLite file)
    allow_list_variables: tuple[str, ...] = ()  # allow-lists a local run opens (``*``) unless given

    @classmethod
    def from_doc(cls, doc: Any) -> LocalRun:
        meta = doc.get("Metadata") if isinstance(doc, dict) else None
        raw = meta.get("LocalRun") if isinstance(meta, dict) else None
        if not isinstance(raw, dict):
            return cls()

        def text(key: str) -> str | None:
            value = raw.get(key)
            return value if isinstance(value, str) and value else None

        endpoints = raw.get("EndpointVariables")
        allow = raw.get("AllowListVariables")
        return cls({str(k): str(v) for k, v in endpoints.items()} if isinstance(endpoints, dict) else {},
                   text("OutcomeBusVariable"), text("ChangeQueueVariable"), text("StoreUrlVariable"),
                   tuple(str(v) for v in allow) if isinstance(allow, list) else ())


@dataclass
class Template:
    path: Path | None
    parameters: dict[str, Any]  # resolved values
    resources: dict[str, Resource]
    outputs: dict[str, Any]
    region: str
    account_id: str
    local_run: LocalRun = field(default_factory=LocalRun)

    def of_type(self, kind: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == kind]

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()


# --- YAML with ROS short forms ----------------------------------------------------------------------------

class _RosLoader(yaml.SafeLoader):
    pass


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]  # a mapping node here
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}": value}


_RosLoader.add_multi_constructor("!", _short_form)


def read_document(text: str, where: str = "template") -> Any:
    """The YAML (or JSON) text with the ROS short forms (``!Ref X``) read as long forms (``{"Ref": "X"}``)."""
    try:
        return yaml.load(text, Loader=_RosLoader)
    except yaml.YAMLError as exc:
        raise TemplateError(f"{where} is not valid YAML: {exc}") from None


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    """``["K=V", ...]`` (the ``--param`` flags) as a dict; raises :class:`TemplateError` on a bad pair."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise TemplateError(f"--param expects NAME=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


def read_local_run(path: str | Path) -> LocalRun:
    """The template's ``Metadata: LocalRun`` (:class:`LocalRun`), without resolving anything."""
    try:
        doc = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_RosLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from None
    return LocalRun.from_doc(doc)


def declared_parameters(path: str | Path) -> dict[str, dict[str, Any]]:
    """The template's ``Parameters`` section as written (name -> spec), without resolving anything."""
    try:
        doc = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_RosLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from None
    params = doc.get("Parameters") if isinstance(doc, dict) else None
    return {str(k): (v or {}) for k, v in (params or {}).items()}


def load_template(path: str | Path, params: Mapping[str, str] | None = None, *, region: str = "cn-hangzhou",
                  account_id: str = "1234567890123456", stack_name: str = "localcloud") -> Template:
    path = Path(path).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from None
    return parse_template(text, params, region=region, account_id=account_id, stack_name=stack_name, path=path)


def parse_template(text: str, params: Mapping[str, str] | None = None, *, region: str = "cn-hangzhou",
                   account_id: str = "1234567890123456", stack_name: str = "localcloud",
                   path: Path | None = None) -> Template:
    where = str(path) if path else "template"
    try:
        doc = yaml.load(text, Loader=_RosLoader)
    except yaml.YAMLError as exc:
        raise TemplateError(f"{where} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise TemplateError(f"{where}: not a ROS template (no Resources mapping)")
    resolver = _Resolver(doc, dict(params or {}), region, account_id, stack_name, where)
    return resolver.run(path)


# --- resolution -------------------------------------------------------------------------------------------

_SUB_RE = re.compile(r"\$\{([^}]*)\}")


class _Resolver:
    def __init__(self, doc: dict[str, Any], given: dict[str, str], region: str, account_id: str,
                 stack_name: str, where: str) -> None:
        self.doc = doc
        self.where = where
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        self.raw_resources: dict[str, dict[str, Any]] = doc["Resources"]
        self.params = self._parameters(doc.get("Parameters") or {}, given)
        self.pseudo = {
            "ALIYUN::Region": region, "ALIYUN::AccountId": account_id, "ALIYUN::StackName": stack_name,
            "ALIYUN::StackId": f"local-{stack_name}", "ALIYUN::TenantId": account_id,
        }
        self.conditions_raw: dict[str, Any] = doc.get("Conditions") or {}
        self.conditions: dict[str, bool] = {}
        self.resolved: dict[str, Resource] = {}
        self._resolving: list[str] = []

    # parameters ---------------------------------------------------------------------------------------
    def _parameters(self, declared: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise TemplateError(f"{self.where}: --param for undeclared parameter(s) {', '.join(unknown)}; "
                                f"declared: {', '.join(sorted(declared)) or 'none'}")
        values: dict[str, Any] = {}
        missing = []
        for name, spec in declared.items():
            spec = spec or {}
            if name in given:
                raw: Any = given[name]
            elif "Default" in spec:
                raw = spec["Default"]
            else:
                missing.append(name)
                continue
            values[name] = self._check_param(name, spec, raw)
        if missing:
            flags = " ".join(f"--param {m}=..." for m in missing)
            raise TemplateError(f"{self.where}: parameter(s) without a default must be given: {flags}")
        return values

    def _check_param(self, name: str, spec: dict[str, Any], raw: Any) -> Any:
        kind = spec.get("Type", "String")
        value: Any = raw
        if kind == "Number":
            try:
                value = float(raw) if "." in str(raw) else int(raw)
            except (TypeError, ValueError):
                raise TemplateError(f"{self.where}: parameter {name} must be a number, got {raw!r}") from None
            for bound, ok in (("MinValue", lambda b: value >= b), ("MaxValue", lambda b: value <= b)):
                if bound in spec and not ok(spec[bound]):
                    raise TemplateError(f"{self.where}: parameter {name}={value} outside "
                                        f"{spec.get('MinValue', '-inf')}..{spec.get('MaxValue', 'inf')}")
        elif kind == "CommaDelimitedList":
            value = raw if isinstance(raw, list) else [v.strip() for v in str(raw).split(",") if v.strip()]
        elif kind == "Boolean":
            value = str(raw).lower() in ("true", "1", "yes")
        else:
            value = "" if raw is None else str(raw)
        allowed = spec.get("AllowedValues")
        if allowed and value not in allowed and str(value) not in [str(a) for a in allowed]:
            raise TemplateError(f"{self.where}: parameter {name}={value!r} not in AllowedValues {allowed}")
        return value

    # driver ----------------------------------------------------------------------------------------------
    def run(self, path: Path | None) -> Template:
        for name in self.conditions_raw:
            self._condition(name)
        for logical_id in self.raw_resources:
            self._resource(logical_id)
        outputs = {}
        for key, out in (self.doc.get("Outputs") or {}).items():
            outputs[key] = self._value((out or {}).get("Value"), f"Outputs.{key}")
        return Template(path, dict(self.params), dict(self.resolved), outputs, self.region, self.account_id,
                        LocalRun.from_doc(self.doc))

    def _condition(self, name: str) -> bool:
        if name not in self.conditions:
            if name not in self.conditions_raw:
                raise TemplateError(f"{self.where}: no condition {name!r} in Conditions")
            self.conditions[name] = bool(self._value(self.conditions_raw[name], f"Conditions.{name}"))
        return self.conditions[name]

    def _resource(self, logical_id: str) -> Resource:
        if logical_id in self.resolved:
            return self.resolved[logical_id]
        raw = self.raw_resources.get(logical_id)
        if raw is None:
            known = ", ".join(sorted(self.raw_resources))
            raise TemplateError(f"{self.where}: reference to unknown resource {logical_id!r} (known: {known})")
        if logical_id in self._resolving:
            cycle = " -> ".join([*self._resolving[self._resolving.index(logical_id):], logical_id])
            raise TemplateError(f"{self.where}: circular reference {cycle}")
        if not isinstance(raw, dict) or "Type" not in raw:
            raise TemplateError(f"{self.where}: resource {logical_id} has no Type")
        self._resolving.append(logical_id)
        try:
            props = self._value(copy.deepcopy(raw.get("Properties") or {}), f"Resources.{logical_id}.Properties")
        finally:
            self._resolving.pop()
        depends = raw.get("DependsOn") or []
        depends = [depends] if isinstance(depends, str) else list(depends)
        for dep in depends:
            if dep not in self.raw_resources:
                raise TemplateError(f"{self.where}: {logical_id}.DependsOn names unknown resource {dep!r}")
        res = Resource(logical_id, str(raw["Type"]), props if isinstance(props, dict) else {}, depends)
        self.resolved[logical_id] = res
        return res

    # values ----------------------------------------------------------------------------------------------
    def _value(self, node: Any, at: str) -> Any:
        if isinstance(node, list):
            items = [self._value(v, f"{at}[{i}]") for i, v in enumerate(node)]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref" or key.startswith("Fn::") or key == "Condition" and isinstance(arg, str) and \
                    at.startswith("Conditions"):
                return self._intrinsic(key, arg, at)
        out = {}
        for k, v in node.items():
            value = self._value(v, f"{at}.{k}")
            if value is not NO_VALUE:
                out[k] = value
        return out

    def _intrinsic(self, fn: str, arg: Any, at: str) -> Any:
        if fn == "Ref":
            return self._ref(self._value(arg, at), at)
        if fn == "Condition":
            return self._condition(arg)
        if fn == "Fn::GetAtt":
            arg = self._value(arg, at)
            if isinstance(arg, str):
                arg = arg.split(".", 1)
            if not isinstance(arg, list) or len(arg) != 2:
                raise TemplateError(f"{self.where}: {at}: Fn::GetAtt takes [Resource, Attribute], got {arg!r}")
            return self._attribute(str(arg[0]), str(arg[1]), at)
        if fn == "Fn::Sub":
            return self._sub(arg, at)
        if fn == "Fn::Join":
            arg = self._value(arg, at)
            if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list)):
                raise TemplateError(f"{self.where}: {at}: Fn::Join takes [delimiter, [values]]")
            return str(arg[0]).join(self._text(v, at) for v in arg[1])
        if fn == "Fn::Select":
            arg = self._value(arg, at)
            try:
                return arg[1][int(arg[0])]
            except (TypeError, ValueError, IndexError, KeyError):
                raise TemplateError(f"{self.where}: {at}: Fn::Select [index, list] out of range: {arg!r}") from None
        if fn == "Fn::Split":
            arg = self._value(arg, at)
            if not (isinstance(arg, list) and len(arg) == 2):
                raise TemplateError(f"{self.where}: {at}: Fn::Split takes [delimiter, text]")
            return str(arg[1]).split(str(arg[0]))
        if fn == "Fn::Equals":
            arg = self._value(arg, at)
            if not (isinstance(arg, list) and len(arg) == 2):
                raise TemplateError(f"{self.where}: {at}: Fn::Equals takes [a, b]")
            return str(arg[0]) == str(arg[1])
        if fn in ("Fn::And", "Fn::Or", "Fn::Not"):
            values = [bool(self._cond_operand(v, at)) for v in (arg if isinstance(arg, list) else [arg])]
            return all(values) if fn == "Fn::And" else any(values) if fn == "Fn::Or" else not values[0]
        if fn == "Fn::If":
            if not (isinstance(arg, list) and len(arg) == 3):
                raise TemplateError(f"{self.where}: {at}: Fn::If takes [Condition, then, else]")
            return self._value(arg[1] if self._condition(str(arg[0])) else arg[2], at)
        raise TemplateError(f"{self.where}: {at}: unsupported intrinsic function {fn} (localcloud resolves Ref, "
                            "Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::Equals, Fn::If, Fn::And, "
                            "Fn::Or, Fn::Not)")

    def _cond_operand(self, v: Any, at: str) -> Any:
        if isinstance(v, dict) and set(v) == {"Condition"}:
            return self._condition(v["Condition"])
        return self._value(v, at)

    def _text(self, v: Any, at: str) -> str:
        if isinstance(v, (dict, list)):
            raise TemplateError(f"{self.where}: {at}: expected text, got {v!r}")
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    def _ref(self, name: Any, at: str) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"{self.where}: {at}: Ref takes a name, got {name!r}")
        if name == "ALIYUN::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.raw_resources:
            return self._resource(name).name
        raise TemplateError(f"{self.where}: {at}: Ref to {name!r}, which is neither a parameter nor a resource "
                            f"(parameters: {', '.join(sorted(self.params)) or 'none'})")

    def _attribute(self, logical_id: str, attr: str, at: str) -> Any:
        if logical_id not in self.raw_resources:
            raise TemplateError(f"{self.where}: {at}: Fn::GetAtt of unknown resource {logical_id!r}")
        res = self._resource(logical_id)
        value = _attribute(res, attr, self.region, self.account_id)
        if value is None:
            raise TemplateError(f"{self.where}: {at}: resource {logical_id} ({res.type}) has no attribute "
                                f"{attr!r} that localcloud knows")
        return value

    def _sub(self, arg: Any, at: str) -> str:
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[1], dict):
                raise TemplateError(f"{self.where}: {at}: Fn::Sub takes text or [text, {{variables}}]")
            text, variables = arg[0], self._value(arg[1], at)
        else:
            text, variables = arg, {}
        if not isinstance(text, str):
            raise TemplateError(f"{self.where}: {at}: Fn::Sub text must be a string")

        def repl(m: re.Match[str]) -> str:
            ref = m.group(1).strip()
            if ref.startswith("!"):
                return "${" + ref[1:] + "}"
            if ref in variables:
                return self._text(variables[ref], at)
            if "." in ref and not ref.startswith("ALIYUN::"):
                res, attr = ref.split(".", 1)
                return self._text(self._attribute(res, attr, at), at)
            value = self._ref(ref, at)
            if isinstance(value, list):
                value = ",".join(map(str, value))
            return self._text(value, at)

        return _SUB_RE.sub(repl, text)


def _attribute(res: Resource, attr: str, region: str, account: str) -> Any:
    p, name = res.properties, res.name
    if res.type == "ALIYUN::FC3::Function":
        arn = f"acs:fc:{region}:{account}:functions/{name}"
        return {"FunctionName": name, "FunctionArn": arn, "ARN": arn, "Arn": arn,
                "FunctionId": f"local-{name}"}.get(attr)
    if res.type == "ALIYUN::FC3::Trigger":
        return {"TriggerName": name, "FunctionName": p.get("FunctionName"),
                "TriggerId": f"local-{name}"}.get(attr)
    if res.type == "ALIYUN::MNS::Queue":
        return {"QueueName": name, "ARN": f"acs:mns:{region}:{account}:/queues/{name}",
                "Arn": f"acs:mns:{region}:{account}:/queues/{name}",
                "QueueUrl": f"http://{account}.mns.{region}.aliyuncs.com/queues/{name}"}.get(attr)
    if res.type == "ALIYUN::EventBridge::EventBus":
        return {"EventBusName": name, "EventBusARN": f"acs:eventbridge:{region}:{account}:eventbus/{name}",
                "Arn": f"acs:eventbridge:{region}:{account}:eventbus/{name}"}.get(attr)
    if res.type == "ALIYUN::EventBridge::Rule":
        return {"RuleName": name, "EventBusName": p.get("EventBusName"),
                "RuleARN": f"acs:eventbridge:{region}:{account}:eventbus/{p.get('EventBusName')}/rule/{name}"
                }.get(attr)
    if res.type == "ALIYUN::RAM::Role":
        return {"RoleName": name, "Arn": f"acs:ram::{account}:role/{name.lower()}",
                "RoleId": f"local-{name}"}.get(attr)
    if res.type == "ALIYUN::RAM::ManagedPolicy":
        return {"PolicyName": name}.get(attr)
    if res.type == "ALIYUN::SLS::Project":
        return {"Name": name}.get(attr)
    if res.type == "ALIYUN::SLS::Logstore":
        return {"LogstoreName": name, "ProjectName": p.get("ProjectName")}.get(attr)
    return None

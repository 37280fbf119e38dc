"""Check a ROS template against the ROS resource specification, the way ROS refuses a stack.

The specification is ``spec.json`` beside this file, generated from Alibaba's ``ros-cdk-*`` packages
(:mod:`localcloud.ros.generate`). :func:`problems` returns one readable line per fault, never stopping at the
first, for:

- the template's structure: its sections, each parameter's fields and ``Type``, each resource's fields;
- each resource: its ``Type`` is in the specification; recursively through nested structures and lists, every
  property name is one the type has, every required one is there, a literal has the property's type (string,
  number, boolean, list, map, structure) and lies within its allowed values, range, length and pattern;
  both branches of an ``Fn::If`` are checked;
- every ``Ref`` (a parameter, a pseudo parameter or a resource), ``Fn::GetAtt`` and ``${Resource.Attribute}``
  in ``Fn::Sub`` (a resource with that attribute), ``DependsOn`` (a resource) and ``Condition`` / ``Fn::If``
  (a condition), with "did you mean" for a near miss.

What the specification leaves untyped (``TriggerConfig``, ``EnvironmentVariables``, ``FilterPattern``, policy
documents) is not checked here. ``localcloud start --template`` runs this first and refuses a template with
any problem, so a local start rehearses the deploy; the project's tests run it on its own template.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

SPEC_FILE = Path(__file__).resolve().parent / "spec.json"

# The ROS template structure (sections, parameter fields and types, resource fields, pseudo parameters and
# functions): the template format itself, which the resource packages do not carry.
SECTIONS = frozenset({"ROSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Mappings",
                      "Conditions", "Resources", "Outputs", "Rules", "Locals", "Transform", "Workspace"})
PARAMETER_FIELDS = frozenset({"Type", "Default", "NoEcho", "Description", "AllowedValues", "AllowedPattern",
                              "MinLength", "MaxLength", "MinValue", "MaxValue", "ConstraintDescription", "Label",
                              "AssociationProperty", "AssociationPropertyMetadata", "Confirm", "TextArea"})
PARAMETER_TYPES = frozenset({"String", "Number", "CommaDelimitedList", "Json", "Boolean"})
RESOURCE_FIELDS = frozenset({"Type", "Properties", "DependsOn", "Condition", "DeletionPolicy", "Metadata",
                             "Count"})
PSEUDO_PARAMETERS = frozenset({"ALIYUN::Region", "ALIYUN::AccountId", "ALIYUN::StackId", "ALIYUN::StackName",
                               "ALIYUN::NoValue", "ALIYUN::TenantId", "ALIYUN::Index"})
FUNCTIONS = frozenset({"Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::If",
                       "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Fn::FindInMap", "Fn::Replace",
                       "Fn::Base64Encode", "Fn::Base64Decode", "Fn::GetAZs", "Fn::Length", "Fn::Str",
                       "Fn::GetJsonValue", "Fn::MergeMapToList", "Fn::Jq", "Fn::Index", "Fn::Contains",
                       "Fn::Min", "Fn::Max", "Fn::Add", "Fn::Avg", "Fn::SelectMapList", "Fn::ListMerge"})


@dataclass(frozen=True)
class Spec:
    """The specification as generated: ``resources`` (type -> {properties, attributes, reference, package}),
    ``structs`` (``Type.Struct`` -> {properties}), ``packages`` (distribution -> version)."""

    resources: dict[str, Any]
    structs: dict[str, Any]
    packages: dict[str, str]

    @property
    def source(self) -> str:
        versions = sorted(set(self.packages.values()))
        return f"the ROS specification (ros-cdk {', '.join(versions)})"


@lru_cache(maxsize=4)
def load_spec(path: Path = SPEC_FILE) -> Spec:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Spec(raw["resources"], raw["structs"], raw["packages"])


def read(path: str | Path) -> Any:
    """The template as ROS reads it: YAML (or JSON) with the ``!Ref`` / ``!GetAtt`` / ... short forms as long
    forms."""
    from localcloud.template import read_document

    return read_document(Path(path).read_text(encoding="utf-8"), str(path))


def problems(doc: Any, spec: Spec | None = None) -> list[str]:
    """Every fault of the template ``doc`` (as :func:`read` returns it), one line each; empty: it passes."""
    if not isinstance(doc, dict):
        return ["the template is not a mapping of sections"]
    return _Checker(doc, spec or load_spec()).run()


def check_file(path: str | Path) -> list[str]:
    return problems(read(path))


_SUB = re.compile(r"\$\{([^}]*)\}")
_TYPE_WORDS = {"string": "a string", "number": "a number", "boolean": "a boolean (true or false)",
               "list": "a list", "map": "a mapping", "struct": "a mapping"}


class _Checker:
    def __init__(self, doc: dict[str, Any], spec: Spec) -> None:
        self.doc, self.spec = doc, spec
        self.params: dict[str, Any] = _mapping(doc.get("Parameters"))
        self.resources: dict[str, Any] = _mapping(doc.get("Resources"))
        self.conditions: dict[str, Any] = _mapping(doc.get("Conditions"))
        self.out: list[str] = []

    def run(self) -> list[str]:
        for key in self.doc:
            if key not in SECTIONS:
                self.out.append(f"unknown top-level section {key!r}{_hint(key, SECTIONS)}")
        if not self.resources:
            self.out.append("Resources: the template declares no resources")
        for name, spec in self.params.items():
            self._parameter(str(name), spec)
        for name, cond in self.conditions.items():
            self._values(cond, f"Conditions.{name}")
        for name, res in self.resources.items():
            self._resource(str(name), res)
        for name, out in _mapping(self.doc.get("Outputs")).items():
            self._values(out, f"Outputs.{name}")
        return self.out

    # --- structure ------------------------------------------------------------------------------------
    def _parameter(self, name: str, spec: Any) -> None:
        if not isinstance(spec, dict):
            self.out.append(f"Parameters.{name}: not a mapping")
            return
        for key in spec:
            if key not in PARAMETER_FIELDS:
                self.out.append(f"Parameters.{name}: unknown field {key!r}{_hint(key, PARAMETER_FIELDS)}")
        if spec.get("Type") not in PARAMETER_TYPES:
            self.out.append(f"Parameters.{name}: Type {spec.get('Type')!r} is not one of {sorted(PARAMETER_TYPES)}")

    def _resource(self, name: str, res: Any) -> None:
        at = f"Resources.{name}"
        if not isinstance(res, dict):
            self.out.append(f"{at}: not a mapping")
            return
        for key in res:
            if key not in RESOURCE_FIELDS:
                self.out.append(f"{at}: unknown field {key!r}{_hint(key, RESOURCE_FIELDS)}")
        depends = res.get("DependsOn") or []
        for dep in [depends] if isinstance(depends, str) else depends if isinstance(depends, list) else [depends]:
            if dep not in self.resources:
                self.out.append(f"{at}.DependsOn: no resource {dep!r}{_hint(dep, self.resources)}")
        if "Condition" in res and res["Condition"] not in self.conditions:
            self.out.append(f"{at}.Condition: no condition {res['Condition']!r}{_hint(res['Condition'], self.conditions)}")
        props = res.get("Properties") or {}
        self._values(props, f"{at}.Properties")
        kind = res.get("Type")
        spec = self.spec.resources.get(kind) if isinstance(kind, str) else None
        if spec is None:
            self.out.append(f"{at}: resource type {kind!r} is not in {self.spec.source}"
                            f"{_hint(kind, self.spec.resources)}")
            return
        self._struct(props, spec["properties"], f"{at}.Properties", str(kind))

    # --- properties, recursively -----------------------------------------------------------------------
    def _struct(self, value: Any, properties: dict[str, Any], at: str, kind: str) -> None:
        if not isinstance(value, dict):
            self.out.append(f"{at}: expected a mapping of properties ({kind}), got {_show(value)}")
            return
        for key, sub in value.items():
            prop = properties.get(key)
            if prop is None:
                self.out.append(f"{at}: unknown property {key!r} ({kind}){_hint(key, properties)}")
            else:
                self._value(sub, prop, f"{at}.{key}", kind)
        for key in sorted(k for k, p in properties.items() if p.get("required") and k not in value):
            self.out.append(f"{at}: required property {key!r} missing ({kind})")

    def _value(self, value: Any, prop: dict[str, Any], at: str, kind: str) -> None:
        if isinstance(value, dict) and set(value) == {"Fn::If"}:  # either branch may be what ROS sees
            arg = value["Fn::If"]
            for i, branch in enumerate(arg[1:] if isinstance(arg, list) else []):
                if branch != {"Ref": "ALIYUN::NoValue"}:
                    self._value(branch, prop, f"{at}[Fn::If {i + 1}]", kind)
            return
        if _is_intrinsic(value):
            return  # its result is known only at deploy time
        kind_of = prop["type"]
        if kind_of == "any":
            return
        if not _has_type(value, kind_of):
            self.out.append(f"{at}: expected {_TYPE_WORDS[kind_of]}, got {_show(value)} ({kind})")
            return
        if kind_of == "struct":
            name = prop["struct"]
            self._struct(value, self.spec.structs[name]["properties"], at, name)
        elif kind_of == "list":
            for i, item in enumerate(value):
                self._value(item, prop["items"], f"{at}[{i}]", kind)
        elif kind_of == "map":
            for key, item in value.items():
                self._value(item, prop["items"], f"{at}.{key}", kind)
        self._constraints(value, prop, at, kind)

    def _constraints(self, value: Any, prop: dict[str, Any], at: str, kind: str) -> None:
        if "allowed" in prop and value not in prop["allowed"]:
            self.out.append(f"{at}: {_show(value)} is not one of {prop['allowed']} ({kind})"
                            f"{_hint(value, prop['allowed']) if isinstance(value, str) else ''}")
        bounds = prop.get("range")
        if bounds and isinstance(value, (int, float)):
            if "min" in bounds and value < bounds["min"]:
                self.out.append(f"{at}: {value} is less than the minimum {bounds['min']} ({kind})")
            if "max" in bounds and value > bounds["max"]:
                self.out.append(f"{at}: {value} is more than the maximum {bounds['max']} ({kind})")
        length = prop.get("length")
        if length and isinstance(value, (str, list)):
            what = "characters" if isinstance(value, str) else "items"
            if "min" in length and len(value) < length["min"]:
                self.out.append(f"{at}: {len(value)} {what}, fewer than the minimum {length['min']} ({kind})")
            if "max" in length and len(value) > length["max"]:
                self.out.append(f"{at}: {len(value)} {what}, more than the maximum {length['max']} ({kind})")
        pattern = prop.get("pattern")
        if pattern and isinstance(value, str) and not re.search(pattern, value):
            self.out.append(f"{at}: {_show(value)} does not match the pattern /{pattern}/ ({kind})")

    # --- intrinsic functions --------------------------------------------------------------------------
    def _values(self, node: Any, at: str) -> None:
        for path, fn, arg in _intrinsics(node, at):
            if fn not in FUNCTIONS and fn != "Condition":
                self.out.append(f"{path}: unknown function {fn}{_hint(fn, FUNCTIONS)}")
            elif fn == "Ref":
                self._ref(arg, path)
            elif fn == "Fn::GetAtt":
                self._getatt(arg, path)
            elif fn == "Fn::Sub":
                self._sub(arg, path)
            elif fn in ("Fn::If", "Condition"):
                name = arg[0] if fn == "Fn::If" and isinstance(arg, list) and arg else arg
                if name not in self.conditions:
                    self.out.append(f"{path}: {fn} names no condition {name!r}{_hint(name, self.conditions)}")

    def _ref(self, name: Any, at: str) -> None:
        if isinstance(name, dict):
            return  # computed (checked as its own intrinsic)
        if name not in self.params and name not in PSEUDO_PARAMETERS and name not in self.resources:
            known = [*self.params, *PSEUDO_PARAMETERS, *self.resources]
            self.out.append(f"{at}: Ref {name!r} is neither a parameter, a pseudo parameter nor a resource"
                            f"{_hint(name, known)}")

    def _getatt(self, arg: Any, at: str) -> None:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not (isinstance(arg, list) and len(arg) == 2 and all(isinstance(a, str) for a in arg)):
            self.out.append(f"{at}: Fn::GetAtt takes [Resource, Attribute], got {arg!r}")
            return
        self._attribute(arg[0], arg[1], at)

    def _attribute(self, resource: str, attribute: str, at: str) -> None:
        res = self.resources.get(resource)
        if res is None:
            self.out.append(f"{at}: Fn::GetAtt of no resource {resource!r}{_hint(resource, self.resources)}")
            return
        kind = res.get("Type") if isinstance(res, dict) else None
        spec = self.spec.resources.get(kind) if isinstance(kind, str) else None
        if spec is not None and attribute not in spec["attributes"]:
            self.out.append(f"{at}: {resource} ({kind}) has no attribute {attribute!r}"
                            f"{_hint(attribute, spec['attributes'])} (it has {', '.join(spec['attributes'])})")

    def _sub(self, arg: Any, at: str) -> None:
        variables: dict[str, Any] = {}
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[1], dict):
                self.out.append(f"{at}: Fn::Sub takes text or [text, {{variables}}]")
                return
            arg, variables = arg
        if not isinstance(arg, str):
            self.out.append(f"{at}: Fn::Sub text must be a string")
            return
        for ref in _SUB.findall(arg):
            ref = ref.strip()
            if ref.startswith("!") or ref in variables:
                continue
            if "." in ref and not ref.startswith("ALIYUN::"):
                resource, attribute = ref.split(".", 1)
                self._attribute(resource, attribute, at)
            else:
                self._ref(ref, f"{at} (${{{ref}}})")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _has_type(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list)
    return isinstance(value, dict)  # map, struct


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in FUNCTIONS


def _intrinsics(node: Any, at: str) -> Iterator[tuple[str, str, Any]]:
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _intrinsics(item, f"{at}[{i}]")
    elif isinstance(node, dict):
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref" or str(key).startswith("Fn::") or (key == "Condition" and isinstance(arg, str)
                                                               and at.startswith("Conditions")):
                yield at, key, arg
                if key != "Ref":
                    yield from _intrinsics(arg, f"{at}.{key}")
                return
        for key, value in node.items():
            yield from _intrinsics(value, f"{at}.{key}")


def _hint(name: Any, known: Any) -> str:
    """``; did you mean 'X'?`` for the known name closest to ``name`` (one inside the other first: RoleArn ->
    Arn), or nothing."""
    if not isinstance(name, str):
        return ""
    names = [str(k) for k in known]
    lower = name.lower()
    inside = [k for k in names if len(k) >= 3 and k != name and (k.lower() in lower or lower in k.lower())]
    match = sorted(inside, key=lambda k: abs(len(k) - len(name)))[:1] or \
        difflib.get_close_matches(name, names, n=1)
    return f"; did you mean {match[0]!r}?" if match else ""


def refuse_unless_valid(path: str | Path) -> None:
    """Raise :class:`localcloud.template.TemplateError` listing every problem of the template at ``path``
    (what ``start --template`` says before it refuses to start); return when it passes."""
    from localcloud.template import TemplateError

    found = check_file(path)
    if found:
        lines = "\n".join(f"  {p}" for p in found)
        raise TemplateError(f"{path} does not pass {load_spec().source}; ROS would refuse the stack "
                            f"({len(found)} problem{'s' if len(found) > 1 else ''}):\n{lines}")

"""Check a ROS template the way ROS would refuse it: every ``Ref`` / ``Fn::GetAtt`` / ``Fn::Sub`` resolves, every
resource type, property name and ``Fn::GetAtt`` attribute is one the reference documents (:mod:`ros_spec`).

:func:`problems` returns one readable line per fault (empty: the template passes); it never stops at the
first. Written for tests: independent of localcloud's own template reader, so each catches the other's gaps
(the YAML short forms are read by sgrule's ``sgrule.cli.sdevs.ros_loader``, the s.yaml generator's).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from ros_spec import (FUNCTIONS, PARAMETER_FIELDS, PARAMETER_TYPES, PSEUDO_PARAMETERS, RESOURCE_FIELDS,
                      RESOURCES, SECTIONS, TRIGGER_CONFIG)

from sgrule.cli.sdevs import load_template


def load(path: str | Path) -> dict[str, Any]:
    """The template as sgrule's own tooling reads it (``sgrule s-yaml``): ROS short forms as long forms."""
    return load_template(Path(path))


_SUB = re.compile(r"\$\{([^}]*)\}")


class _Checker:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.params: dict[str, Any] = doc.get("Parameters") or {}
        self.resources: dict[str, Any] = doc.get("Resources") or {}
        self.conditions: dict[str, Any] = doc.get("Conditions") or {}
        self.out: list[str] = []

    def run(self) -> list[str]:
        for key in self.doc:
            if key not in SECTIONS:
                self.out.append(f"unknown top-level section {key!r}")
        for name, spec in self.params.items():
            self._parameter(name, spec or {})
        for name, cond in self.conditions.items():
            self._values(cond, f"Conditions.{name}")
        for name, res in self.resources.items():
            self._resource(name, res)
        for name, out in (self.doc.get("Outputs") or {}).items():
            self._values(out, f"Outputs.{name}")
        return self.out

    # --- structure ------------------------------------------------------------------------------------
    def _parameter(self, name: str, spec: dict[str, Any]) -> None:
        for key in spec:
            if key not in PARAMETER_FIELDS:
                self.out.append(f"Parameters.{name}: unknown field {key!r}")
        if spec.get("Type") not in PARAMETER_TYPES:
            self.out.append(f"Parameters.{name}: Type {spec.get('Type')!r} is not one of {sorted(PARAMETER_TYPES)}")

    def _resource(self, name: str, res: Any) -> None:
        at = f"Resources.{name}"
        if not isinstance(res, dict):
            self.out.append(f"{at}: not a mapping")
            return
        for key in res:
            if key not in RESOURCE_FIELDS:
                self.out.append(f"{at}: unknown field {key!r}")
        kind = res.get("Type")
        spec = RESOURCES.get(kind)
        if spec is None:
            self.out.append(f"{at}: resource type {kind!r} is not in the reference table")
            return
        depends = res.get("DependsOn") or []
        for dep in [depends] if isinstance(depends, str) else depends:
            if dep not in self.resources:
                self.out.append(f"{at}.DependsOn: no resource {dep!r}")
        if "Condition" in res and res["Condition"] not in self.conditions:
            self.out.append(f"{at}.Condition: no condition {res['Condition']!r}")
        props = res.get("Properties") or {}
        for missing in sorted(spec.required - set(props)):
            self.out.append(f"{at}.Properties: required property {missing!r} missing ({kind})")
        self._shape(props, spec.properties, f"{at}.Properties", kind)
        if kind == "ALIYUN::FC3::Trigger":
            trigger_type = props.get("TriggerType")
            config_spec = TRIGGER_CONFIG.get(trigger_type)
            if config_spec is None:
                self.out.append(f"{at}: TriggerType {trigger_type!r} has no configuration in the table")
            else:
                self._shape(props.get("TriggerConfig") or {}, config_spec, f"{at}.Properties.TriggerConfig",
                            f"{trigger_type} trigger")
        self._values(props, f"{at}.Properties")

    def _shape(self, value: Any, spec: Any, at: str, kind: str) -> None:
        if spec is None or _is_intrinsic(value):
            return
        if isinstance(value, dict) and set(value) == {"Fn::If"}:  # both branches must fit the shape
            branches = value["Fn::If"][1:] if isinstance(value["Fn::If"], list) else []
            for i, branch in enumerate(branches):
                self._shape(branch, spec, f"{at}[Fn::If {i + 1}]", kind)
            return
        if isinstance(spec, list):
            if not isinstance(value, list):
                self.out.append(f"{at}: expected a list ({kind})")
                return
            for i, item in enumerate(value):
                self._shape(item, spec[0], f"{at}[{i}]", kind)
            return
        if not isinstance(value, dict):
            self.out.append(f"{at}: expected a mapping ({kind})")
            return
        for key, sub in value.items():
            if key not in spec:
                hint = _closest(key, spec)
                self.out.append(f"{at}: unknown property {key!r} ({kind}){hint}")
            else:
                self._shape(sub, spec[key], f"{at}.{key}", kind)

    # --- intrinsic functions --------------------------------------------------------------------------
    def _values(self, node: Any, at: str) -> None:
        for path, fn, arg in _intrinsics(node, at):
            if fn not in FUNCTIONS and fn != "Condition":
                self.out.append(f"{path}: unknown function {fn}")
            elif fn == "Ref":
                self._ref(arg, path)
            elif fn == "Fn::GetAtt":
                self._getatt(arg, path)
            elif fn == "Fn::Sub":
                self._sub(arg, path)
            elif fn in ("Fn::If", "Condition"):
                name = arg[0] if fn == "Fn::If" and isinstance(arg, list) and arg else arg
                if name not in self.conditions:
                    self.out.append(f"{path}: {fn} names no condition {name!r}")

    def _ref(self, name: Any, at: str) -> None:
        if isinstance(name, dict):
            return  # computed (checked as its own intrinsic)
        if name not in self.params and name not in PSEUDO_PARAMETERS and name not in self.resources:
            self.out.append(f"{at}: Ref {name!r} is neither a parameter, a pseudo parameter nor a resource")

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
            self.out.append(f"{at}: Fn::GetAtt of no resource {resource!r}")
            return
        spec = RESOURCES.get(res.get("Type"))
        if spec is not None and attribute not in spec.attributes:
            self.out.append(f"{at}: {resource} ({res.get('Type')}) has no attribute {attribute!r}; the reference "
                            f"lists {sorted(spec.attributes)}")

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
                self._attribute(*ref.split(".", 1), at)
            else:
                self._ref(ref, f"{at} (${{{ref}}})")


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in FUNCTIONS - {"Fn::If"}


def _intrinsics(node: Any, at: str) -> Iterator[tuple[str, str, Any]]:
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _intrinsics(item, f"{at}[{i}]")
    elif isinstance(node, dict):
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref" or key.startswith("Fn::") or (key == "Condition" and isinstance(arg, str)
                                                          and at.startswith("Conditions")):
                yield at, key, arg
                if key != "Ref":
                    yield from _intrinsics(arg, f"{at}.{key}")
                return
        for key, value in node.items():
            yield from _intrinsics(value, f"{at}.{key}")


def _closest(key: str, spec: dict[str, Any]) -> str:
    import difflib

    match = difflib.get_close_matches(key, list(spec), n=1)
    return f"; did you mean {match[0]!r}?" if match else ""


def problems(doc: dict[str, Any]) -> list[str]:
    """Every fault of the template ``doc`` (as loaded by :func:`load`), one line each."""
    return _Checker(doc).run()

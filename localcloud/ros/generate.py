"""Write ``spec.json`` (the ROS resource specification) from Alibaba's ``ros-cdk-*`` wheels.

``python -m localcloud.ros.generate [--write] [--wheels DIR]`` (``make ros-spec``): the wheels pinned in
``ros-cdk.txt`` are downloaded into ``DIR`` when missing (``pip download --no-deps --require-hashes``), read, and
the spec compared with the committed ``spec.json`` (exit 1 when it differs), or written with ``--write``.

Each wheel holds ``ros_cdk_<svc>/_jsii/ros-cdk-<svc>@<version>.jsii.tgz``, the npm package the Python one wraps.
Two files in it are read, with no Node:

- ``package/lib/<svc>.generated.js``: per resource class ``Ros<X>.ROS_RESOURCE_TYPE_NAME`` (the ROS type) and
  ``this.getAtt('<Attribute>')`` (what ``Fn::GetAtt`` may name); per resource and nested structure a
  ``ros<...>ToRosTemplate`` function whose returned object maps each template name to its camelCase property
  through a mapper that says its type (``ros.stringToRosTemplate``, ``ros.listMapper(...)``, a nested
  structure's own function, ...); and the validator it calls, with ``ros.requiredValidator`` and the
  allowed values, ranges, lengths and patterns of each property;
- ``package/.jsii`` (the jsii assembly): which properties are optional, checked against the validators' required
  ones (a disagreement stops the generator: the reading above would be wrong).
"""
from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PINS = HERE / "ros-cdk.txt"
SPEC = HERE / "spec.json"
DEFAULT_WHEELS = HERE.parent.parent / ".venv" / "ros-cdk"
REFERENCE = "https://www.alibabacloud.com/help/en/ros/developer-reference/"


class SpecSourceError(RuntimeError):
    """The wheels cannot be read as expected (the message says which and why)."""


def pins(path: Path = PINS) -> dict[str, str]:
    """``{distribution: version}`` from the pin file."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, rest = line.partition("==")
            out[name.strip()] = rest.split()[0]
    return out


def download(dest: Path, pin_file: Path = PINS) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "--quiet",
                           "--dest", str(dest), "-r", str(pin_file)], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-10:])
        raise SpecSourceError(f"pip download of the ros-cdk wheels failed:\n{tail}")


def wheel_paths(wheels: Path, wanted: dict[str, str]) -> list[Path]:
    paths: list[Path] = []
    missing: list[Path] = []
    for dist, version in sorted(wanted.items()):
        path = wheels / f"{dist.replace('-', '_')}-{version}-py3-none-any.whl"
        (paths if path.exists() else missing).append(path)
    if missing:
        raise SpecSourceError(f"missing {', '.join(p.name for p in missing)} in {wheels}: run `make ros-spec` "
                              "(or `make install`), which downloads them")
    return paths


# --- reading one package ----------------------------------------------------------------------------------

_FUNC = re.compile(r"^function (\w+)\(([^)]*)\) \{\n(.*?)^\}", re.M | re.S)
_RENDERS = re.compile(r"@returns the AliCloud ROS Resource properties of an? `([^`]+)` resource")
_FIELD = re.compile(r"^\s*'(\w+)': (.+)\(properties\.(\w+)\),?$", re.M)
_CALLS_VALIDATOR = re.compile(r"(\w+Validator)\(properties\)\.assertSuccess")
_RULE = re.compile(r"ros\.propertyValidator\('(\w+)', ros\.(validateRange|validateLength|validateAllowedValues|"
                   r"validateAllowedPattern)\)\(\{(.*?)\}\)\);", re.S)
_REQUIRED = re.compile(r"ros\.propertyValidator\('(\w+)', ros\.requiredValidator\)")
_CLASS = re.compile(r"^class (Ros\w+) extends ros\.RosResource \{\n(.*?)^\}", re.M | re.S)
_TYPE_NAME = re.compile(r'^(Ros\w+)\.ROS_RESOURCE_TYPE_NAME = "([^"]+)";', re.M)
_GETATT = re.compile(r"this\.getAtt\('([^']+)'\)")
_RENDER_CALL = re.compile(r"return (ros\w+PropsToRosTemplate)\(props")
_PRIMITIVE = {"ros.stringToRosTemplate": "string", "ros.numberToRosTemplate": "number",
              "ros.booleanToRosTemplate": "boolean", "ros.objectToRosTemplate": "any"}


def _mapper_type(expr: str, structs: dict[str, str]) -> dict[str, Any]:
    expr = expr.strip()
    if expr in _PRIMITIVE:
        return {"type": _PRIMITIVE[expr]}
    if expr == "ros.anyDictToRosTemplate":
        return {"type": "map", "items": {"type": "any"}}
    for wrapper, kind in (("ros.listMapper(", "list"), ("ros.hashMapper(", "map")):
        if expr.startswith(wrapper) and expr.endswith(")"):
            return {"type": kind, "items": _mapper_type(expr[len(wrapper):-1], structs)}
    if expr in structs:
        return {"type": "struct", "struct": structs[expr]}
    raise SpecSourceError(f"unknown mapper {expr!r}")


def _rules(body: str) -> tuple[set[str], dict[str, dict[str, Any]]]:
    required = set(_REQUIRED.findall(body))
    rules: dict[str, dict[str, Any]] = {}
    for camel, kind, args in _RULE.findall(body):
        rule = rules.setdefault(camel, {})
        if kind == "validateAllowedValues":
            values = re.search(r"allowedValues: (\[.*\])", args, re.S)
            if values is None:
                raise SpecSourceError(f"allowed values of {camel!r} not readable: {args!r}")
            rule["allowed"] = json.loads(values.group(1))
        elif kind == "validateAllowedPattern":
            reg = re.search(r"reg: /(.*)/(\w*)\s*$", args.strip(), re.S)
            if reg is None:
                raise SpecSourceError(f"pattern of {camel!r} not readable: {args!r}")
            rule["pattern"] = reg.group(1)
        else:
            bounds = {}
            for key in ("min", "max"):
                m = re.search(rf"\b{key}: ([^,\n]+),?", args)
                text = m.group(1).strip() if m else "undefined"
                if text != "undefined":
                    bounds[key] = json.loads(text)
            rule["range" if kind == "validateRange" else "length"] = bounds
    return required, rules


def _jsii_required(assembly: dict[str, Any]) -> dict[str, set[str]]:
    """``{fqn: required camelCase names}`` of every data type (struct) in the assembly."""
    return {fqn: {p["name"] for p in t.get("properties", []) if not p.get("optional")}
            for fqn, t in assembly["types"].items() if t.get("datatype")}


def read_package(wheel: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(resources, structs)`` of one ros-cdk wheel."""
    with zipfile.ZipFile(wheel) as zf:
        tgz_name = next((n for n in zf.namelist() if n.endswith(".jsii.tgz")), None)
        if tgz_name is None:
            raise SpecSourceError(f"{wheel.name}: no .jsii.tgz inside")
        tgz = zf.read(tgz_name)
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        names = tar.getnames()
        js_name = next((n for n in names if re.fullmatch(r"package/lib/[\w-]+\.generated\.js", n)), None)
        if js_name is None or "package/.jsii" not in names:
            raise SpecSourceError(f"{wheel.name}: no lib/<service>.generated.js or .jsii in {tgz_name}")
        js = tar.extractfile(js_name).read().decode("utf-8")  # type: ignore[union-attr]
        assembly = json.loads(tar.extractfile("package/.jsii").read())  # type: ignore[union-attr]
    module = assembly["name"]
    required_by_jsii = _jsii_required(assembly)

    functions = {m.group(1): (m.start(), m.group(3)) for m in _FUNC.finditer(js)}
    validators = {name: body for name, (_, body) in functions.items() if name.endswith("Validator")}
    renders: dict[str, str] = {}  # mapper function -> the ROS name it renders (type or Type.Struct)
    for name, (start, _body) in functions.items():
        if name.endswith("ToRosTemplate"):
            doc = _RENDERS.findall(js[max(0, start - 600):start])
            if not doc:
                raise SpecSourceError(f"{wheel.name}: {name} says nothing of what it renders")
            renders[name] = doc[-1]
    structs_by_mapper = {n: r for n, r in renders.items() if n.endswith("PropertyToRosTemplate")}

    def shape(mapper: str) -> dict[str, Any]:
        body = functions[mapper][1]
        called = _CALLS_VALIDATOR.findall(body)
        validator = called[0] if called else mapper.replace("ToRosTemplate", "Validator").replace(
            "ros", "Ros", 1)
        vbody = validators.get(validator)
        if vbody is None:
            raise SpecSourceError(f"{wheel.name}: {mapper} has no validator {validator}")
        required, rules = _rules(vbody)
        fqn = _jsii_fqn(module, validator)
        if fqn not in required_by_jsii:
            raise SpecSourceError(f"{wheel.name}: {validator} has no data type {fqn} in .jsii")
        if required_by_jsii[fqn] != required:
            raise SpecSourceError(f"{wheel.name}: {fqn}: required {sorted(required_by_jsii[fqn])} in .jsii, "
                                  f"{sorted(required)} in {validator}")
        props = {}
        for template_name, expr, camel in _FIELD.findall(body):
            prop = _mapper_type(expr, structs_by_mapper)
            if camel in required:
                prop["required"] = True
            prop.update(rules.get(camel, {}))
            props[template_name] = prop
        unknown = set(rules) - {camel for _, _, camel in _FIELD.findall(body)}
        if unknown:
            raise SpecSourceError(f"{wheel.name}: {validator} checks {sorted(unknown)}, which {mapper} omits")
        return dict(sorted(props.items()))

    structs = {renders[m]: {"properties": shape(m)} for m in sorted(structs_by_mapper)}
    type_names = dict(_TYPE_NAME.findall(js))
    resources = {}
    for cls, body in _CLASS.findall(js):
        rendered = _RENDER_CALL.search(body)
        if cls not in type_names or rendered is None:
            continue
        type_name = type_names[cls]
        reference = re.search(r"See (https://\S+/developer-reference/\S+)", js[:js.find(f"class {cls} ")][-800:])
        resources[type_name] = {
            "package": module,
            "reference": reference.group(1) if reference else None,
            "attributes": sorted(set(_GETATT.findall(body))),
            "properties": shape(rendered.group(1)),
        }
    return resources, structs


def _jsii_fqn(module: str, validator: str) -> str:
    """``RosFunctionPropsValidator`` -> ``<module>.RosFunctionProps``; ``RosFunction_CodePropertyValidator`` ->
    ``<module>.RosFunction.CodeProperty``."""
    name = validator[: -len("Validator")]
    return f"{module}.{name.replace('_', '.', 1)}"


def build(wheels: Path, wanted: dict[str, str] | None = None) -> dict[str, Any]:
    wanted = wanted or pins()
    resources: dict[str, Any] = {}
    structs: dict[str, Any] = {}
    for wheel in wheel_paths(wheels, wanted):
        res, st = read_package(wheel)
        resources.update(res)
        structs.update(st)
    return {
        "about": "ROS resource types of Alibaba's ros-cdk packages: generated by `make ros-spec`, do not edit",
        "packages": dict(sorted(wanted.items())),
        "resources": dict(sorted(resources.items())),
        "structs": dict(sorted(structs.items())),
    }


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.ros.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheels", type=Path, default=DEFAULT_WHEELS,
                        help="folder of the ros-cdk wheels (downloaded there when missing; default: %(default)s)")
    parser.add_argument("--write", action="store_true", help=f"write {SPEC.name} (default: only compare)")
    args = parser.parse_args(argv)
    try:
        try:
            wheel_paths(args.wheels, pins())
        except SpecSourceError:
            download(args.wheels)
        text = render(build(args.wheels))
    except SpecSourceError as exc:
        print(f"ros spec: {exc}", file=sys.stderr)
        return 1
    if args.write:
        SPEC.write_text(text, encoding="utf-8")
        print(f"wrote {SPEC} ({len(json.loads(text)['resources'])} resource types)")
        return 0
    if not SPEC.exists() or SPEC.read_text(encoding="utf-8") != text:
        print(f"{SPEC} is stale against {PINS.name}: run `make ros-spec` and commit it", file=sys.stderr)
        return 1
    print(f"{SPEC.name} matches {PINS.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

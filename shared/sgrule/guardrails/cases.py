"""Test cases for a policy (``sgrule guardrails test FILE CASES``), in the style of ``opa test``.

A cases file (YAML, or JSON -- JSON is YAML) holds ``cases:``, each with a ``name``, the values of the
variables -- ``rule`` (required), ``before`` (default: the same as ``rule``), ``change`` (default: an event of
source ``guardrails/test`` whose ``data`` is ``rule``), ``group`` (default: ``{"id": "sg-test", "regionId":
"cn-hangzhou"}``) -- and ``expect``: guardrail name -> ``allow`` or ``deny``. Guardrails a case does not name
are evaluated but not checked. A case naming a guardrail the policy lacks fails.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .policy import Policy

MAX_CASES = 10_000
_CASE_KEYS = frozenset({"name", "rule", "before", "change", "group", "expect"})


class CasesInvalid(ValueError):
    """The cases file cannot be read; the message says where."""


@dataclass(frozen=True)
class Check:
    case: str
    guardrail: str
    expected: str
    actual: str
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.expected == self.actual

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case, "guardrail": self.guardrail, "expected": self.expected, "actual": self.actual,
                "passed": self.passed, "error": self.error}


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


def read_cases(path: str | Path) -> list[dict[str, Any]]:
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CasesInvalid(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise CasesInvalid(f"{path}: not UTF-8 text (byte offset {exc.start})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise CasesInvalid(f"{path}{where}: not YAML or JSON: {exc.problem or exc}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise CasesInvalid(f"{path}: not YAML or JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list):
        raise CasesInvalid(f"{path}: the file must hold `cases:`, a list of cases")
    cases = doc["cases"]
    if len(cases) > MAX_CASES:
        raise CasesInvalid(f"{path}: more than {MAX_CASES} cases")
    for i, case in enumerate(cases):
        label = f"{path}: case {i + 1}"
        if not isinstance(case, dict):
            raise CasesInvalid(f"{label} must be a mapping")
        unknown = sorted(set(map(str, case)) - _CASE_KEYS)
        if unknown:
            raise CasesInvalid(f"{label}: unknown key {unknown[0]!r} (a case has {', '.join(sorted(_CASE_KEYS))})")
        if not isinstance(case.get("rule"), dict):
            raise CasesInvalid(f"{label}: `rule` must be a mapping of the rule's fields")
        for key in ("before", "change", "group"):
            if key in case and not isinstance(case[key], dict):
                raise CasesInvalid(f"{label}: `{key}` must be a mapping")
        expect = case.get("expect")
        if not isinstance(expect, dict) or not expect or \
                not all(isinstance(v, str) and v in ("allow", "deny") for v in expect.values()):
            raise CasesInvalid(f"{label}: `expect` must map guardrail names to allow or deny")
    return list(cases)


def activation(case: dict[str, Any]) -> dict[str, Any]:
    rule = case["rule"]
    return {"rule": rule, "before": case.get("before", rule),
            "change": case.get("change", {"specversion": "1.0", "id": "case", "source": "guardrails/test",
                                          "type": "sgrule.egress.modify", "data": rule}),
            "group": case.get("group", {"id": "sg-test", "regionId": "cn-hangzhou"})}


def run(policy: Policy, cases: list[dict[str, Any]]) -> Report:
    report = Report()
    names = {g.name for g in policy.guardrails}
    for i, case in enumerate(cases):
        label = str(case.get("name") or f"case {i + 1}")
        verdicts = {v.name: v for v in policy.evaluate(activation(case)).verdicts}
        for name, expected in case["expect"].items():
            name = str(name)
            if name not in names:
                report.checks.append(Check(label, name, expected, "missing",
                                           f"the policy has no guardrail {name!r}"))
                continue
            v = verdicts[name]
            report.checks.append(Check(label, name, expected, "allow" if v.allowed else "deny", v.error))
    return report

"""Guardrails policies: the network helpers, loading with every problem and its place, evaluation into one
verdict per guardrail, the webhook's early judgement, and the examples in guardrails/ against their cases."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sgrule import cel
from sgrule.contract.event import parse_event
from sgrule.guardrails import PolicyInvalid, early, load
from sgrule.guardrails.cases import read_cases, run
from sgrule.guardrails.policy import parse

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "guardrails").glob("*.yml") if not p.name.endswith(".cases.yml"))
RULE = {"Policy": "accept", "Priority": 10, "IpProtocol": "TCP", "PortRange": "443/443", "DestCidrIp": "10.0.0.0/8"}


def one(expression: str, rule: dict[str, Any] | None = None, **variables: Any) -> Any:
    """The verdict of a one-guardrail policy."""
    policy = parse(f"guardrails:\n  - name: g\n    message: m\n    expression: {json.dumps(expression)}\n")
    activation = {"rule": rule or RULE, "before": rule or RULE, "change": {"source": "t", "data": {}},
                  "group": {"id": "sg-1", "regionId": "cn-hangzhou"}, **variables}
    [verdict] = policy.evaluate(activation).verdicts
    return verdict


@pytest.mark.parametrize("expression", [
    'cidrPrefix("10.0.0.0/8") == 8 && cidrPrefix("10.1.2.3") == 32 && cidrPrefix("2001:db8::/32") == 32',
    'cidrVersion("10.0.0.0/8") == 4 && "::/0".cidrVersion() == 6',
    'cidrContains("10.0.0.0/8", "10.1.0.0/16") && !cidrContains("10.1.0.0/16", "10.0.0.0/8")',
    '!cidrContains("0.0.0.0/0", "::/0") && cidrContains("0.0.0.0/0", "8.8.8.8")',
    'cidrOverlaps("10.0.0.0/8", "10.255.0.0/16") && !cidrOverlaps("10.0.0.0/8", "11.0.0.0/8")',
    'isPrivate("10.1.0.0/16") && isPrivate("192.168.1.1") && isPrivate("fd00::/8") && isPrivate("100.64.1.0/24")',
    'isPublic("0.0.0.0/0") && isPublic("::/0") && isPublic("8.8.8.8/32") && isPublic("10.0.0.0/7")',
    'portCount("80/443") == 364 && portCount("-1/-1") == 65535 && portCount("22/22") == 1',
    'portsOverlap("1/1024", "1000/2000") && !portsOverlap("1/79", "80/80") && portsOverlap("-1/-1", "22/22")',
    'portsWithin("443/443", "1/1024") && !portsWithin("-1/-1", "1/1024")',
    'rule.DestCidrIp.isPrivate() && rule.PortRange.portsWithin("443/443")',
])
def test_network_helpers(expression: str) -> None:
    verdict = one(expression)
    assert verdict.allowed, verdict.error


@pytest.mark.parametrize("expression, words", [
    ('cidrPrefix("10.0.0.300/8") == 8', "not an address"),
    ('isPublic("example.com")', "not an address"),
    ('portCount("80-443") > 0', "not a port range"),
    ('portsWithin("0/80", "1/100")', "within 1/65535"),
    ('cidrPrefix(8) == 8', "is a string"),
])
def test_a_malformed_argument_is_an_error_that_denies(expression: str, words: str) -> None:
    verdict = one(expression)
    assert not verdict.allowed and words in (verdict.error or "")


def test_verdicts_only_exactly_true_allows_and_errors_are_named() -> None:
    assert not one("1").allowed and "not a bool" in (one("1").error or "")
    missing = one('rule.Description == "x"')
    assert not missing.allowed and "Description" in (missing.error or "")
    assert one('!has(rule.Description) || rule.Description == "x"').allowed
    policy = parse("guardrails:\n"
                   "  - {name: d, message: denied, expression: 'false'}\n"
                   "  - {name: a, message: watched, expression: 'false', action: audit}\n"
                   "  - {name: ok, message: fine, expression: 'true'}\n")
    decision = policy.evaluate({"rule": {}, "before": {}, "change": {}, "group": {}})
    assert decision.denied is not None and decision.denied.name == "d"
    assert [v.name for v in decision.audited] == ["a"]
    assert decision.notes() == [{"name": "d", "action": "deny", "message": "denied"},
                                {"name": "a", "action": "audit", "message": "watched"}]


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyInvalid) as info:
        parse(text, "p.yml")
    return [str(p) for p in info.value.problems]


def test_every_problem_is_reported_with_file_line_column_and_guardrail() -> None:
    found = problems(
        "guardrails:\n"
        "  - name: Bad_Name\n"
        "    message: m\n"
        "    expression: 'true'\n"
        "  - name: ok\n"
        "    expression: 'rule.Policy == '\n"
        "    message: m\n"
        "  - name: ok\n"
        "    message: m\n"
        "    expression: 'true'\n"
        "    severity: high\n"
        "  - name: act\n"
        "    message: m\n"
        "    action: block\n"
        "    expression: 'rules.Policy == \"drop\"'\n"
        "  - name: fn\n"
        "    message: ''\n"
        "    expression: 'frob(rule)'\n")
    assert found == [
        "p.yml:2:11: guardrail 'Bad_Name': `name` must be 1 to 64 of a-z, 0-9 and '-' (not first or last)",
        "p.yml:6:17: guardrail 'ok': expression: not a CEL expression: mismatched input '<EOF>' "
        "(line 1, column 16 of the expression)",
        "p.yml:11:5: guardrail 'ok': unknown key 'severity' (a guardrail has name, expression, message, action)",
        "p.yml:8:11: guardrail 'ok': duplicate name (first at line 5)",
        "p.yml:14:13: guardrail 'act': `action` must be deny or audit",
        "p.yml:15:17: guardrail 'act': expression: undeclared variable 'rules' (declared: before, change, changed, "
        "group, rule) (line 1, column 1 of the expression)",
        "p.yml:17:14: guardrail 'fn': `message` must be a non-empty string",
        "p.yml:18:17: guardrail 'fn': expression: unknown function 'frob' (line 1, column 1 of the expression)",
    ]


@pytest.mark.parametrize("text, words", [
    ("", "the file is empty"),
    ("guardrails: [\n", "p.yml:2:1: not YAML"),
    ("- a\n", "p.yml:1:1: the top level must be a mapping"),
    ("guardrail: []\n", "unknown key 'guardrail'"),
    ("guardrails: {}\n", "`guardrails:` must be a list"),
    ("guardrails: []\nguardrails: []\n", "p.yml:2:1: duplicate key 'guardrails'"),
    ("guardrails:\n  - just a string\n", "guardrail 1 must be a mapping"),
    ("guardrails:\n  - {name: a, message: m}\n", "`expression` must be a CEL expression"),
    ("guardrails:\n  - {name: a, message: m, expression: 42}\n", "`expression` must be a CEL expression"),
    ("guardrails:\n  - {name: a, message: no, expression: 'true'}\n", "quote it"),
])
def test_structure_problems(text: str, words: str) -> None:
    assert any(words in p for p in problems(text)), problems(text)


def test_a_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(PolicyInvalid, match="cannot read the file"):
        load(tmp_path / "absent.yml")
    (tmp_path / "latin1.yml").write_bytes(b"guardrails: []\n# caf\xe9\n")
    with pytest.raises(PolicyInvalid, match="not UTF-8"):
        load(tmp_path / "latin1.yml")
    with pytest.raises(PolicyInvalid) as info:
        load(tmp_path / "absent.yml", shown="guardrails/prod.yml")
    assert str(info.value.problems[0]).startswith("guardrails/prod.yml: cannot read")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_each_example_passes_its_cases_and_every_guardrail_is_tested_both_ways(example: Path) -> None:
    policy = load(example)
    report = run(policy, read_cases(example.with_suffix(".cases.yml")))
    assert report.checks and not report.failed, [c.to_dict() for c in report.failed]
    for g in policy.guardrails:
        outcomes = {c.expected for c in report.checks if c.guardrail == g.name}
        assert outcomes == {"allow", "deny"}, f"{g.name}: cases expect only {outcomes}"


def event(**data: Any) -> Any:
    return parse_event({"specversion": "1.0", "id": "c1", "source": "ticketing/jira", "type": "sgrule.egress.modify",
                        "time": "2026-11-27T10:00:00Z",
                        "data": {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-pci0001",
                                 "SecurityGroupRuleId": "sgr-1", **data}})


def test_early_judges_only_what_cannot_depend_on_the_live_rule() -> None:
    policy = load(ROOT / "guardrails" / "example.yml")
    # Policy, destination and ports given: no-public-accept is decided without the live rule.
    denied = early(policy, event(Policy="accept", DestCidrIp="203.0.113.0/24", PortRange="22/22"))
    assert denied is not None and denied.name == "no-public-accept"
    # No Policy given: the live rule may say drop -- left to apply.
    assert early(policy, event(DestCidrIp="203.0.113.0/24", PortRange="22/22")) is None
    # The PCI list reads the group's id and the destination only: decided.
    denied = early(policy, event(DestCidrIp="0.0.0.0/0"))
    assert denied is not None and denied.name == "no-open-egress-pci"
    # locked-rules reads `before` and `changed`, priority-floor the live Priority: never decided early.
    assert early(policy, event(Priority=1, Description="x")) is None
    assert early(policy, event(Policy="accept", DestCidrIp="10.0.0.0/8", PortRange="22/22")) is None


def test_selections_name_the_fields_an_expression_reads() -> None:
    program = cel.compile('rule.Policy == "x" && has(rule.PortRange) && "before.x" != change.source '
                          '&& rule.all(k, k != "") && group.id.startsWith("sg-")', {"rule", "change", "group"})
    assert cel.selections(program) == {"rule": {"Policy", "PortRange", None}, "change": {"source"},
                                       "group": {"id"}}


def sgrule(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sgrule.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          input=stdin)


def test_cli_check(tmp_path: Path) -> None:
    ok = sgrule("guardrails", "check", "guardrails/example.yml", "--format", "json")
    assert ok.returncode == 0 and [g["name"] for g in json.loads(ok.stdout)["guardrails"]] == [
        "no-public-accept", "no-open-egress-pci", "locked-rules", "priority-floor"]
    bad = tmp_path / "bad.yml"
    bad.write_text("guardrails:\n  - name: a\n    message: m\n    expression: 'rule.Prio ='\n")
    out = sgrule("guardrails", "check", str(bad), "--format", "table")
    assert out.returncode == 1 and f"{bad}:4:17: guardrail 'a': expression: not a CEL expression" in out.stdout
    assert "Traceback" not in out.stderr
    assert json.loads(sgrule("guardrails", "check", str(bad)).stdout)["problems"][0]["line"] == 4
    # A file that cannot be read as text is another answer than a policy with problems: 2, as `test` says.
    binary = tmp_path / "binary.yml"
    binary.write_bytes(b"\xff\xfe\x00guardrails")
    for unreadable in (tmp_path / "missing.yml", tmp_path, binary):
        out = sgrule("guardrails", "check", str(unreadable), "--format", "table")
        assert out.returncode == 2 and "Traceback" not in out.stderr, (unreadable, out.stdout)


def test_cli_test_passes_fails_and_refuses(tmp_path: Path) -> None:
    ok = sgrule("guardrails", "test", "guardrails/example.yml", "guardrails/example.cases.yml")
    assert ok.returncode == 0 and all(json.loads(line)["passed"] for line in ok.stdout.splitlines())
    wrong = tmp_path / "wrong.cases.yml"
    wrong.write_text("cases:\n  - name: ssh\n    rule: {Policy: accept, Priority: 10, PortRange: 22/22, "
                     "DestCidrIp: 8.8.8.8/32}\n    expect: {no-public-accept: allow, nothing-like-it: deny}\n")
    out = sgrule("guardrails", "test", "guardrails/example.yml", str(wrong))
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 1 and [(c["guardrail"], c["actual"], c["passed"]) for c in lines] == [
        ("no-public-accept", "deny", False), ("nothing-like-it", "missing", False)]
    table = sgrule("guardrails", "test", "guardrails/example.yml", str(wrong), "--format", "table").stdout
    assert "2 expectation(s) in 1 case(s): 0 passed, 2 failed" in table
    errors = tmp_path / "errors.cases.yml"
    errors.write_text("cases:\n  - rule: {PortRange: 22/22}\n    expect: {priority-floor: deny}\n")
    out = sgrule("guardrails", "test", "guardrails/example.yml", str(errors))
    assert out.returncode == 0 and "Priority" in json.loads(out.stdout)["error"]  # the error is reported
    for cases in ("cases: [1]\n", "cases:\n  - {rule: {}, expect: {a: maybe}}\n", "{not yaml"):
        (tmp_path / "c.yml").write_text(cases)
        out = sgrule("guardrails", "test", "guardrails/example.yml", str(tmp_path / "c.yml"))
        assert out.returncode == 2 and "Traceback" not in out.stderr and str(tmp_path / "c.yml") in out.stderr
    out = sgrule("guardrails", "test", str(tmp_path / "absent.yml"), "guardrails/example.cases.yml")
    assert out.returncode == 2 and "cannot read the file" in out.stderr


def test_cli_validate_with_guardrails(tmp_path: Path) -> None:
    events = [{"specversion": "1.0", "id": f"c{i}", "source": "ticketing/jira", "type": "sgrule.egress.modify",
               "time": "2026-11-27T10:00:00Z", "data": {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-web1",
                                                         "SecurityGroupRuleId": "sgr-1", **data}}
              for i, data in enumerate([{"Policy": "accept", "DestCidrIp": "8.8.8.8", "PortRange": "22/22"},
                                        {"Description": "fine"}])]
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events))
    out = sgrule("validate", str(path), "--guardrails", "guardrails/example.yml")
    first, second = (json.loads(line) for line in out.stdout.splitlines())
    assert out.returncode == 1 and first["error"]["code"] == "Forbidden.Guardrail"
    assert "'no-public-accept'" in first["error"]["message"] and second["valid"]
    assert sgrule("validate", str(path)).returncode == 0  # without the policy: both valid
    bad = tmp_path / "bad.yml"
    bad.write_text("guardrails: 1\n")
    out = sgrule("validate", str(path), "--guardrails", str(bad))
    assert out.returncode == 2 and "must be a list" in out.stderr and out.stdout == ""


def test_a_value_the_library_cannot_take_denies_instead_of_crashing() -> None:
    verdict = one('change.id == "x"', change={"id": "lone \udc80 surrogate", "data": {}})
    assert not verdict.allowed and "cannot be evaluated" in (verdict.error or "")
    huge = one('!has(change.n) && change.id == "x"', change={"id": "x", "n": 2 ** 70})  # out of int64: absent
    assert huge.allowed


def test_changed_names_the_fields_that_differ() -> None:
    policy = parse("guardrails:\n  - {name: c, message: m, expression: 'changed == [\"Description\", \"SourcePortRange\"]'}\n")
    before = {"Policy": "accept", "Description": "a", "SourcePortRange": "1/2"}
    rule = {"Policy": "accept", "Description": "b"}
    [verdict] = policy.evaluate({"rule": rule, "before": before, "change": {}, "group": {}}).verdicts
    assert verdict.allowed

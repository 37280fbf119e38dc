"""Guardrails in the apply function, through its FC entry point against localcloud: a denied change ends
``rejected`` (Forbidden.Guardrail, 403) and no Modify is ever sent for it, on redelivery too; an audit
guardrail is recorded in the outcome and the change applied; a policy that cannot be loaded rejects every
change (Forbidden.GuardrailPolicyInvalid) and says what is wrong and where."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from applykit import ROOT, change, edit, mns, rule_state

OUTCOME_SCHEMA = json.loads((ROOT / "schemas" / "outcome.schema.json").read_text())
POLICY = """
guardrails:
  - name: no-ssh-out
    message: nobody opens SSH out of a group
    expression: '!has(rule.PortRange) || !portsOverlap(rule.PortRange, "22/22")'
  - name: watch-high-priority
    action: audit
    message: priorities above 5 are watched
    expression: 'rule.Priority >= 5'
"""


@pytest.fixture
def guarded(apply_env: dict[str, str], function_env: Any, tmp_path: Path) -> Any:
    """``guarded(text)``: the apply function with that policy text as its SGRULE_GUARDRAILS_FILE."""
    def use(text: str = POLICY) -> Path:
        path = tmp_path / "guardrails.yml"
        path.write_text(text)
        function_env({**apply_env, "SGRULE_GUARDRAILS_FILE": str(path)})
        return path

    return use


@pytest.fixture
def world(ecs_seed: Any, localcloud: Any) -> dict[str, str]:
    sg = ecs_seed.group(vpc_id="vpc-7")
    w = {"sg": sg,
         "web": ecs_seed.egress(sg, port_range="443/443", dest_cidr_ip="10.0.0.0/8", description="web", priority=10),
         "db": ecs_seed.egress(sg, port_range="5432/5432", dest_cidr_ip="10.1.0.0/16", description="db", priority=10)}
    localcloud.clear_calls()
    return w


def modifies_of(localcloud: Any, rule: str) -> list[dict[str, Any]]:
    return [c for c in localcloud.calls("ModifySecurityGroupEgressRule") if c["params"].get("SecurityGroupRuleId") == rule]


def test_a_denied_change_is_rejected_and_never_sent_also_when_redelivered(
        guarded: Any, invoke: Any, world: dict[str, str], localcloud: Any) -> None:
    guarded()
    w = world
    batch = mns([change(edit(w["sg"], w["web"], PortRange="22/22"), id="ssh"),
                 change(edit(w["sg"], w["db"], Description="db, reviewed"), id="ok")])
    for _delivery in range(2):  # the second is a redelivery: the stored outcome, still no call
        denied, ok = invoke(batch)
        for outcome in (denied, ok):
            jsonschema.validate(outcome, OUTCOME_SCHEMA)
        d = denied["data"]
        assert d["status"] == "rejected" and d["attempts"] == 0 and d["requestId"] is None
        assert d["error"]["code"] == "Forbidden.Guardrail" and d["error"]["httpStatus"] == 403
        assert d["error"]["source"] == "policy"
        assert "'no-ssh-out'" in d["error"]["message"] and "nobody opens SSH" in d["error"]["message"]
        assert d["guardrails"] == [{"name": "no-ssh-out", "action": "deny",
                                    "message": "nobody opens SSH out of a group"}]
        assert ok["data"]["status"] == "applied" and "guardrails" not in ok["data"]
        assert modifies_of(localcloud, w["web"]) == []
        assert len(modifies_of(localcloud, w["db"])) == 1
    assert rule_state(localcloud, w["sg"], w["web"])["PortRange"] == "443/443"


def test_a_denied_newer_change_leaves_an_older_allowed_one_to_apply(
        guarded: Any, invoke: Any, world: dict[str, str], localcloud: Any) -> None:
    guarded()
    w = world
    newer = change(edit(w["sg"], w["web"], PortRange="22/22"), id="newer", time="2026-11-27T10:05:00Z")
    older = change(edit(w["sg"], w["web"], Description="older"), id="older", time="2026-11-27T10:01:00Z")
    out = {o["data"]["changeId"]: o["data"] for o in invoke(mns([newer, older]))}
    assert out["newer"]["error"]["code"] == "Forbidden.Guardrail"
    assert out["older"]["status"] == "applied"
    [call] = modifies_of(localcloud, w["web"])
    assert call["params"]["PortRange"] == "443/443" and call["params"]["Description"] == "older"


def test_an_audit_guardrail_is_recorded_and_the_change_applied(
        guarded: Any, invoke: Any, world: dict[str, str], localcloud: Any) -> None:
    guarded()
    w = world
    [out] = invoke(mns([change(edit(w["sg"], w["db"], Priority=2), id="raise")]))
    jsonschema.validate(out, OUTCOME_SCHEMA)
    d = out["data"]
    assert d["status"] == "applied" and d["error"] is None
    assert d["guardrails"] == [{"name": "watch-high-priority", "action": "audit",
                                "message": "priorities above 5 are watched"}]
    assert len(modifies_of(localcloud, w["db"])) == 1
    assert str(rule_state(localcloud, w["sg"], w["db"])["Priority"]) == "2"


def test_an_expression_that_errors_denies_naming_the_guardrail_and_the_error(
        guarded: Any, invoke: Any, world: dict[str, str], localcloud: Any) -> None:
    guarded("guardrails:\n  - name: needs-a-ticket\n    message: changes carry a ticket\n"
            "    expression: 'change.ticket.startsWith(\"SEC-\")'\n")
    [out] = invoke(mns([change(edit(world["sg"], world["db"], Description="x"), id="no-ticket")]))
    err = out["data"]["error"]
    assert err["code"] == "Forbidden.Guardrail" and "'needs-a-ticket'" in err["message"]
    assert "evaluation error" in err["message"] and "ticket" in out["data"]["guardrails"][0]["error"]
    assert localcloud.calls("ModifySecurityGroupEgressRule") == []
    # An extension attribute is part of `change`: with it, the same guardrail allows.
    [out] = invoke(mns([change(edit(world["sg"], world["db"], Description="x"), id="ticket", ticket="SEC-12")]))
    assert out["data"]["status"] == "applied"


@pytest.mark.parametrize("text, where", [
    (None, "cannot read the file"),
    ("guardrails: [\n", "not YAML"),
    ("guardrails:\n  - name: a\n    message: m\n    expression: 'rule.Policy =='\n", ":4:"),
    ("guardrails:\n  - name: a\n    message: m\n    expression: 'rules.Policy == \"drop\"'\n",
     "undeclared variable 'rules'"),
    ("guardrails:\n  - {name: a, message: m, expression: 'true'}\n  - {name: a, message: n, expression: 'true'}\n",
     "duplicate name"),
])
def test_a_policy_that_cannot_be_loaded_rejects_every_change_before_any_call(
        guarded: Any, invoke: Any, world: dict[str, str], localcloud: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], text: str | None, where: str) -> None:
    path = guarded(text or "")
    if text is None:
        path.unlink()
    capsys.readouterr()
    w = world
    outcomes = invoke(mns([change(edit(w["sg"], w["db"], Description="x"), id="a"),
                           change(edit(w["sg"], w["web"], Description="y"), id="b")]))
    for out in outcomes:
        assert out["data"]["status"] == "rejected"
        assert out["data"]["error"]["code"] == "Forbidden.GuardrailPolicyInvalid"
        assert out["data"]["error"]["httpStatus"] == 403 and where in out["data"]["error"]["message"]
    assert localcloud.calls() == [c for c in localcloud.calls() if c["action"] == "PutEvents"]  # only outcomes
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    [line] = [entry for entry in logged if "guardrails policy invalid" in entry.get("message", entry.get("msg", ""))]
    assert str(path) == line["file"] and any(where in p for p in line["problems"])


def test_the_example_policy_by_a_path_relative_to_the_code_root(
        apply_env: dict[str, str], function_env: Any, invoke: Any, ecs_seed: Any, localcloud: Any) -> None:
    function_env({**apply_env, "SGRULE_GUARDRAILS_FILE": "guardrails/example.yml", "FC_FUNC_CODE_PATH": str(ROOT)})
    sg = ecs_seed.group()
    rule = ecs_seed.egress(sg, port_range="443/443", dest_cidr_ip="10.0.0.0/8", description="pinned [locked]")
    out = invoke(mns([change(edit(sg, rule, DestCidrIp="8.8.8.0/24", PortRange="53/53"), id="public-dns"),
                      change(edit(sg, rule, Description="still [locked]"), id="describe", time="2026-11-27T09:00:00Z")]))
    assert out[0]["data"]["error"]["code"] == "Forbidden.Guardrail"
    assert {g["name"] for g in out[0]["data"]["guardrails"]} == {"no-public-accept", "locked-rules"}
    assert out[1]["data"]["status"] == "applied"
    [call] = localcloud.calls("ModifySecurityGroupEgressRule")
    assert call["params"]["Description"] == "still [locked]" and call["params"]["DestCidrIp"] == "10.0.0.0/8"


def test_the_policy_is_compiled_once_per_instance(guarded: Any, invoke: Any, world: dict[str, str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from sgrule import cel
    from sgrule.apply import handler
    from sgrule.guardrails import Policy

    guarded()
    invoke(mns([change(edit(world["sg"], world["db"], Description="one"), id="one")]))
    policy = handler.instance().deps.guardrails
    assert isinstance(policy, Policy) and [g.name for g in policy.guardrails] == ["no-ssh-out", "watch-high-priority"]
    compiled: list[str] = []
    real = cel.compile
    monkeypatch.setattr(cel, "compile", lambda expression, variables: compiled.append(expression) or
                        real(expression, variables))
    [out] = invoke(mns([change(edit(world["sg"], world["web"], PortRange="22/22"), id="two")]))
    assert out["data"]["error"]["code"] == "Forbidden.Guardrail"
    assert compiled == [] and handler.instance().deps.guardrails is policy

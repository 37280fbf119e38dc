"""The apply function end to end: the real handler, the official SDKs, localcloud over HTTP."""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from applykit import change, mns

from sgrule.contract.envelope import InvocationError

ROOT = Path(__file__).resolve().parents[2]
OUTCOME_SCHEMA = json.loads((ROOT / "schemas" / "outcome.schema.json").read_text())
R = "cn-hangzhou"


def statuses(outcomes: list[dict[str, Any]]) -> list[str]:
    return [o["data"]["status"] for o in outcomes]


def rules_of(localcloud: Any, sg: str) -> dict[str, dict[str, Any]]:
    for account in localcloud.state()["ecs"]["accounts"].values():
        group = account.get(R, {}).get("security_groups", {}).get(sg)
        if group is not None:
            return {r["SecurityGroupRuleId"]: r for r in group["rules"]}
    raise AssertionError(f"{sg} not in localcloud state")


@pytest.fixture
def world(ecs_seed: Any, localcloud: Any) -> dict[str, str]:
    """Two VPC groups: https, dns and a group-destination rule in one; the call log starts empty."""
    sg = ecs_seed.group(vpc_id="vpc-1")
    db = ecs_seed.group(vpc_id="vpc-1")
    w = {
        "sg": sg, "db": db,
        "https": ecs_seed.egress(sg, port_range="443/443", dest_cidr_ip="10.0.0.0/8", description="https"),
        "dns": ecs_seed.egress(sg, ip_protocol="UDP", port_range="53/53", dest_cidr_ip="10.0.0.2/32"),
        "pg": ecs_seed.egress(sg, port_range="5432/5432", dest_group_id=db, nic_type="intranet"),
    }
    localcloud.clear_calls()
    return w


def by_id(w: dict[str, str], rule: str, **fields: Any) -> dict[str, Any]:
    return {"RegionId": R, "SecurityGroupId": w["sg"], "SecurityGroupRuleId": w[rule], **fields}


def test_every_status_from_one_realistic_batch(invoke: Any, world: dict[str, str], localcloud: Any,
                                               apply_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    w = world
    batch = mns([
        change(by_id(w, "https", PortRange="8443/8443"), id="applied", correlationid="corr-1"),
        change(by_id(w, "dns", PortRange="53/53", IpProtocol="udp"), id="unchanged"),
        change(by_id(w, "dns", PortRange="0/53"), id="rejected-validation"),
        change(by_id(w, "pg", Description="newer"), id="newer", time="2026-11-27T10:05:00Z"),
        change(by_id(w, "pg", Description="older"), id="superseded", time="2026-11-27T10:01:00Z"),
        change({"RegionId": R, "SecurityGroupId": w["sg"], "IpProtocol": "udp", "PortRange": "53/53",
                "DestCidrIp": "10.0.0.2", "Description": "dns to resolver"}, id="by-match"),
        change(by_id(w, "https", DestGroupId=w["db"]), id="rejected-entity"),
    ], b64=False)
    batch[1]["data"]["messageBody"] = __import__("base64").b64encode(batch[1]["data"]["messageBody"].encode()).decode()
    outcomes = invoke(batch)

    assert [o["data"]["changeId"] for o in outcomes] == ["applied", "unchanged", "rejected-validation", "newer",
                                                         "superseded", "by-match", "rejected-entity"]
    assert statuses(outcomes) == ["applied", "unchanged", "rejected", "applied", "superseded", "applied", "rejected"]
    for o in outcomes:
        jsonschema.validate(o, OUTCOME_SCHEMA)
        assert o["type"] == f"sgrule.egress.modify.{o['data']['status']}"
    applied, _, bad, _, _, match, entity = outcomes
    assert applied["correlationid"] == "corr-1" and applied["data"]["correlationId"] == "corr-1"
    assert applied["subject"] == f"{w['sg']}/{w['https']}"
    assert applied["data"]["before"]["PortRange"] == "443/443" and applied["data"]["after"]["PortRange"] == "8443/8443"
    [call] = [c for c in localcloud.calls("ModifySecurityGroupEgressRule")
              if c["params"]["SecurityGroupRuleId"] == w["https"]]
    # What ECS answered and was sent, from localcloud's own log.
    assert (applied["data"]["requestId"], applied["data"]["clientToken"]) == (call["requestId"],
                                                                            call["params"]["ClientToken"])
    assert applied["data"]["attempts"] == 1
    error = bad["data"]["error"]
    assert (error["code"], error["httpStatus"], error["source"]) == ("InvalidParam.PortRange", 400, "validation")
    assert "PortRange" in error["message"] and "1-65535" in error["message"]  # the doc's range: 1 to 65535
    assert entity["data"]["error"]["code"] == "InvalidOperation.ModifySgRuleEntityType"
    assert match["data"]["securityGroupRuleId"] == w["dns"]

    live = rules_of(localcloud, w["sg"])
    assert live[w["https"]]["PortRange"] == "8443/8443"
    assert live[w["pg"]]["Description"] == "newer"
    assert live[w["dns"]]["Description"] == "dns to resolver"
    # One Describe for the group, one Modify per real change, outcomes published to the bus.
    assert len(localcloud.calls("DescribeSecurityGroupAttribute")) == 1
    assert len(localcloud.calls("ModifySecurityGroupEgressRule")) == 3
    published = localcloud.events(bus="default")
    assert sorted(e["eventId"] for e in published) == sorted(o["id"] for o in outcomes)
    by_id_ = {e["eventId"]: e["event"] for e in published}
    assert by_id_[applied["id"]]["Data"] == applied["data"]
    assert by_id_[applied["id"]]["Type"] == "sgrule.egress.modify.applied"


def test_redelivered_batch_replays_stored_outcomes_with_zero_new_calls(invoke: Any, world: dict[str, str],
                                                                       localcloud: Any) -> None:
    w = world
    batch = mns([change(by_id(w, "https", PortRange="8443/8443")),
                 change(by_id(w, "dns", Description="resolver")),
                 change(by_id(w, "pg", Description="same")),
                 change(by_id(w, "pg", PortRange="5433/5433", IpProtocol="TCP"))])
    first = invoke(batch)
    modifies = len(localcloud.calls("ModifySecurityGroupEgressRule"))
    localcloud.clear_calls()
    second = invoke(batch)
    assert second == first  # the same outcome events (ids, times and all), replayed from the store
    assert localcloud.calls("ModifySecurityGroupEgressRule") == []
    assert localcloud.calls("DescribeSecurityGroupAttribute") == []
    assert modifies == 4  # every change was real; two of them to one rule, one call each


def test_envelope_shapes(invoke: Any, world: dict[str, str]) -> None:
    w = world
    ev = change(by_id(w, "https", Description="bare"))
    assert statuses(invoke(ev)) == ["applied"]  # a bare event (sync invoke from a workflow)
    assert statuses(invoke([change(by_id(w, "https", Description="bare list"))])) == ["applied"]
    assert statuses(invoke(mns([change(by_id(w, "https", Description="one wrapper"))])[0])) == ["applied"]
    assert statuses(invoke(mns([change(by_id(w, "https", Description="base64"))], b64=True))) == ["applied"]
    garbled = mns([ev])
    garbled[0]["data"]["messageBody"] = "not json, not base64!"
    out = invoke(garbled)
    assert statuses(out) == ["rejected"] and out[0]["data"]["error"]["code"] == "InvalidEvent.Malformed"
    assert out[0]["data"]["changeId"] == "mns-msg-0"
    assert invoke([]) == []


@pytest.mark.parametrize("payload", [{"foo": 1}, "text", {"data": {}}, 3, None])
def test_unrecognised_shape_is_an_invocation_error(invoke: Any, payload: Any, localcloud: Any) -> None:
    with pytest.raises(InvocationError):
        invoke(payload)
    assert localcloud.calls("ModifySecurityGroupEgressRule") == []


def test_an_unrecognised_element_of_a_batch_is_rejected_alone(invoke: Any, world: dict[str, str],
                                                              localcloud: Any) -> None:
    good = change(by_id(world, "https", Description="next to junk"))
    out = invoke([1, {"data": {}}, mns([good])[0], "text", {"id": "x" * 1000}])
    assert statuses(out) == ["rejected", "rejected", "applied", "rejected", "rejected"]
    assert {o["data"]["error"]["code"] for i, o in enumerate(out) if i != 2} == {"InvalidEvent.Malformed"}
    assert len(out[4]["data"]["changeId"]) <= 256  # a sender's value, cut to size
    assert len(localcloud.calls("ModifySecurityGroupEgressRule")) == 1


def test_policy_guard(invoke: Any, world: dict[str, str], monkeypatch: pytest.MonkeyPatch, localcloud: Any) -> None:
    from sgrule.apply import handler as runtime

    monkeypatch.setenv("SGRULE_ALLOWED_SECURITY_GROUPS", "sg-allowed*, sg-other")
    runtime.reset()
    out = invoke([change(by_id(world, "https", Description="x"))])
    assert out[0]["data"]["status"] == "rejected"
    error = out[0]["data"]["error"]
    assert (error["code"], error["httpStatus"], error["source"]) == ("Forbidden.SecurityGroupNotAllowed", 403, "policy")
    # The message says what is outside and which settings to change.
    for text in (world["sg"], "cn-hangzhou", "SGRULE_ALLOWED_SECURITY_GROUPS"):
        assert text in error["message"]
    monkeypatch.setenv("SGRULE_ALLOWED_SECURITY_GROUPS", world["sg"][:5] + "*")
    monkeypatch.setenv("SGRULE_ALLOWED_REGIONS", "us-*")
    runtime.reset()
    assert invoke([change(by_id(world, "https", Description="x"))])[0]["data"]["status"] == "rejected"
    assert localcloud.calls("DescribeSecurityGroupAttribute") == []


def test_same_id_different_payload_is_a_mismatch(invoke: Any, world: dict[str, str], localcloud: Any) -> None:
    first = invoke([change(by_id(world, "https", Description="one"), id="dup")])
    second = invoke([change(by_id(world, "https", Description="two"), id="dup")])
    assert statuses(first) == ["applied"]
    assert second[0]["data"]["error"]["code"] == "IdempotentParameterMismatch"
    assert second[0]["id"] != first[0]["id"]  # consumers dropping duplicate ids must not drop either
    assert rules_of(localcloud, world["sg"])[world["https"]]["Description"] == "one"
    # And the original's stored outcome still replays.
    assert invoke([change(by_id(world, "https", Description="one"), id="dup")]) == first


def test_duplicate_within_one_batch_runs_once(invoke: Any, world: dict[str, str], localcloud: Any) -> None:
    ev = change(by_id(world, "https", Description="twice"), id="dup-in-batch")
    out = invoke(mns([ev, ev]))
    assert out[0] == out[1] and statuses(out) == ["applied", "applied"]
    assert len(localcloud.calls("ModifySecurityGroupEgressRule")) == 1
    assert [e["eventId"] for e in localcloud.events(bus="default")] == [out[0]["id"]]  # one outcome, published once


def test_stateful_checks(invoke: Any, world: dict[str, str], localcloud: Any) -> None:
    w = world
    out = invoke([
        change(by_id(w, "https", SecurityGroupRuleId="sgr-doesnotexist", Description="x")),
        change(by_id(w, "pg", NicType="internet")),
        change(by_id(w, "https", Ipv6DestCidrIp="2001:db8::/32")),
        change(by_id(w, "dns", IpProtocol="TCP", PortRange="443/443", DestCidrIp="10.0.0.0/8")),  # = https rule
        change({"RegionId": R, "SecurityGroupId": w["sg"], "IpProtocol": "TCP", "PortRange": "1/1",
                "DestCidrIp": "10.0.0.0/8", "Description": "nothing matches"}),
    ])
    assert [o["data"]["error"]["code"] for o in out] == [
        "SecurityGroupRule.NotFound", "InvalidOperation.ModifyNicType", "InvalidParameter.Conflict",
        "InvalidParam.InvalidModifyRuleRequest", "SecurityGroupRule.NotFound"]
    assert localcloud.calls("ModifySecurityGroupEgressRule") == []


def test_unknown_group_is_rejected_with_the_ecs_code(invoke: Any, world: dict[str, str]) -> None:
    out = invoke([change({"RegionId": R, "SecurityGroupId": "sg-missing", "SecurityGroupRuleId": "sgr-1",
                          "Description": "x"})])
    assert out[0]["data"]["error"]["code"] == "InvalidSecurityGroupId.NotFound"
    assert out[0]["data"]["error"]["source"] == "ecs"


def test_ecs_rejection_is_final_and_stored(invoke: Any, world: dict[str, str], localcloud: Any) -> None:
    """A 4xx the validator could not foresee (here: an unknown destination group) is not retried."""
    out = invoke([change(by_id(world, "pg", DestGroupId="sg-unknowngroup"))])
    [call] = localcloud.calls("ModifySecurityGroupEgressRule")
    assert out[0]["data"]["status"] == "rejected"
    # The code and status ECS answered (localcloud's log), passed on as they came.
    error = out[0]["data"]["error"]
    assert (error["code"], error["httpStatus"], error["source"]) == (call["code"], call["status"], "ecs")
    assert call["code"] in ("InvalidDestGroupId.NotFound", "InvalidDestGroup.NotFound")  # the doc's two names
    # ... with the message ECS sent (the doc's, for the code localcloud chose), not the SDK's wrapping of it.
    assert error["message"] == "The DestGroupId provided does not exist in our records."


def test_outcomes_published_in_as_few_calls_as_the_bus_allows(invoke: Any, ecs_seed: Any, localcloud: Any) -> None:
    sg = ecs_seed.group()
    rules = [ecs_seed.egress(sg, port_range=f"{1000 + i}/{1000 + i}") for i in range(20)]
    events = [change({"RegionId": R, "SecurityGroupId": sg, "SecurityGroupRuleId": r, "Description": f"d{i}"})
              for i, r in enumerate(rules)]
    localcloud.clear_calls()
    out = invoke(mns(events))
    assert statuses(out) == ["applied"] * 20
    assert len(localcloud.calls("PutEvents")) == 2  # 16 + 4
    assert len(localcloud.calls("DescribeSecurityGroupAttribute")) == 1
    assert len(localcloud.events(bus="default")) == 20


def test_by_match_prefers_the_exact_rule_and_refuses_to_guess(invoke: Any, ecs_seed: Any, localcloud: Any) -> None:
    sg = ecs_seed.group()
    plain = ecs_seed.egress(sg, port_range="22/22", dest_cidr_ip="10.0.0.0/8")
    sourced = ecs_seed.egress(sg, port_range="22/22", dest_cidr_ip="10.0.0.0/8", source_cidr_ip="192.168.0.0/16")
    ported = ecs_seed.egress(sg, port_range="23/23", dest_cidr_ip="10.0.0.0/8", source_port_range="1/100")
    ported2 = ecs_seed.egress(sg, port_range="23/23", dest_cidr_ip="10.0.0.0/8", source_cidr_ip="172.16.0.0/12")
    match = {"RegionId": R, "SecurityGroupId": sg, "IpProtocol": "TCP", "DestCidrIp": "10.0.0.0/8"}
    out = invoke([change({**match, "PortRange": "22/22", "Description": "plain"}),
                  change({**match, "PortRange": "22/22", "SourceCidrIp": "192.168.0.0/16", "Description": "src"}),
                  change({**match, "PortRange": "23/23", "Description": "which one?"})])
    assert [o["data"]["securityGroupRuleId"] for o in out[:2]] == [plain, sourced]
    assert out[2]["data"]["error"]["code"] == "InvalidParam.InvalidModifyRuleRequest"
    assert ported in out[2]["data"]["error"]["message"] and ported2 in out[2]["data"]["error"]["message"]
    assert rules_of(localcloud, sg)[sourced]["Description"] == "src"


def test_logs_are_json_lines_with_ids_and_never_a_credential(invoke: Any, world: dict[str, str],
                                                             apply_env: dict[str, str],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    invoke(mns([change(by_id(world, "https", Description="logged"), id="log-1", correlationid="corr-log")]))
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    outcome = next(line for line in lines if line["message"] == "outcome")
    assert outcome["changeId"] == "log-1" and outcome["correlationId"] == "corr-log"
    assert outcome["requestId"].startswith("req-") and outcome["status"] == "applied"
    assert apply_env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] not in err
    assert apply_env["ALIBABA_CLOUD_ACCESS_KEY_ID"] not in err


def test_one_bad_message_never_sinks_the_batch(invoke: Any, world: dict[str, str]) -> None:
    good = change(by_id(world, "https", Description="still applied"))
    overflow = change(by_id(world, "dns", Description="x"), time="9999-12-31T23:59:59-01:00")
    batch = mns([good, overflow, change(by_id(world, "pg", Description="y"))])
    batch[2]["data"]["messageBody"] = "[" * 100000 + "]" * 100000  # deeper than json can parse
    out = invoke(batch)
    assert statuses(out) == ["applied", "rejected", "rejected"]
    assert out[1]["data"]["error"]["code"] == "InvalidEvent.InvalidAttribute"
    assert out[2]["data"]["error"]["code"] == "InvalidEvent.Malformed"


# JSON that Python's reader cannot take as it is: an integer beyond its 4300-digit conversion limit, and nesting
# beyond the readable depth. Each is a sender's mistake, answered with the door's documented error.
BEYOND = [pytest.param("1" * 5000, "an integer of 5000 digits", id="huge-integer"),
          pytest.param("[" * 5000 + "]" * 5000, "nested more than 100 levels deep", id="deep-nesting")]


@pytest.mark.parametrize("bad, why", BEYOND)
def test_a_payload_beyond_the_reader_is_an_invocation_error(invoke: Any, localcloud: Any, bad: str,
                                                            why: str) -> None:
    with pytest.raises(InvocationError, match=why):
        invoke(f'[{{"specversion": "1.0", "id": "x", "data": {{"Priority": {bad}}}}}]'.encode())
    assert localcloud.calls("ModifySecurityGroupEgressRule") == []


@pytest.mark.parametrize("b64", [False, True])
@pytest.mark.parametrize("bad, why", BEYOND)
def test_a_message_body_beyond_the_reader_is_rejected_alone(invoke: Any, world: dict[str, str], localcloud: Any,
                                                            bad: str, why: str, b64: bool) -> None:
    batch = mns([change(by_id(world, "https", Description=f"next to {why} {b64}")),
                 change(by_id(world, "dns", Description="replaced"))], b64=b64)
    body = f'{{"specversion": "1.0", "id": "beyond", "data": {{"Priority": {bad}}}}}'
    batch[1]["data"]["messageBody"] = base64.b64encode(body.encode()).decode() if b64 else body
    out = invoke(batch)
    assert statuses(out) == ["applied", "rejected"]
    error = out[1]["data"]["error"]
    assert error["code"] == "InvalidEvent.Malformed" and "messageBody" in error["message"]
    assert why in error["message"] and "sys.set_int_max_str_digits" not in error["message"]
    assert out[1]["data"]["changeId"] == "mns-msg-1"
    assert len(localcloud.calls("ModifySecurityGroupEgressRule")) == 1

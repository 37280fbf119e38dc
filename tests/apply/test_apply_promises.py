"""Promises users rely on, each held by a test that fails when the promise is broken: the real handler, the
official SDKs, localcloud over HTTP; assertions on outcomes, the calls localcloud logged and the rule's state.

ClientToken derived from the change; the allow-list fails closed; every page of a group's rules is read;
throttling in its common form (a 400 without Retry-After) is retried; entries the bus refuses one by one are
published again; backoff never sleeps past the time budget; base64 bodies are UTF-8; a re-sent change with
another time is a mismatch; the failed outcome's error; a redelivered change already in place costs no call.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from applykit import change, edit, mns

from sgrule.apply import handler as runtime
from sgrule.apply.handler import RedeliveryNeeded

HERE = Path(__file__).parent
R = "cn-hangzhou"
UNAVAILABLE = {"status": 503, "code": "ServiceUnavailable", "message": "The request has failed due to a "
               "temporary failure of the server."}


def rules_of(localcloud: Any, sg: str) -> dict[str, dict[str, Any]]:
    for account in localcloud.state()["ecs"]["accounts"].values():
        group = account.get(R, {}).get("security_groups", {}).get(sg)
        if group is not None:
            return {r["SecurityGroupRuleId"]: r for r in group["rules"]}
    raise AssertionError(sg)


@pytest.fixture
def group(ecs_seed: Any, localcloud: Any) -> dict[str, Any]:
    sg = ecs_seed.group()
    rules = [ecs_seed.egress(sg, port_range=f"{p}/{p}") for p in (80, 81, 82)]
    localcloud.clear_calls()
    return {"sg": sg, "rules": rules}


# --- the ClientToken is derived from the change ----------------------------------------------------------------

def test_another_instance_with_its_own_store_sends_the_same_client_token(
        invoke: Any, group: dict[str, Any], localcloud: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Idempotency across instances and after a lost store rests on the token alone: the same change must
    carry the same ClientToken from any instance, a different change a different one."""
    sg, (r1, r2, _) = group["sg"], group["rules"]
    ev = change(edit(sg, r1, Description="token"), id="tok-1")
    monkeypatch.setenv("SGRULE_MAX_ATTEMPTS", "2")
    runtime.reset()
    localcloud.faults.inject("ModifySecurityGroupEgressRule", error=UNAVAILABLE)
    with pytest.raises(RedeliveryNeeded):
        invoke([ev])
    first = {c["params"]["ClientToken"] for c in localcloud.calls("ModifySecurityGroupEgressRule")}
    assert len(first) == 1  # one token for every retry

    monkeypatch.setenv("SGRULE_IDEMPOTENCY_URL", f"sqlite:///{tmp_path}/another-instance.sqlite3")  # store lost
    runtime.reset()
    localcloud.faults.clear()
    localcloud.clear_calls()
    out = invoke([ev, change(edit(sg, r2, Description="token"), id="tok-2")])
    assert [o["data"]["status"] for o in out] == ["applied", "applied"]
    calls = {c["params"]["SecurityGroupRuleId"]: c["params"]["ClientToken"]
             for c in localcloud.calls("ModifySecurityGroupEgressRule")}
    assert {calls[r1]} == first and out[0]["data"]["clientToken"] == calls[r1]
    assert calls[r2] != calls[r1]  # another change: another token (one token for all would be a mismatch)


def test_an_events_own_client_token_is_sent_as_given(invoke: Any, group: dict[str, Any], localcloud: Any) -> None:
    sg, r1 = group["sg"], group["rules"][0]
    out = invoke([change(edit(sg, r1, Description="own token", ClientToken="123e4567-e89b-12d3-a456-426655440000"))])
    [call] = localcloud.calls("ModifySecurityGroupEgressRule")
    assert call["params"]["ClientToken"] == "123e4567-e89b-12d3-a456-426655440000" == out[0]["data"]["clientToken"]


# --- the allow-list fails closed -------------------------------------------------------------------------------

@pytest.mark.parametrize("regions,groups", [(None, None), ("*", None), (None, "*"), ("", "*"), ("*", " , ")])
def test_an_empty_allow_list_allows_nothing(invoke: Any, group: dict[str, Any], localcloud: Any,
                                            monkeypatch: pytest.MonkeyPatch, regions: str | None,
                                            groups: str | None) -> None:
    for name, value in (("SGRULE_ALLOWED_REGIONS", regions), ("SGRULE_ALLOWED_SECURITY_GROUPS", groups)):
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    runtime.reset()
    out = invoke([change(edit(group["sg"], r, Description="not allowed")) for r in group["rules"]])
    assert [(o["data"]["status"], o["data"]["error"]["code"], o["data"]["error"]["httpStatus"]) for o in out] == [
        ("rejected", "Forbidden.SecurityGroupNotAllowed", 403)] * 3
    assert localcloud.calls("DescribeSecurityGroupAttribute") == []
    assert localcloud.calls("ModifySecurityGroupEgressRule") == []


# --- every page of DescribeSecurityGroupAttribute ---------------------------------------------------------------

def test_rules_past_the_first_page_are_found(invoke: Any, ecs_seed: Any, localcloud: Any) -> None:
    sg = ecs_seed.group()
    rules = [ecs_seed.egress(sg, port_range=f"{p}/{p}") for p in range(2000, 2008)]  # 8 rules, 3 pages of 3
    localcloud.configure(ecs={"pageSize": 3})
    localcloud.clear_calls()
    out = invoke([
        change(edit(sg, rules[7], Description="last page")),
        change({"RegionId": R, "SecurityGroupId": sg, "IpProtocol": "TCP", "PortRange": "2004/2004",
                "DestCidrIp": "10.0.0.0/8", "Description": "by match, second page"}),
        change(edit(sg, rules[0], PortRange="2006/2006")),  # would be the same rule as rules[6] (third page)
    ])
    assert [o["data"]["status"] for o in out] == ["applied", "applied", "rejected"]
    assert out[1]["data"]["securityGroupRuleId"] == rules[4]
    assert out[2]["data"]["error"]["code"] == "InvalidParam.InvalidModifyRuleRequest"
    assert rules[6] in out[2]["data"]["error"]["message"]
    describes = localcloud.calls("DescribeSecurityGroupAttribute")
    assert len(describes) == 3 and [bool(c["params"].get("NextToken")) for c in describes] == [False, True, True]
    live = rules_of(localcloud, sg)
    assert (live[rules[7]]["Description"], live[rules[4]]["Description"]) == ("last page", "by match, second page")
    modified = sorted(c["params"]["SecurityGroupRuleId"] for c in localcloud.calls("ModifySecurityGroupEgressRule"))
    assert modified == sorted([rules[7], rules[4]])  # none for the duplicate


# --- throttling without Retry-After -----------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["Throttling", "Throttling.User", "Throttling.Api"])
def test_throttling_without_retry_after_is_retried(invoke: Any, group: dict[str, Any], localcloud: Any,
                                                   code: str) -> None:
    """The common form of ECS throttling is a plain 400 (no x-acs-retry-after header): the SDK raises a
    ClientException, and the change must still be retried, not rejected."""
    sg, r1 = group["sg"], group["rules"][0]
    localcloud.faults.inject("ModifySecurityGroupEgressRule", times=2,
                             error={"status": 400, "code": code, "message": "Request was denied due to flow control."})
    out = invoke([change(edit(sg, r1, Description="after throttling"))])
    assert (out[0]["data"]["status"], out[0]["data"]["attempts"]) == ("applied", 3)
    calls = localcloud.calls("ModifySecurityGroupEgressRule")
    assert [c["code"] for c in calls] == [code, code, None]
    assert len({c["params"]["ClientToken"] for c in calls}) == 1
    assert rules_of(localcloud, sg)[r1]["Description"] == "after throttling"


# --- PutEvents entries refused one by one ------------------------------------------------------------------------

def test_entries_the_bus_refuses_one_by_one_are_published_again(invoke: Any, group: dict[str, Any],
                                                                localcloud: Any) -> None:
    sg = group["sg"]
    localcloud.configure(eventbridge={"refuseEntries": {"count": 2, "calls": 1}})
    out = invoke([change(edit(sg, r, Description=f"published {i}")) for i, r in enumerate(group["rules"])])
    published = [e["eventId"] for e in localcloud.events(bus="default")]
    assert sorted(published) == sorted(o["id"] for o in out)  # every outcome, each once
    puts = localcloud.calls("PutEvents")
    assert len(puts) == 2 and len(json.loads(puts[1]["params"]["EventList"])) == 2  # only the refused two again


def test_an_outcome_the_bus_keeps_refusing_fails_the_invocation_until_published(
        invoke: Any, group: dict[str, Any], localcloud: Any) -> None:
    from sgrule.clients.eventbridge import PublishError

    batch = [change(edit(group["sg"], group["rules"][0], Description="refused"))]
    localcloud.configure(eventbridge={"refuseEntries": {"count": 1, "calls": None}})
    with pytest.raises(PublishError):
        invoke(batch)
    assert localcloud.events(bus="default") == []
    localcloud.configure(eventbridge={"refuseEntries": None})
    localcloud.clear_calls()
    out = invoke(batch)  # the platform redelivers: the stored outcome is published, no new Modify
    assert localcloud.calls("ModifySecurityGroupEgressRule") == []
    assert [e["eventId"] for e in localcloud.events(bus="default")] == [out[0]["id"]]


# --- backoff and the time budget ----------------------------------------------------------------------------------

def test_backoff_never_sleeps_past_the_time_budget(apply_env: dict[str, str], group: dict[str, Any],
                                                   localcloud: Any, tmp_path: Path) -> None:
    """With backoff steps far longer than the budget, a failing call is not retried: the handler gives the
    change back for redelivery at once instead of sleeping past its FC timeout. (A separate process, so a
    handler that does sleep can be killed.)"""
    payload = tmp_path / "batch.json"
    payload.write_text(json.dumps([change(edit(group["sg"], group["rules"][0], Description="budget"))]))
    localcloud.faults.inject("ModifySecurityGroupEgressRule", error=UNAVAILABLE)
    env = {**os.environ, **apply_env, "SGRULE_RETRY_BASE_MS": "3600000", "SGRULE_RETRY_CAP_MS": "3600000"}
    fc_timeout = 3.0
    proc = subprocess.Popen([sys.executable, str(HERE / "run_handler.py"), str(payload), str(fc_timeout)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        started = time.monotonic()
        stdout, _ = proc.communicate(timeout=fc_timeout + 10)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert json.loads(stdout.strip().splitlines()[-1])["errorType"] == "RedeliveryNeeded"
    assert elapsed < fc_timeout  # within the invocation's time: FC would have killed it
    assert len(localcloud.calls("ModifySecurityGroupEgressRule")) == 1


# --- base64 bodies are UTF-8 --------------------------------------------------------------------------------------

def test_base64_bodies_keep_non_ascii_descriptions(invoke: Any, group: dict[str, Any], localcloud: Any) -> None:
    text = "Zahlungs-API für Café – 支付网关 ✓"
    ev = change(edit(group["sg"], group["rules"][0], Description=text))
    wrapped = mns([ev], b64=True)
    raw = base64.b64decode(wrapped[0]["data"]["messageBody"])
    assert not raw.isascii() and json.loads(raw.decode("utf-8")) == ev  # UTF-8 bytes, not \u escapes
    out = invoke(wrapped)
    assert out[0]["data"]["status"] == "applied" and out[0]["data"]["after"]["Description"] == text
    [call] = localcloud.calls("ModifySecurityGroupEgressRule")
    assert call["params"]["Description"] == text
    assert rules_of(localcloud, group["sg"])[group["rules"][0]]["Description"] == text


# --- a re-sent change with another time ---------------------------------------------------------------------------

def test_the_same_change_id_with_another_time_is_a_mismatch(invoke: Any, group: dict[str, Any],
                                                             localcloud: Any) -> None:
    data = edit(group["sg"], group["rules"][0], Description="timed")
    first = invoke([change(data, id="timed", time="2026-11-27T10:00:00Z")])
    second = invoke([change(data, id="timed", time="2026-11-27T11:00:00Z")])
    assert first[0]["data"]["status"] == "applied"
    assert (second[0]["data"]["status"], second[0]["data"]["error"]["code"]) == (
        "rejected", "IdempotentParameterMismatch")
    assert second[0]["id"] != first[0]["id"]
    assert len(localcloud.calls("ModifySecurityGroupEgressRule")) == 1


# --- the failed outcome ---------------------------------------------------------------------------------------------

def test_a_change_failing_past_max_deliveries_ends_failed_with_a_503(invoke: Any, group: dict[str, Any],
                                                                    localcloud: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """failed = given up on a transient failure: HTTP 503, "temporarily unable to handle the request"
    (RFC 9110, 15.6.4), not 500, "an unexpected condition" (15.6.1)."""
    monkeypatch.setenv("SGRULE_MAX_DELIVERIES", "1")
    monkeypatch.setenv("SGRULE_MAX_ATTEMPTS", "1")
    runtime.reset()
    localcloud.faults.inject("ModifySecurityGroupEgressRule", error=UNAVAILABLE)
    out = invoke([change(edit(group["sg"], group["rules"][0], Description="never"))])
    error = out[0]["data"]["error"]
    assert out[0]["data"]["status"] == "failed" and out[0]["type"] == "sgrule.egress.modify.failed"
    assert (error["code"], error["httpStatus"], error["source"]) == ("Runtime.RetriesExhausted", 503, "runtime")


# --- a redelivered change already in place --------------------------------------------------------------------------

def test_a_redelivered_change_already_in_place_makes_no_modify(invoke: Any, group: dict[str, Any], localcloud: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """C's call went out (its reply was lost) and C was given back; a newer change N then set another field.
    On redelivery C's request no longer matches the rule, but what C asked for is in place: applied, with
    no needless Modify."""
    sg, r1 = group["sg"], group["rules"][0]
    monkeypatch.setenv("SGRULE_MAX_ATTEMPTS", "2")
    runtime.reset()
    c = change(edit(sg, r1, Description="from C"), time="2026-11-27T10:01:00Z")
    localcloud.faults.add([
        {"action": "ModifySecurityGroupEgressRule", "drop": True, "phase": "after", "times": 1},
        {"action": "ModifySecurityGroupEgressRule", "error": UNAVAILABLE, "times": 1},
    ])
    with pytest.raises(RedeliveryNeeded):
        invoke([c])
    assert rules_of(localcloud, sg)[r1]["Description"] == "from C"  # the lost reply's effect is in
    newer = invoke([change(edit(sg, r1, PortRange="8080/8080"), time="2026-11-27T10:05:00Z")])
    assert newer[0]["data"]["status"] == "applied"
    localcloud.clear_calls()
    out = invoke([c])
    assert out[0]["data"]["status"] == "applied" and out[0]["data"]["after"]["Description"] == "from C"
    assert localcloud.calls("ModifySecurityGroupEgressRule") == []
    live = rules_of(localcloud, sg)[r1]
    assert (live["Description"], live["PortRange"]) == ("from C", "8080/8080")


# --- an outcome never claims a state it did not see --------------------------------------------------------------

def test_a_client_token_replay_after_the_records_expired_reports_the_live_rule(
        invoke: Any, group: dict[str, Any], localcloud: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An old change delivered again once its records are gone: ECS keeps ClientTokens (its documentation
    states no validity window) and answers the first call's result without changing anything. The outcome
    must say so, with the rule as it is, not as the change wanted it."""
    sg, r1 = group["sg"], group["rules"][0]
    old = change(edit(sg, r1, Description="vendor A"), id="replayed-1", time="2026-11-27T12:00:00Z")
    assert invoke([old])[0]["data"]["status"] == "applied"
    later = change(edit(sg, r1, Description="vendor B"), id="later-1", time="2026-11-27T13:00:00Z")
    assert invoke([later])[0]["data"]["status"] == "applied"

    monkeypatch.setenv("SGRULE_IDEMPOTENCY_URL", f"sqlite:///{tmp_path}/expired.sqlite3")  # the records expired
    runtime.reset()
    localcloud.clear_calls()
    [out] = invoke([old])
    [call] = localcloud.calls("ModifySecurityGroupEgressRule")
    assert call["params"]["ClientToken"] == out["data"]["clientToken"]  # the old token, answered as a replay
    assert out["data"]["status"] == "rejected" and out["data"]["error"]["code"] == "ClientToken.Replayed"
    assert out["data"]["after"]["Description"] == "vendor B"  # what the rule is, read after the answer

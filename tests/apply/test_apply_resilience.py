"""Retries, time budgets, redelivery, crashes, ordering and concurrent instances."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from applykit import change, edit, mns, rule_state

from sgrule.apply import handler as runtime
from sgrule.apply.handler import RedeliveryNeeded

HERE = Path(__file__).parent
R = "cn-hangzhou"
THROTTLED = {"status": 400, "code": "Throttling.User", "message": "Request was denied due to user flow control.",
             "retryAfterMs": 20}
UNAVAILABLE = {"status": 503, "code": "ServiceUnavailable", "message": "The request has failed due to a "
               "temporary failure of the server."}



@pytest.fixture
def two_groups(ecs_seed: Any, localcloud: Any) -> dict[str, str]:
    a, b = ecs_seed.group(), ecs_seed.group()
    w = {"a": a, "b": b, "a1": ecs_seed.egress(a, port_range="80/80"), "a2": ecs_seed.egress(a, port_range="81/81"),
         "b1": ecs_seed.egress(b, port_range="90/90")}
    localcloud.clear_calls()
    return w



def test_throttled_twice_then_applied_with_three_attempts_and_one_token(invoke: Any, two_groups: dict[str, str],
                                                                        localcloud: Any) -> None:
    w = two_groups
    localcloud.faults.inject("ModifySecurityGroupEgressRule", error=THROTTLED, times=2)
    out = invoke([change(edit(w["a"], w["a1"], Description="after throttling"))])
    assert out[0]["data"]["status"] == "applied" and out[0]["data"]["attempts"] == 3
    calls = localcloud.calls("ModifySecurityGroupEgressRule")
    assert [c["code"] for c in calls] == ["Throttling.User", "Throttling.User", None]
    assert {c["params"]["ClientToken"] for c in calls} == {out[0]["data"]["clientToken"]}
    assert out[0]["data"]["requestId"] == calls[-1]["requestId"]


def test_lost_reply_is_retried_with_the_same_token_and_applied_once(invoke: Any, two_groups: dict[str, str],
                                                                    localcloud: Any) -> None:
    w = two_groups
    localcloud.faults.inject("ModifySecurityGroupEgressRule", drop=True, phase="after", times=1)
    out = invoke([change(edit(w["a"], w["a1"], PortRange="8080/8080"))])
    calls = localcloud.calls("ModifySecurityGroupEgressRule")
    assert out[0]["data"]["status"] == "applied" and out[0]["data"]["attempts"] == 2
    assert calls[0]["params"]["ClientToken"] == calls[1]["params"]["ClientToken"]
    assert calls[1]["requestId"] == calls[0]["requestId"]  # ECS answered the replay with the first result
    assert rule_state(localcloud, w["a"], w["a1"])["PortRange"] == "8080/8080"


def test_5xx_beyond_the_budget_raises_after_finishing_the_rest_then_redelivery_completes(
        invoke: Any, two_groups: dict[str, str], localcloud: Any) -> None:
    w = two_groups
    localcloud.faults.inject("ModifySecurityGroupEgressRule", error=UNAVAILABLE, security_group_id=w["b"])
    batch = mns([change(edit(w["a"], w["a1"], Description="fine")), change(edit(w["b"], w["b1"], Description="5xx")),
                 change(edit(w["a"], w["a2"], Description="fine too"))])
    with pytest.raises(RedeliveryNeeded, match="1 of 3"):  # bounded by the invocation's time
        invoke(batch, timeout=2.5)
    assert rule_state(localcloud, w["a"], w["a1"])["Description"] == "fine"
    assert rule_state(localcloud, w["a"], w["a2"])["Description"] == "fine too"
    published = {e["event"]["Data"]["changeId"] for e in localcloud.events(bus="default")}
    assert len(published) == 2  # the finished ones are published before the handler fails
    first_calls = len(localcloud.calls("ModifySecurityGroupEgressRule"))
    assert first_calls > 3  # the failing change was retried within the budget

    localcloud.faults.clear()
    localcloud.clear_calls()
    out = invoke(batch)
    assert [o["data"]["status"] for o in out] == ["applied", "applied", "applied"]
    modifies = localcloud.calls("ModifySecurityGroupEgressRule")
    assert [c["params"]["SecurityGroupId"] for c in modifies] == [w["b"]]  # only the one left over
    assert out[1]["data"]["attempts"] == first_calls - 2 + 1  # attempts are counted across deliveries
    assert rule_state(localcloud, w["b"], w["b1"])["Description"] == "5xx"


def test_still_failing_after_max_deliveries_ends_as_failed(invoke: Any, two_groups: dict[str, str], localcloud: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    w = two_groups
    monkeypatch.setenv("SGRULE_MAX_DELIVERIES", "2")
    monkeypatch.setenv("SGRULE_MAX_ATTEMPTS", "2")
    runtime.reset()
    localcloud.faults.inject("ModifySecurityGroupEgressRule", error=UNAVAILABLE)
    batch = [change(edit(w["a"], w["a1"], Description="never"))]
    with pytest.raises(RedeliveryNeeded):
        invoke(batch)
    out = invoke(batch)
    assert out[0]["data"]["status"] == "failed"
    assert out[0]["data"]["error"]["code"] == "Runtime.RetriesExhausted"
    assert "ServiceUnavailable" in out[0]["data"]["error"]["message"]
    # A 503 could have come after the effect: the outcome says its request may still take effect.
    assert f"its last request (ClientToken {out[0]['data']['clientToken']}) may still have taken effect" in \
        out[0]["data"]["error"]["message"]
    assert out[0]["data"]["attempts"] == 4
    assert invoke(batch) == out  # terminal: replayed, no more calls
    assert len(localcloud.calls("ModifySecurityGroupEgressRule")) == 4

    # The next change to the rule first settles that request (the fault is gone): the rule stays in order.
    localcloud.faults.clear()
    later = invoke([change(edit(w["a"], w["a1"], Priority=4), time="2026-11-27T10:30:00Z")])
    assert later[0]["data"]["status"] == "applied"
    calls = localcloud.calls("ModifySecurityGroupEgressRule")
    assert calls[4]["params"]["ClientToken"] == out[0]["data"]["clientToken"] and calls[4]["status"] == 200
    assert calls[5]["params"]["Description"] == "never" and calls[5]["params"]["Priority"] == "4"


def test_describe_failing_transiently_leaves_the_group_for_redelivery(invoke: Any, two_groups: dict[str, str],
                                                                      localcloud: Any) -> None:
    w = two_groups
    localcloud.faults.inject("DescribeSecurityGroupAttribute", error=UNAVAILABLE, security_group_id=w["b"])
    batch = [change(edit(w["a"], w["a1"], Description="a")), change(edit(w["b"], w["b1"], Description="b"))]
    with pytest.raises(RedeliveryNeeded):
        invoke(batch, timeout=2)
    localcloud.faults.clear()
    assert [o["data"]["status"] for o in invoke(batch)] == ["applied", "applied"]


def test_out_of_order_changes_end_in_the_state_the_newest_asked_for(invoke: Any, two_groups: dict[str, str],
                                                                    localcloud: Any) -> None:
    w = two_groups
    sg, rule = w["a"], w["a1"]
    t = "2026-11-27T10:0{}:00Z"
    # Batch 1 (delivered first) holds the newest change to PortRange; batch 2 older ones.
    first = invoke([change(edit(sg, rule, PortRange="3333/3333"), time=t.format(5))])
    second = invoke(mns([
        change(edit(sg, rule, PortRange="1111/1111", Description="old but new field"), time=t.format(1)),
        change(edit(sg, rule, PortRange="2222/2222"), time=t.format(2)),
        change(edit(sg, rule, Priority=7), time=t.format(9)),
        change(edit(sg, rule, Priority=3), time=t.format(4)),
    ]))
    assert first[0]["data"]["status"] == "applied"
    assert [o["data"]["status"] for o in second] == ["applied", "superseded", "applied", "superseded"]
    live = rule_state(localcloud, sg, rule)
    assert (live["PortRange"], live["Description"], str(live["Priority"])) == ("3333/3333", "old but new field", "7")
    # The partly superseded change applied only its other field.
    assert second[0]["data"]["after"]["PortRange"] == "3333/3333"


def test_many_rules_at_once_nothing_lost(invoke: Any, ecs_seed: Any, localcloud: Any) -> None:
    sg = ecs_seed.group()
    rules = [ecs_seed.egress(sg, port_range=f"{2000 + i}/{2000 + i}") for i in range(24)]
    events = []
    for i, r in enumerate(rules):  # three changes per rule, shuffled times
        for minute in (3, 1, 2):
            events.append(change(edit(sg, r, Description=f"r{i}-m{minute}"), time=f"2026-11-27T10:0{minute}:00Z"))
    out = invoke(mns(events))
    assert len(out) == 72
    assert sorted(o["data"]["status"] for o in out) == ["applied"] * 24 + ["superseded"] * 48
    for i, r in enumerate(rules):
        assert rule_state(localcloud, sg, r)["Description"] == f"r{i}-m3"


def _spawn(payload: Path, env: dict[str, str], timeout: float = 30) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, str(HERE / "run_handler.py"), str(payload), str(timeout)],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_kill_9_between_the_call_and_the_record_then_redelivery_reports_applied_once(
        invoke: Any, apply_env: dict[str, str], two_groups: dict[str, str], localcloud: Any, tmp_path: Path) -> None:
    w = two_groups
    payload = tmp_path / "batch.json"
    payload.write_text(json.dumps(mns([change(edit(w["a"], w["a1"], PortRange="7070/7070"), id="crashy")])))
    # The Modify takes effect at once, but its reply is held at a gate: the caller is killed meanwhile.
    localcloud.faults.inject("ModifySecurityGroupEgressRule", hold="reply", phase="after", times=1)
    proc = _spawn(payload, apply_env, timeout=2)  # a short invocation: its lease ends a few seconds on
    localcloud.wait_calls("ModifySecurityGroupEgressRule", timeout=20)  # logged once the effect is in
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    localcloud.release("reply")  # the reply goes to a dead caller
    assert rule_state(localcloud, w["a"], w["a1"])["PortRange"] == "7070/7070"  # the effect happened
    first = localcloud.calls("ModifySecurityGroupEgressRule")[0]

    # Redelivery: it finds the dead instance's claim, waits for its lease to run out, takes over, and
    # re-sends the recorded request with its ClientToken.
    out = invoke(json.loads(payload.read_text()), timeout=20)
    assert out[0]["data"]["status"] == "applied"
    calls = localcloud.calls("ModifySecurityGroupEgressRule")
    assert len(calls) == 2 and calls[1]["params"]["ClientToken"] == first["params"]["ClientToken"]
    assert calls[1]["requestId"] == first["requestId"]  # a replay: no second effect
    assert out[0]["data"]["requestId"] == first["requestId"]
    assert rule_state(localcloud, w["a"], w["a1"])["PortRange"] == "7070/7070"


@pytest.mark.redis
def test_two_processes_same_batch_with_redis_one_modify_per_change(
        apply_env: dict[str, str], redis_url: str, ecs_seed: Any, localcloud: Any, tmp_path: Path) -> None:
    sg = ecs_seed.group()
    rules = [ecs_seed.egress(sg, port_range=f"{3000 + i}/{3000 + i}") for i in range(12)]
    run = uuid.uuid4().hex[:8]
    events = [change(edit(sg, r, Description=f"two-instances {i}"), id=f"{run}-{i}") for i, r in enumerate(rules)]
    events.append(change(edit(sg, rules[0], Description="two-instances 0"), id=f"{run}-noop"))  # unchanged
    payload = tmp_path / "batch.json"
    payload.write_text(json.dumps(mns(events)))
    localcloud.clear_calls()
    localcloud.faults.inject("ModifySecurityGroupEgressRule", latency_ms=50)  # widen the overlap
    env = {**apply_env, "SGRULE_IDEMPOTENCY_URL": redis_url, "SGRULE_IDEMPOTENCY_NAMESPACE": f"test-{run}"}
    procs = [_spawn(payload, env) for _ in range(2)]
    outs = []
    for p in procs:
        stdout, _ = p.communicate(timeout=60)
        assert p.returncode == 0, stdout
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert outs[0] == outs[1]  # both report the same outcomes (one computed them, the other replayed)
    assert [o["data"]["status"] for o in outs[0]] == ["applied"] * 12 + ["unchanged"]
    modifies = localcloud.calls("ModifySecurityGroupEgressRule")
    assert len(modifies) == 12
    assert len({c["params"]["SecurityGroupRuleId"] for c in modifies}) == 12


def test_publish_failure_fails_the_invocation_and_redelivery_republishes_without_new_calls(
        invoke: Any, two_groups: dict[str, str], localcloud: Any) -> None:
    from sgrule.clients.eventbridge import PublishError

    w = two_groups
    batch = [change(edit(w["a"], w["a1"], Description="published later"))]
    localcloud.faults.inject("PutEvents", error=UNAVAILABLE)
    with pytest.raises(PublishError):
        invoke(batch, timeout=3)
    assert localcloud.events(bus="default") == []
    localcloud.faults.clear()
    localcloud.clear_calls()
    out = invoke(batch)
    assert out[0]["data"]["status"] == "applied"
    assert localcloud.calls("ModifySecurityGroupEgressRule") == []  # the stored outcome, replayed
    assert [e["eventId"] for e in localcloud.events(bus="default")] == [out[0]["id"]]


def test_unknown_bus_is_a_publish_error(invoke: Any, two_groups: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from sgrule.clients.eventbridge import PublishError

    monkeypatch.setenv("SGRULE_OUTCOME_BUS", "no-such-bus")
    runtime.reset()
    with pytest.raises(PublishError, match="EventBusNotExist"):
        invoke([change(edit(two_groups["a"], two_groups["a1"], Description="x"))])


def test_an_unsettled_request_is_settled_before_a_newer_change_and_keeps_the_newer_fields(
        invoke: Any, two_groups: dict[str, str], localcloud: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An older change's call failed transiently (it may or may not have taken effect). The newer change's
    delivery must first settle it -- re-send it with its own token -- and only then apply the newer fields;
    the older change's redelivery then reports that settled call, with no call of its own."""
    w = two_groups
    monkeypatch.setenv("SGRULE_MAX_ATTEMPTS", "2")
    runtime.reset()
    old = change(edit(w["a"], w["a1"], Description="old", Priority=5), time="2026-11-27T10:01:00Z")
    localcloud.faults.inject("ModifySecurityGroupEgressRule", error=UNAVAILABLE, times=2)
    with pytest.raises(RedeliveryNeeded):
        invoke([old])
    newer = invoke([change(edit(w["a"], w["a1"], Description="new", PortRange="8080/8080"),
                           time="2026-11-27T10:05:00Z")])
    assert newer[0]["data"]["status"] == "applied"
    calls = localcloud.calls("ModifySecurityGroupEgressRule")
    failed, settled, applied = calls[:2], calls[2], calls[3]
    assert [c["code"] for c in failed] == ["ServiceUnavailable"] * 2
    # the settle re-sent exactly the recorded request, with its token, before the newer change went out
    assert settled["params"] == failed[0]["params"] and settled["status"] == 200
    assert (settled["params"]["Description"], settled["params"]["Priority"]) == ("old", "5")
    assert (applied["params"]["Description"], applied["params"]["PortRange"]) == ("new", "8080/8080")
    assert applied["params"]["Priority"] == "5"  # built on the rule as the settle left it
    assert newer[0]["data"]["clientToken"] == applied["params"]["ClientToken"] != settled["params"]["ClientToken"]

    localcloud.clear_calls()
    out = invoke([old])
    assert out[0]["data"]["status"] == "applied"
    assert out[0]["data"]["requestId"] == settled["requestId"]
    assert out[0]["data"]["clientToken"] == settled["params"]["ClientToken"]
    assert out[0]["data"]["attempts"] == 3  # two failed on the first delivery, the settle's one
    assert localcloud.calls("ModifySecurityGroupEgressRule") == []
    live = rule_state(localcloud, w["a"], w["a1"])
    assert (live["Description"], live["PortRange"], str(live["Priority"])) == ("new", "8080/8080", "5")


def test_the_rule_lock_is_not_free_before_the_watermarks_are_stored(invoke: Any, two_groups: dict[str, str],
                                                                    localcloud: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Batch A applies N (newest Description) then gives up on O; while A is held at a gate on another group,
    batch B brings P, older than N: P must never overwrite N (B waits, or sees N's watermark: superseded)."""
    import threading

    w = two_groups
    monkeypatch.setenv("SGRULE_MAX_ATTEMPTS", "2")
    runtime.reset()
    localcloud.faults.add([
        {"action": "ModifySecurityGroupEgressRule", "securityGroupId": w["a"], "times": 1, "latencyMs": 1},
        {"action": "ModifySecurityGroupEgressRule", "securityGroupId": w["a"], "times": 2, "error": UNAVAILABLE},
        {"action": "ModifySecurityGroupEgressRule", "securityGroupId": w["b"], "hold": "batch-a"},
    ])
    batch_a = mns([change(edit(w["a"], w["a1"], Description="N"), time="2026-11-27T10:05:00Z"),
                   change(edit(w["a"], w["a1"], Priority=5), time="2026-11-27T10:01:00Z"),
                   change(edit(w["b"], w["b1"], Description="slow"))])
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.setdefault("a", _outcome_or_error(invoke, batch_a)))
    thread.start()
    # A has applied N and given up on O (three calls on group a), and is parked on group b.
    localcloud.wait_calls("ModifySecurityGroupEgressRule", count=3, timeout=10)
    localcloud.wait_held("batch-a")
    p = [change(edit(w["a"], w["a1"], Description="P"), time="2026-11-27T10:00:00Z")]
    first_b = _outcome_or_error(invoke, p, timeout=2)  # while A still holds the gate
    assert rule_state(localcloud, w["a"], w["a1"])["Description"] == "N"
    localcloud.release("batch-a")
    thread.join(15)
    assert result["a"] == "RedeliveryNeeded"
    out_b = first_b if first_b != "RedeliveryNeeded" else invoke(p)
    assert out_b[0]["data"]["status"] == "superseded"
    assert rule_state(localcloud, w["a"], w["a1"])["Description"] == "N"
    assert not [c for c in localcloud.calls("ModifySecurityGroupEgressRule") if c["params"].get("Description") == "P"]


def _outcome_or_error(invoke: Any, payload: Any, timeout: float = 15) -> Any:
    try:
        return invoke(payload, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return type(exc).__name__


def test_no_call_starts_after_the_time_budget(invoke: Any, ecs_seed: Any, localcloud: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    sg = ecs_seed.group()
    rules = [ecs_seed.egress(sg, port_range=f"{4000 + i}/{4000 + i}") for i in range(20)]
    monkeypatch.setenv("SGRULE_CONCURRENCY", "1")
    runtime.reset()
    # Each call takes effect (and is logged) at once, its reply 300 ms late: a call the client gives up on
    # at the deadline is in the log by the time the handler returns.
    localcloud.faults.inject("ModifySecurityGroupEgressRule", latency_ms=300, phase="after")
    batch = [change(edit(sg, r, Description="late")) for r in rules]
    with pytest.raises(RedeliveryNeeded):
        invoke(batch, timeout=2)
    first = {c["params"]["SecurityGroupRuleId"]: c for c in localcloud.calls("ModifySecurityGroupEgressRule")}
    assert 0 < len(first) < 20
    localcloud.faults.clear()
    localcloud.clear_calls()
    out = invoke(batch)
    assert [o["data"]["status"] for o in out] == ["applied"] * 20
    again = localcloud.calls("ModifySecurityGroupEgressRule")
    # Finished changes replay their stored outcome; a call cut short by the budget (its effect may be in)
    # is re-sent with its token and answered with the first result: never a second effect.
    replays = [c for c in again if c["params"]["SecurityGroupRuleId"] in first]
    assert len(replays) <= 1 and len(again) == 20 - len(first) + len(replays)
    for c in replays:
        before = first[c["params"]["SecurityGroupRuleId"]]
        assert (c["params"]["ClientToken"], c["requestId"]) == (before["params"]["ClientToken"], before["requestId"])

"""A batch journals its chains' first requests together before the chains start (``Batch``, ``apply.plan``).

What users rely on stays true: a change that ends without its request being sent (here: the invocation ran
out of time before its chain started) has nothing left in flight -- its journaled request is closed as never
sent, so no later holder of the rule puts it in effect after the change was reported ``failed``.

The real handler, the official SDKs, localcloud over HTTP; one rule in a security group of its own, so a
``hold`` fault (matched by SecurityGroupId) parks its Modify while the batch's time runs out.
"""
from __future__ import annotations

import time
from typing import Any

import pytest
from applykit import Invocation, change, edit, mns

from sgrule.apply.handler import RedeliveryNeeded
from sgrule.store import open_store

MODIFY = "ModifySecurityGroupEgressRule"


def run_past_deadline(run: Invocation, localcloud: Any) -> None:
    """Hold the batch's first Modify (gate ``slow``) until the batch's deadline has passed, then let it go
    and wait for the invocation and for the held call to be served (its client gave up on it)."""
    try:
        run.wait(localcloud, "slow")
        time.sleep(1.2)  # past the batch's deadline: the other chains start too late
    finally:
        localcloud.release("slow")
    run.join(30)
    localcloud.wait_calls(MODIFY, count=1)


def test_a_request_journaled_but_never_sent_is_never_put_in_effect(
        apply_env: dict[str, str], function_env: Any, invoke: Any, ecs_seed: Any, localcloud: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # One chain at a time, one delivery: a change not worked in time ends `failed` at once.
    function_env({**apply_env, "SGRULE_CONCURRENCY": "1", "SGRULE_MAX_DELIVERIES": "1",
                  "SGRULE_TIME_RESERVE_MS": "500"})
    slow_group, group = ecs_seed.group(), ecs_seed.group()
    slow_rule = ecs_seed.egress(slow_group, port_range="443/443")
    rules = [ecs_seed.egress(group, port_range=f"{3000 + i}/{3000 + i}", description=f"rule-{i}") for i in range(3)]
    localcloud.faults.add([{"action": MODIFY, "securityGroupId": slow_group, "hold": "slow"}])
    first = [change(edit(slow_group, slow_rule, Description="held")),
             *[change(edit(group, r, Description=f"late-{i}")) for i, r in enumerate(rules)]]

    run = Invocation(invoke, mns(first), timeout=1.5)  # 1 s of work before the reserve
    run_past_deadline(run, localcloud)
    assert run.error is None, repr(run.error)
    outcomes = {o["data"]["changeId"]: o["data"] for o in run.result}
    assert outcomes[first[0]["id"]]["status"] == "failed"  # its call timed out: it may have taken effect
    late = [outcomes[c["id"]] for c in first[1:]]
    assert [(d["status"], d["clientToken"], d["attempts"]) for d in late] == [("failed", None, 0)] * 3
    assert [c for c in localcloud.calls(MODIFY) if c["params"]["SecurityGroupId"] == group] == []

    store = open_store(apply_env["SGRULE_IDEMPOTENCY_URL"])
    try:
        for r in rules:  # nothing in flight for the failed changes
            assert store.rule_state(f"cn-hangzhou/{group}/{r}").journal == []
    finally:
        store.close()

    # The next change to each rule: only its own request goes out (none of the failed ones comes back).
    localcloud.clear_calls()
    later = [change(edit(group, r, Description=f"next-{i}"), time="2026-11-27T10:10:00Z")
             for i, r in enumerate(rules)]
    out = invoke(mns(later))
    assert {o["data"]["status"] for o in out} == {"applied"}
    sent = sorted(c["params"]["Description"] for c in localcloud.calls(MODIFY) if c["params"]["SecurityGroupId"] == group)
    assert sent == ["next-0", "next-1", "next-2"]


def test_a_redelivered_batch_finds_no_request_left_open(
        apply_env: dict[str, str], function_env: Any, invoke: Any, ecs_seed: Any, localcloud: Any) -> None:
    """The same, with deliveries left: the changes are redelivered and each applied with one call."""
    function_env({**apply_env, "SGRULE_CONCURRENCY": "1", "SGRULE_TIME_RESERVE_MS": "500"})
    slow_group, group = ecs_seed.group(), ecs_seed.group()
    slow_rule = ecs_seed.egress(slow_group, port_range="443/443")
    rules = [ecs_seed.egress(group, port_range=f"{3000 + i}/{3000 + i}") for i in range(2)]
    localcloud.faults.add([{"action": MODIFY, "securityGroupId": slow_group, "hold": "slow", "times": 1}])
    batch = mns([change(edit(slow_group, slow_rule, Description="held")),
                 *[change(edit(group, r, Description=f"d-{i}")) for i, r in enumerate(rules)]])
    run = Invocation(invoke, batch, timeout=1.5)
    run_past_deadline(run, localcloud)
    assert isinstance(run.error, RedeliveryNeeded), repr(run.error)
    store = open_store(apply_env["SGRULE_IDEMPOTENCY_URL"])
    try:
        assert all(store.rule_state(f"cn-hangzhou/{group}/{r}").journal == [] for r in rules)
    finally:
        store.close()
    localcloud.clear_calls()
    out = invoke(batch)
    assert [o["data"]["status"] for o in out] == ["applied"] * 3
    # One call each: the held request timed out (it may have gone out: re-sent with its token), the two
    # never sent are sent once -- and their attempts count only that call.
    assert sorted(c["params"].get("Description") for c in localcloud.calls(MODIFY)) == ["d-0", "d-1", "held"]
    assert [o["data"]["attempts"] for o in out] == [2, 1, 1]


def test_a_planned_request_decided_otherwise_is_closed_before_the_chain_goes_on(
        apply_env: dict[str, str], function_env: Any, invoke: Any, ecs_seed: Any, localcloud: Any) -> None:
    """The batch plans each chain's first request against its copy of the group; another chain can change
    that copy first (here: x takes the port y's newest change wanted, so that change is a duplicate). The
    plan journaled for it is closed before the chain's next change is sent: were it left open beside that
    request and the worker to crash, the next holder would put the refused request in effect first."""
    function_env({**apply_env, "SGRULE_CONCURRENCY": "1"})
    g = ecs_seed.group()
    x = ecs_seed.egress(g, port_range="3000/3000")
    y = ecs_seed.egress(g, port_range="3001/3001")
    cx = change(edit(g, x, PortRange="3002/3002"), time="2026-11-27T10:00:00Z")
    y1 = change(edit(g, y, PortRange="3002/3002"), time="2026-11-27T10:05:00Z")  # y's newest: planned first
    y2 = change(edit(g, y, Description="d2"), time="2026-11-27T10:01:00Z")
    localcloud.faults.add([{"action": MODIFY, "securityGroupId": g, "latencyMs": 1, "times": 1},  # x's call
                           {"action": MODIFY, "securityGroupId": g, "hold": "y2"}])              # then y2's
    run = Invocation(invoke, mns([cx, y1, y2]))
    store = open_store(apply_env["SGRULE_IDEMPOTENCY_URL"])
    try:
        run.wait(localcloud, "y2")
        journal = store.rule_state(f"cn-hangzhou/{g}/{y}").journal
    finally:
        localcloud.release("y2")
        store.close()
    run.join()
    assert [(e.change_key.split("\x1f")[1], e.params.get("Description")) for e in journal] == [(y2["id"], "d2")]
    out = {o["data"]["changeId"]: o["data"] for o in run.result}
    assert (out[cx["id"]]["status"], out[y2["id"]]["status"]) == ("applied", "applied")
    assert out[y1["id"]]["status"] == "rejected"
    assert out[y1["id"]]["error"]["code"] == "InvalidParam.InvalidModifyRuleRequest"
    assert out[y1["id"]]["clientToken"] is None  # nothing was sent for it

"""Outcome events go to the bus while the batch still works (``sgrule.apply.outbox``), and what users rely on
stays true: an outcome is on the bus only once it is stored, every outcome of an invocation is published
exactly once, and a failed publish makes the platform redeliver, which publishes everything again without a
second Modify.

The real handler, the official SDKs, localcloud over HTTP. One rule lives in a security group of its own so
that a ``hold`` fault (matched by SecurityGroupId) parks its Modify alone: the rest of the batch finishes,
and what reached the bus by then was published early.
"""
from __future__ import annotations

import json
import random
from typing import Any, Callable

import pytest
from applykit import Invocation, change, edit, mns

from sgrule.clients.eventbridge import PublishError
from sgrule.store import ClaimStatus, open_store

MODIFY = "ModifySecurityGroupEgressRule"
SOURCE = "tests/apply"  # applykit.change's default source: part of every change's idempotency key


@pytest.fixture
def groups(ecs_seed: Any, localcloud: Any) -> Callable[[int], dict[str, Any]]:
    """``groups(n)``: group ``a`` with n rules (``a_rules``, descriptions ``rule-i``) and group ``slow`` with
    one rule (``slow_rule``) whose Modify a test can hold; the call log starts empty."""

    def make(n: int) -> dict[str, Any]:
        a, slow = ecs_seed.group(), ecs_seed.group()
        w = {"a": a, "slow": slow,
             "a_rules": [ecs_seed.egress(a, port_range=f"{2000 + i}/{2000 + i}", description=f"rule-{i}")
                         for i in range(n)],
             "slow_rule": ecs_seed.egress(slow, port_range="443/443")}
        localcloud.clear_calls()
        return w

    return make


@pytest.fixture
def store(apply_env: dict[str, str]) -> Any:
    """The function's own idempotency store (the same SQLite file), opened beside it."""
    s = open_store(apply_env["SGRULE_IDEMPOTENCY_URL"])
    yield s
    s.close()


@pytest.fixture
def background(invoke: Any, localcloud: Any) -> Any:
    """``background(payload, *gates)``: start the handler in a thread. Afterwards (a failed assertion
    included) the gates are opened and the thread joined, so no invocation outlives its test."""
    runs: list[Invocation] = []
    gates: list[str] = []

    def start(payload: Any, *hold_gates: str) -> Invocation:
        gates.extend(hold_gates)
        runs.append(Invocation(invoke, payload))
        return runs[-1]

    yield start
    for gate in gates:
        localcloud.release(gate)
    for run in runs:
        run.thread.join(30)


def bus(localcloud: Any) -> list[dict[str, Any]]:
    return localcloud.events(bus="default")


def assert_stored(store: Any, events: list[dict[str, Any]]) -> None:
    """Every published outcome is the completed record of its change in the store, id for id."""
    for e in events:
        data = e["event"]["Data"]
        record = store.get(f"{data['changeSource']}\x1f{data['changeId']}")
        assert record is not None and record.status == ClaimStatus.COMPLETED.value, \
            f"{data['changeId']} ({data['status']}) is on the bus but not stored as completed: {record}"
        assert record.outcome["id"] == e["eventId"] and record.outcome["data"] == data


def test_outcomes_reach_the_bus_while_a_rule_is_held_and_only_once_stored(
        background: Any, groups: Any, localcloud: Any, store: Any) -> None:
    w = groups(39)
    localcloud.faults.add([
        {"action": MODIFY, "securityGroupId": w["slow"], "hold": "slow-rule"},
        # The first PutEvents takes effect (its events are on the bus) and then its reply waits: whatever
        # this invocation does after that call returns (such as storing) has not happened yet.
        {"action": "PutEvents", "phase": "after", "hold": "first-put", "times": 1},
    ])
    slow = change(edit(w["slow"], w["slow_rule"], Description="held back"), id="slow")
    fast = [change(edit(w["a"], r, Description=f"fast-{i}"), id=f"fast-{i}") for i, r in enumerate(w["a_rules"])]
    run = background(mns([slow, *fast]), "slow-rule", "first-put")  # the held rule first: its chain starts first

    run.wait(localcloud, "slow-rule")
    run.wait(localcloud, "first-put")
    early = bus(localcloud)
    assert len(early) >= 16 and run.running  # full PutEvents calls (16 each) while the batch works
    assert "slow" not in {e["event"]["Data"]["changeId"] for e in early}
    assert {e["event"]["Data"]["status"] for e in early} == {"applied"}
    assert_stored(store, early)  # stored before the publish call, not after it returned

    localcloud.release("first-put")
    run.wait(localcloud, put_events=2)  # the second full call, with the rule still held
    during = bus(localcloud)
    assert len(during) == 32 and run.running
    assert not [c for c in localcloud.calls(MODIFY)  # a held call is logged once served: not yet
                if c["params"]["SecurityGroupId"] == w["slow"]]
    assert "slow" not in {e["event"]["Data"]["changeId"] for e in during}
    assert_stored(store, during)

    localcloud.release("slow-rule")
    run.join()
    assert run.error is None, repr(run.error)
    out = run.result
    assert [o["data"]["changeId"] for o in out] == ["slow"] + [f"fast-{i}" for i in range(39)]
    assert {o["data"]["status"] for o in out} == {"applied"}
    published = bus(localcloud)
    assert sorted(e["eventId"] for e in published) == sorted(o["id"] for o in out)
    assert [e["eventId"] for e in published[:32]] == [e["eventId"] for e in during]  # nothing published twice
    assert len(localcloud.calls("PutEvents")) == 3  # 16 + 16 early, the last 8 at the end
    assert_stored(store, published)


def test_every_outcome_is_published_exactly_once_and_returned_in_input_order(
        background: Any, groups: Any, localcloud: Any, store: Any) -> None:
    w = groups(20)
    a, rules = w["a"], w["a_rules"]
    localcloud.faults.inject(MODIFY, security_group_id=w["slow"], hold="slow-rule")
    slow = change(edit(w["slow"], w["slow_rule"], Description="held back"), id="slow")
    fast = [change(edit(a, r, Description=f"fast-{i}"), id=f"fast-{i}", time="2026-11-27T10:05:00Z")
            for i, r in enumerate(rules)]
    fast[3] = change(edit(a, rules[3], Description="rule-3"), id="fast-3")  # what the rule already says
    older = change(edit(a, rules[0], Description="older"), id="older", time="2026-11-27T10:01:00Z")
    mismatch = change(edit(a, rules[1], Description="same id, other content"), id="fast-1",
                      time="2026-11-27T10:05:00Z")
    invalid = change(edit(a, rules[2], PortRange="0/53"), id="invalid")
    no_rule = change(edit(a, "sgr-doesnotexist", Description="x"), id="no-rule")
    duplicates = [fast[i] for i in (0, 1, 5, 9, 13, 17, 19)]  # the same change delivered again
    events = [slow, *fast, older, invalid, no_rule, *duplicates]
    payload = mns(events)
    malformed = mns([slow])[0]
    malformed["data"]["messageBody"] = "not json, not base64!"
    malformed["data"]["messageId"] = "malformed"
    payload.append(malformed)
    random.Random(7).shuffle(payload)  # input order is not the order outcomes are finished in
    payload.append(mns([mismatch])[0])  # after fast-1: the later of the two is the mismatch

    run = background(payload, "slow-rule")
    run.wait(localcloud, "slow-rule", put_events=1)  # published while the held rule's chain still runs
    early = {e["eventId"] for e in bus(localcloud)}
    assert len(early) >= 16 and run.running
    localcloud.release("slow-rule")
    out = run.join().result
    assert run.error is None, repr(run.error)

    # The returned array: one outcome per delivered element, in input order.
    expected = {"slow": "applied", "fast-0": "applied", "fast-1": "applied", "fast-3": "unchanged",
                "older": "superseded", "invalid": "rejected", "no-rule": "rejected", "malformed": "rejected"}
    assert len(out) == len(payload)
    for item, o in zip(payload, out):
        body = item["data"]["messageBody"]
        sent = None if body.startswith("not json") else json.loads(body)
        change_id = item["data"]["messageId"] if sent is None else sent["id"]
        assert o["data"]["changeId"] == change_id
        if sent == mismatch:
            assert o["data"]["status"] == "rejected"
            assert o["data"]["error"]["code"] == "IdempotentParameterMismatch"
        elif change_id in expected:
            assert o["data"]["status"] == expected[change_id], change_id
        else:
            assert o["data"]["status"] == "applied", change_id
    for i in (0, 1, 5, 9, 13, 17, 19):  # a duplicate gets the very same outcome (fast-1 also has a mismatch),
        # published early for some of them: the end of the invocation must not publish it again
        same = [o for o in out if o["data"]["changeId"] == f"fast-{i}" and o["data"]["status"] == "applied"]
        assert len(same) == 2 and same[0] == same[1]
    assert early & {o["id"] for o in out if o["data"]["changeId"] in {f"fast-{i}" for i in (0, 5, 9, 13, 17, 19)}}
    ids = {o["id"] for o in out}
    assert len(ids) == 20 + 1 + 1 + 1 + 1 + 1 + 1  # fast, slow, older, mismatch, invalid, no-rule, malformed

    # The bus: every distinct outcome exactly once, as returned.
    published = bus(localcloud)
    assert sorted(e["eventId"] for e in published) == sorted(ids)
    returned = {o["id"]: o for o in out}
    for e in published:
        assert e["event"]["Data"] == returned[e["eventId"]]["data"]
        assert e["event"]["Type"] == returned[e["eventId"]]["type"]
    # What was on the bus while the batch still worked had been stored first (rejections the store never
    # sees -- validation, mismatch, malformed -- go out with the rest at the end).
    assert_stored(store, [e for e in published if e["eventId"] in early])


@pytest.mark.parametrize("fault", [
    pytest.param({"error": {"status": 503, "code": "ServiceUnavailable"}}, id="every-call-5xx"),
    pytest.param({"error": {"status": 403, "code": "Forbidden.RAM", "message": "not allowed"}, "times": 1},
                 id="first-early-call-4xx"),
])
def test_a_failed_publish_fails_the_invocation_and_redelivery_publishes_everything_without_a_second_modify(
        invoke: Any, background: Any, groups: Any, localcloud: Any, store: Any, fault: dict[str, Any]) -> None:
    w = groups(20)
    localcloud.faults.add([{"action": MODIFY, "securityGroupId": w["slow"], "hold": "slow-rule"},
                           {"action": "PutEvents", **fault}])
    slow = change(edit(w["slow"], w["slow_rule"], Description="held back"), id="slow")
    fast = [change(edit(w["a"], r, Description=f"fast-{i}"), id=f"fast-{i}") for i, r in enumerate(w["a_rules"])]
    invalid = change(edit(w["a"], w["a_rules"][0], PortRange="0/53"), id="invalid")
    batch = mns([slow, *fast, invalid, fast[4]])

    run = background(batch, "slow-rule")
    run.wait(localcloud, "slow-rule", put_events=1)  # an early call, refused
    localcloud.release("slow-rule")
    run.join()
    assert isinstance(run.error, PublishError), repr(run.error)  # the platform redelivers the batch
    first_modifies = localcloud.calls(MODIFY)
    assert sorted(c["params"]["SecurityGroupRuleId"] for c in first_modifies if c["status"] == 200) == \
        sorted([w["slow_rule"], *w["a_rules"]])  # the batch itself was worked to the end
    refused = [c for c in localcloud.calls("PutEvents") if c["code"]]
    assert refused
    first_published = {e["eventId"] for e in bus(localcloud)}
    # Every change that was applied is stored: the redelivery must not apply it again.
    for ev in [slow, *fast]:
        record = store.get(f"{SOURCE}\x1f{ev['id']}")
        assert record is not None and record.status == ClaimStatus.COMPLETED.value, ev["id"]

    localcloud.faults.clear()
    localcloud.clear_calls()
    localcloud.clear_events()
    out = invoke(batch)
    assert [o["data"]["changeId"] for o in out] == ["slow", *(f"fast-{i}" for i in range(20)), "invalid", "fast-4"]
    assert [o["data"]["status"] for o in out] == ["applied"] * 21 + ["rejected", "applied"]
    assert localcloud.calls(MODIFY) == []  # stored outcomes replayed: no second Modify
    for ev, o in zip([slow, *fast], out):
        assert o == store.get(f"{SOURCE}\x1f{ev['id']}").outcome  # the stored outcome, same id
    published = [e["eventId"] for e in bus(localcloud)]
    assert sorted(published) == sorted({o["id"] for o in out})  # every outcome, each once
    assert first_published <= set(published)  # what went out before is replayed with the same ids

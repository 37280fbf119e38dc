"""Crash timings with real processes, ``kill -9``, the real Redis store and the official SDK on localcloud.

Each apply instance here is its own process sharing one Redis store, as FC instances do. The Modify that
is about to be lost takes effect in ECS but its reply is held back (a fault "latency after"), so the test
can kill the instance between the effect and any record of it -- the window a crash really hits.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest
from applykit import change, edit, mns, rule_state

HERE = Path(__file__).parent
R = "cn-hangzhou"
LEASE_S = 1.0
pytestmark = pytest.mark.redis




def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.01)
    return value


@pytest.fixture
def env(apply_env: dict[str, str], redis_url: str) -> Any:
    namespace = f"crash-{uuid.uuid4().hex[:10]}"
    yield {**apply_env, "SGRULE_IDEMPOTENCY_URL": redis_url, "SGRULE_IDEMPOTENCY_NAMESPACE": namespace,
           "SGRULE_LEASE_S": str(LEASE_S)}
    import redis
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


class Instance:
    """One apply instance in its own process, handling one delivery of ``events``."""

    def __init__(self, tmp_path: Path, env: dict[str, str], events: list[dict[str, Any]], go: bool = False,
                 timeout: float = 30) -> None:
        payload = tmp_path / f"batch-{uuid.uuid4().hex[:8]}.json"
        payload.write_text(json.dumps(mns(events)))
        self.proc = subprocess.Popen([sys.executable, str(HERE / "run_handler.py"), str(payload), str(timeout)]
                                     + (["--go"] if go else []), env={**os.environ, **env}, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def kill(self) -> float:
        self.proc.send_signal(signal.SIGKILL)
        killed_at = time.time()
        self.proc.wait(10)
        return killed_at

    def outcomes(self) -> list[dict[str, Any]]:
        stdout, _ = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, stdout
        return json.loads(stdout.strip().splitlines()[-1])


def modifies(localcloud: Any) -> list[dict[str, Any]]:
    return localcloud.calls("ModifySecurityGroupEgressRule")


def test_a_newer_change_killed_after_its_effect_is_not_undone_by_an_older_one(
        env: dict[str, str], ecs_seed: Any, localcloud: Any, tmp_path: Path) -> None:
    """Instance 1 applies the newest change A and is killed before recording it; instance 2 then works an
    older change O on the same rule. O must not overwrite A's fields: instance 2 settles A's journal entry
    first, so A's watermarks stand before O is considered."""
    sg = ecs_seed.group()
    rule = ecs_seed.egress(sg, port_range="80/80", description="v0")
    localcloud.clear_calls()
    a = change(edit(sg, rule, PortRange="7070/7070", Description="A"), id="A", time="2026-11-27T10:05:00Z")
    o = change(edit(sg, rule, PortRange="6060/6060", Description="O", Priority=7), id="O",
               time="2026-11-27T10:01:00Z")
    localcloud.faults.inject("ModifySecurityGroupEgressRule", latency_ms=30000, phase="after", times=1)
    first = Instance(tmp_path, env, [a])
    effect = wait_for(lambda: modifies(localcloud), "A's Modify")[0]
    first.kill()
    assert rule_state(localcloud, sg, rule)["PortRange"] == "7070/7070"  # A took effect; nobody recorded it

    [out_o] = Instance(tmp_path, env, [o]).outcomes()
    calls = modifies(localcloud)
    settle, o_call = calls[1], calls[2]
    assert settle["params"] == effect["params"] and settle["requestId"] == effect["requestId"]  # replayed
    assert (o_call["params"]["PortRange"], o_call["params"]["Description"], o_call["params"]["Priority"]) == \
        ("7070/7070", "A", "7")  # only O's field no newer change set
    assert all(c["params"]["PortRange"] != "6060/6060" for c in calls)
    assert out_o["data"]["status"] == "applied" and out_o["data"]["after"]["PortRange"] == "7070/7070"

    [out_a] = Instance(tmp_path, env, [a]).outcomes()  # A's redelivery: settled already, no call
    assert out_a["data"]["status"] == "applied" and out_a["data"]["requestId"] == effect["requestId"]
    assert len(modifies(localcloud)) == 3
    live = rule_state(localcloud, sg, rule)
    assert (live["PortRange"], live["Description"], str(live["Priority"])) == ("7070/7070", "A", "7")


def test_a_stale_copy_never_reverts_an_unrecorded_effect(env: dict[str, str], ecs_seed: Any, localcloud: Any,
                                                          tmp_path: Path) -> None:
    """Instance 2 reads the group, then change A takes effect on instance 1, which is killed. Instance 2's
    newer change B asks only for Priority: it must not send its stale copy's Description back."""
    sg = ecs_seed.group()
    rule = ecs_seed.egress(sg, port_range="80/80", description="v0")
    localcloud.clear_calls()
    a = change(edit(sg, rule, Description="A"), id="A", time="2026-11-27T10:01:00Z")
    b = change(edit(sg, rule, Priority=9), id="B", time="2026-11-27T10:05:00Z")
    second, first = Instance(tmp_path, env, [b], go=True), Instance(tmp_path, env, [a], go=True)
    # Instance 2's read happens now; its reply (the copy without A) arrives 4 s later.
    localcloud.faults.inject("DescribeSecurityGroupAttribute", latency_ms=4000, phase="after", times=1)
    second.go()
    wait_for(lambda: localcloud.calls("DescribeSecurityGroupAttribute"), "instance 2's read")
    localcloud.faults.inject("ModifySecurityGroupEgressRule", latency_ms=30000, phase="after", times=1)
    first.go()
    effect = wait_for(lambda: modifies(localcloud), "A's Modify")[0]
    first.kill()
    assert rule_state(localcloud, sg, rule)["Description"] == "A"

    [out_b] = second.outcomes()
    b_call = modifies(localcloud)[-1]
    assert (b_call["params"]["Description"], b_call["params"]["Priority"]) == ("A", "9")
    assert out_b["data"]["status"] == "applied" and out_b["data"]["before"]["Description"] == "A"
    live = rule_state(localcloud, sg, rule)
    assert (live["Description"], str(live["Priority"])) == ("A", "9")

    [out_a] = Instance(tmp_path, env, [a]).outcomes()
    assert out_a["data"]["status"] == "applied" and out_a["data"]["requestId"] == effect["requestId"]
    assert rule_state(localcloud, sg, rule)["Description"] == "A"


def test_a_killed_holder_delays_others_by_one_lease_at_most(env: dict[str, str], ecs_seed: Any, localcloud: Any,
                                                             tmp_path: Path) -> None:
    sg = ecs_seed.group()
    rule = ecs_seed.egress(sg, port_range="80/80")
    localcloud.clear_calls()
    localcloud.faults.inject("ModifySecurityGroupEgressRule", latency_ms=30000, phase="after", times=1)
    first = Instance(tmp_path, env, [change(edit(sg, rule, Description="first"), id="first")], timeout=30)
    wait_for(lambda: modifies(localcloud), "the first Modify")
    second = Instance(tmp_path, env, [change(edit(sg, rule, Priority=3), id="second",
                                             time="2026-11-27T10:09:00Z")], go=True)
    second.go()  # it reads the group, then waits for the rule the first instance holds
    wait_for(lambda: len(localcloud.calls("DescribeSecurityGroupAttribute")) >= 2, "the second read")
    killed_at = first.kill()
    [out] = second.outcomes()
    assert out["data"]["status"] == "applied"
    took_over = modifies(localcloud)[1]["time"]  # the settle of the dead instance's entry: its first work
    delay = took_over - killed_at
    print(f"\nkilled holder: its rule was taken over {delay:.2f} s after the kill "
          f"(lease {LEASE_S} s; the dead invocation's timeout was 30 s)")
    assert 0 < delay <= LEASE_S + 0.5  # one lease, plus the waiter's poll and a loaded machine's slack


def test_a_redelivery_that_finds_its_request_settled_meanwhile_makes_no_modify(
        env: dict[str, str], ecs_seed: Any, localcloud: Any, tmp_path: Path) -> None:
    """A's instance dies after A took effect. A's redelivery claims A, then reads the group; meanwhile a newer
    change N on the same rule settles A's request and applies N. When the redelivery gets the rule, A's
    request is in effect and the rule has moved on: A is reported applied, with no second Modify (neither
    its old request, which would undo N, nor a rebuilt one: what it asked for is already in place)."""
    sg = ecs_seed.group()
    rule = ecs_seed.egress(sg, port_range="80/80", description="v0")
    localcloud.clear_calls()
    a = change(edit(sg, rule, Description="A"), id="A", time="2026-11-27T10:01:00Z")
    n = change(edit(sg, rule, Priority=5), id="N", time="2026-11-27T10:05:00Z")
    localcloud.faults.inject("ModifySecurityGroupEgressRule", latency_ms=30000, phase="after", times=1)
    first = Instance(tmp_path, env, [a])
    effect = wait_for(lambda: modifies(localcloud), "A's Modify")[0]
    first.kill()

    # A's redelivery: it takes A's claim once the dead instance's lease is over, then its read parks here.
    localcloud.faults.inject("DescribeSecurityGroupAttribute", hold="redelivery", times=1)
    redelivery = Instance(tmp_path, env, [a])
    localcloud.wait_held("redelivery", timeout=20)
    [out_n] = Instance(tmp_path, env, [n]).outcomes()  # settles A's entry, then applies N
    assert out_n["data"]["status"] == "applied"
    settle, n_call = modifies(localcloud)[1:]
    assert settle["params"] == effect["params"] and n_call["params"]["Priority"] == "5"

    localcloud.release("redelivery")
    [out_a] = redelivery.outcomes()
    assert out_a["data"]["status"] == "applied"
    assert len(modifies(localcloud)) == 3  # the redelivery sent nothing
    live = rule_state(localcloud, sg, rule)
    assert (live["Description"], str(live["Priority"])) == ("A", "5")


def test_a_denied_change_is_never_sent_when_its_batch_is_killed_and_redelivered(
        env: dict[str, str], ecs_seed: Any, localcloud: Any, tmp_path: Path) -> None:
    """A guardrail denies D; the batch's other change X is held in its Modify and the instance killed. The
    redelivered batch settles X and ends D rejected: no Modify for D's rule, ever."""
    policy = tmp_path / "guardrails.yml"
    policy.write_text("guardrails:\n  - name: no-ssh-out\n    message: no SSH out\n"
                      "    expression: '!has(rule.PortRange) || !portsOverlap(rule.PortRange, \"22/22\")'\n")
    env = {**env, "SGRULE_GUARDRAILS_FILE": str(policy)}
    sg = ecs_seed.group()
    rule_x = ecs_seed.egress(sg, port_range="80/80", description="x")
    rule_d = ecs_seed.egress(sg, port_range="443/443", description="d")
    localcloud.clear_calls()
    x = change(edit(sg, rule_x, Description="X"), id="X")
    d = change(edit(sg, rule_d, PortRange="22/22"), id="D")
    localcloud.faults.inject("ModifySecurityGroupEgressRule", latency_ms=30000, phase="after", times=1)
    first = Instance(tmp_path, env, [x, d])
    wait_for(lambda: modifies(localcloud), "X's Modify")
    first.kill()

    out_x, out_d = Instance(tmp_path, env, [x, d]).outcomes()
    assert out_x["data"]["status"] == "applied"
    assert out_d["data"]["status"] == "rejected" and out_d["data"]["error"]["code"] == "Forbidden.Guardrail"
    assert [c["params"]["SecurityGroupRuleId"] for c in modifies(localcloud)] == [rule_x, rule_x]  # X, settled
    assert rule_state(localcloud, sg, rule_d)["PortRange"] == "443/443"

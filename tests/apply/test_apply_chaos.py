"""Chaos: several apply instances (processes) on one Redis store, duplicate deliveries, ~20% faults of every
kind on every action (errors, throttling, dropped requests, effects whose reply is lost), and instances
killed at random moments. Seeded and bounded; reproduce a run with SGRULE_CHAOS_SEED=<the printed seed>.

Asserted: nothing lost (every change has one terminal outcome, published on the bus), nothing applied twice
(no change has its request take effect under two tokens), the final rules hold, field by field, what the
newest change that set the field asked for, and an ``applied`` outcome names a token that took effect.
"""
from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from applykit import change, mns

from sgrule.contract.outcome import client_token

HERE = Path(__file__).parent
R = "cn-hangzhou"
pytestmark = [pytest.mark.redis, pytest.mark.slow]

N_RULES, N_CHANGES, BATCH, WORKERS = 3, 45, 3, 3
DEADLINE_S = 150


def faults(p: float) -> list[dict[str, Any]]:
    """Every kind of fault on every action the apply function calls, ~p in all per call."""
    unavailable = {"status": 503, "code": "ServiceUnavailable"}
    throttled = {"status": 400, "code": "Throttling.User", "retryAfterMs": 20}
    internal = {"status": 500, "code": "InternalError"}
    out = []
    for action, kinds in {
        "ModifySecurityGroupEgressRule": [("before", {"error": unavailable}), ("before", {"error": throttled}),
                                          ("before", {"drop": True}), ("after", {"drop": True}),
                                          ("after", {"error": internal}), ("after", {"latencyMs": 300})],
        "DescribeSecurityGroupAttribute": [("before", {"error": unavailable}), ("before", {"error": throttled}),
                                           ("before", {"drop": True})],
        "PutEvents": [("before", {"error": unavailable}), ("after", {"drop": True}), ("after", {"error": internal})],
    }.items():
        for phase, kind in kinds:
            out.append({"action": action, "phase": phase, "probability": p / len(kinds), **kind})
    # The window that matters most: a Modify takes effect and its caller dies before recording it.
    out.insert(0, {"action": "ModifySecurityGroupEgressRule", "phase": "after", "probability": 0.15,
                   "latencyMs": 1000})
    return out


@dataclass
class Worker:
    env: dict[str, str]
    proc: subprocess.Popen[str] | None = None
    batch: int | None = None
    started: float = 0.0
    kill_at: float | None = None

    def spawn(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "chaos_worker.py"), "8"], text=True,
                                     env={**os.environ, **self.env}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        assert self.proc.stdout is not None and json.loads(self.proc.stdout.readline())["ready"]

    def send(self, batch: int, path: Path, kill_at: float | None) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.batch, self.started, self.kill_at = batch, time.monotonic(), kill_at
        self.proc.stdin.write(f"{path}\n")
        self.proc.stdin.flush()


@dataclass
class Run:
    seed: int
    rng: random.Random = field(init=False)
    expected: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)


def test_chaos(apply_env: dict[str, str], redis_url: str, ecs_seed: Any, localcloud: Any, tmp_path: Path) -> None:
    seed = int(os.environ.get("SGRULE_CHAOS_SEED") or random.SystemRandom().randrange(10**6))
    print(f"\nchaos seed {seed} (reproduce: SGRULE_CHAOS_SEED={seed})")
    run = Run(seed)
    rng = run.rng
    groups = [ecs_seed.group(), ecs_seed.group()]
    rules = {}
    for i in range(N_RULES):  # each rule has a port band of its own: no change can make two rules equal
        sg = groups[i % 2]
        rules[ecs_seed.egress(sg, port_range=f"{1000 * (i + 1)}/{1000 * (i + 1)}")] = (sg, i)
    ids = list(rules)

    # The changes, each with a distinct time; the newest that sets a field decides that field.
    times = rng.sample(range(10_000), N_CHANGES)
    newest: dict[tuple[str, str], tuple[int, Any]] = {}
    events = []
    for n, t in enumerate(times):
        rule = rng.choice(ids)
        sg, i = rules[rule]
        fields: dict[str, Any] = {}
        for name in rng.sample(["Description", "Priority", "PortRange"], rng.randint(1, 3)):
            port = 1000 * (i + 1) + rng.randint(1, 999)
            fields[name] = {"Description": f"chaos {n}", "Priority": rng.randint(1, 100),
                            "PortRange": f"{port}/{port}"}[name]
            if (rule, name) not in newest or newest[(rule, name)][0] < t:
                newest[(rule, name)] = (t, fields[name])
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_790_000_000 + t)) + "Z"
        events.append(change({"RegionId": R, "SecurityGroupId": sg, "SecurityGroupRuleId": rule, **fields},
                             id=f"chaos-{seed}-{n}", time=stamp))
    batches = []
    batch_of: dict[str, int] = {}  # ClientToken -> batch, to see which instance a call came from
    for start in range(0, N_CHANGES, BATCH):
        path = tmp_path / f"batch-{start}.json"
        path.write_text(json.dumps(mns(events[start:start + BATCH])))
        for ev in events[start:start + BATCH]:
            batch_of[client_token(ev["source"], ev["id"])] = len(batches)
        batches.append(path)

    namespace = f"chaos-{uuid.uuid4().hex[:10]}"
    env = {**apply_env, "SGRULE_IDEMPOTENCY_URL": redis_url, "SGRULE_IDEMPOTENCY_NAMESPACE": namespace,
           "SGRULE_LEASE_S": "1", "SGRULE_MAX_DELIVERIES": "1000", "SGRULE_RETRY_CAP_MS": "20"}
    localcloud.clear_calls()
    localcloud.clear_events()
    localcloud.request("POST", "faults", {"rules": faults(0.2), "seed": seed})

    # Every batch is delivered, some twice (duplicates), until one delivery of each has succeeded.
    queue = list(range(len(batches))) + [b for b in range(len(batches)) if rng.random() < 0.5]
    rng.shuffle(queue)
    done: set[int] = set()
    workers = [Worker(env) for _ in range(WORKERS)]
    kills = deliveries = failures = 0
    seen_seq = 0
    stop = time.monotonic() + DEADLINE_S
    try:
        for w in workers:
            w.spawn()
        while queue or any(w.batch is not None for w in workers):
            assert time.monotonic() < stop, f"chaos run not finished in {DEADLINE_S} s (seed {seed})"
            for w in workers:
                if w.batch is None and queue:
                    b = queue.pop(0)
                    deliveries += 1
                    w.send(b, batches[b], time.monotonic() + rng.uniform(0.05, 1.2) if rng.random() < 0.5 else None)
            busy = [w for w in workers if w.batch is not None]
            # Besides kills at random moments: an instance whose Modify just took effect (its reply held
            # back) is often killed right there -- the window between an effect and its record.
            for call in localcloud.calls("ModifySecurityGroupEgressRule"):
                if call["seq"] > seen_seq:
                    seen_seq = call["seq"]
                    if call.get("fault") == "latency" and rng.random() < 0.8:
                        for w in busy:
                            if w.batch == batch_of.get(call["params"].get("ClientToken")):
                                w.kill_at = time.monotonic()
            ready, _, _ = select.select([w.proc.stdout for w in busy], [], [], 0.02)  # type: ignore[union-attr]
            for w in busy:
                if w.proc.stdout in ready:  # type: ignore[union-attr]
                    reply = json.loads(w.proc.stdout.readline())  # type: ignore[union-attr]
                    if reply["ok"]:
                        done.add(w.batch)  # type: ignore[arg-type]
                    else:  # RedeliveryNeeded / PublishError: the platform redelivers the batch
                        failures += 1
                        queue.append(w.batch)  # type: ignore[arg-type]
                    w.batch = None
                elif w.kill_at is not None and time.monotonic() >= w.kill_at:
                    w.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
                    w.proc.wait(10)  # type: ignore[union-attr]
                    kills += 1
                    queue.append(w.batch)  # type: ignore[arg-type]
                    w.batch = None
                    w.spawn()
            if not queue and not any(w.batch is not None for w in workers):
                missing = set(range(len(batches))) - done
                queue.extend(sorted(missing))
    finally:
        for w in workers:
            if w.proc is not None:
                w.proc.kill()
                w.proc.wait(10)
        localcloud.faults.clear()
        import redis
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
        if keys:
            client.delete(*keys)
        client.close()
    print(f"chaos: {deliveries} deliveries, {kills} instances killed, {failures} invocations failed and were "
          f"redelivered; {len(localcloud.calls())} API calls")

    # Nothing lost: one terminal outcome per change, the same every time it was published.
    outcomes: dict[str, set[tuple[str, str]]] = {}
    for e in localcloud.events(bus="default"):
        data = e["event"]["Data"]
        data = json.loads(data) if isinstance(data, str) else data
        outcomes.setdefault(data["changeId"], set()).add((e["event"]["Id"], data["status"]))
    assert sorted(outcomes) == sorted(ev["id"] for ev in events)
    for change_id, seen in outcomes.items():
        assert len(seen) == 1, f"{change_id} has different outcomes: {seen} (seed {seed})"
        assert next(iter(seen))[1] in ("applied", "unchanged", "superseded"), (change_id, seen, seed)

    # Nothing applied twice: a request took effect only under its change's own token.
    effective = {c["params"]["ClientToken"] for c in localcloud.calls("ModifySecurityGroupEgressRule")
                 if c.get("serviceStatus", c.get("status")) == 200}
    tokens = {client_token(ev["source"], ev["id"]) for ev in events}
    assert effective <= tokens, f"requests took effect under other tokens: {effective - tokens} (seed {seed})"

    # The newest change that set a field decides it.
    state = localcloud.state()["ecs"]["accounts"]
    for (rule, name), (_, value) in newest.items():
        sg, _ = rules[rule]
        live = next(r for a in state.values() for r in a[R]["security_groups"][sg]["rules"]
                    if r["SecurityGroupRuleId"] == rule)
        assert str(live[name]) == str(value), f"{rule}.{name} = {live[name]!r}, newest asked {value!r} (seed {seed})"

"""The apply function takes its ECS calls from the fleet's call budget (SGRULE_ECS_RATE): through the FC entry
point, against localcloud with an ECS quota, over the official SDK. No more Modify calls than the budget
grants; a throttled answer pauses every caller; a change no call can be had for before the deadline is given
back for redelivery -- never `failed`, and that delivery does not count."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from applykit import change, edit, mns
from fckit import cloud_env

from sgrule.apply.handler import RedeliveryNeeded
from sgrule.store import open_store

MODIFY = "ModifySecurityGroupEgressRule"


def _rules(ecs_seed: Any, groups: int, per_group: int) -> list[tuple[str, str]]:
    out = []
    for _ in range(groups):
        sg = ecs_seed.group()
        out += [(sg, ecs_seed.egress(sg, port_range=f"{8000 + i}/{8000 + i}")) for i in range(per_group)]
    return out


def _changes(rules: list[tuple[str, str]], tag: str) -> list[dict[str, Any]]:
    return [change(edit(sg, rule, Description=f"{tag} {i}"), id=f"{tag}-{i}") for i, (sg, rule) in enumerate(rules)]


@pytest.fixture
def with_env(localcloud: Any, function_env: Any, tmp_path: Path) -> Callable[..., dict[str, str]]:
    """A fresh apply instance with these settings (the same store: a redelivery sees what went before)."""
    return lambda **env: function_env(cloud_env(localcloud, tmp_path, **env))


def _spread(times: list[float], window_s: float) -> int:
    """The most calls in any window of ``window_s`` seconds."""
    times = sorted(times)
    return max((sum(1 for u in times[i:] if u - t < window_s) for i, t in enumerate(times)), default=0)


def test_modify_calls_never_outrun_the_budget(localcloud: Any, ecs_seed: Any, invoke: Any, with_env: Any) -> None:
    rules = _rules(ecs_seed, 2, 12)
    # Without the budget, 16 chains at once overshoot the quota: throttled answers (a window of 10 s for
    # 20 calls, so that all 24 calls fall in one however slowly the instance starts).
    localcloud.set_ecs_quotas({MODIFY: "20/10"})
    with_env()
    localcloud.clear_calls()
    try:
        invoke(mns(_changes(rules, "free")), timeout=30)
    except RedeliveryNeeded:  # some ran out of tries: left for redelivery
        pass
    assert any(c["status"] == 400 for c in localcloud.calls(MODIFY))

    with_env(SGRULE_ECS_RATE=f"{MODIFY}=16")
    localcloud.set_ecs_quotas({MODIFY: 20})  # fresh windows
    localcloud.clear_calls()
    out = invoke(mns(_changes(rules, "paced")), timeout=30)
    assert [o["data"]["status"] for o in out] == ["applied"] * 24 and all(o["data"]["attempts"] == 1 for o in out)
    calls = localcloud.calls(MODIFY)
    assert all(c["status"] == 200 for c in calls)  # none throttled
    # One call each; any other is the re-send of a request the free run left open (settled first).
    assert sum(c["params"]["Description"].startswith("paced") for c in calls) == 24
    times = [c["time"] for c in calls]
    # GCRA at 16/s: slots 62.5 ms apart, so no second holds more than 16 (one more for the server's clock
    # reading a call a little after its slot).
    assert _spread(times, 1.0) <= 17
    assert max(times) - min(times) >= (len(times) - 1) / 16 - 0.1


def test_a_throttled_answer_pauses_every_caller(localcloud: Any, ecs_seed: Any, invoke: Any,
                                               with_env: Any) -> None:
    """The budget is set above what ECS grants (other tools use the quota too): ECS throttles. Each throttled
    answer (a plain Throttling.User, no retry-after) pauses Modify for every chain until the quota's next
    second, instead of each chain retrying on its own every few ms."""
    rules = _rules(ecs_seed, 1, 6)
    with_env(SGRULE_ECS_RATE=f"{MODIFY}=50")
    localcloud.set_ecs_quotas({MODIFY: 2})
    out = invoke(mns(_changes(rules, "over")), timeout=30)
    assert [o["data"]["status"] for o in out] == ["applied"] * 6
    calls = localcloud.calls(MODIFY)
    throttled = [c for c in calls if c["status"] == 400]
    assert [c["code"] for c in throttled] == ["Throttling.User"] * len(throttled) and throttled
    # Two a second get through; after a throttled answer nobody asks again before the pause is over, so
    # only the calls already given a slot are refused: 4 in the first second, 2 in the next, none after.
    assert len(throttled) <= 6 and len(calls) - len(throttled) == 6
    first = min(c["time"] for c in throttled)
    # The pause: a quiet second (the calls given a slot before it land in its first moments).
    assert not [c for c in calls if first + 0.4 < c["time"] < first + 0.95]


def test_no_call_before_the_deadline_is_redelivered_never_failed(localcloud: Any, ecs_seed: Any, invoke: Any,
                                                                 with_env: Any, tmp_path: Path) -> None:
    """One Modify every 1.5 s and a deadline 2.4 s away: the changes whose slot is past it are given back (the invocation asks for redelivery) even with SGRULE_MAX_DELIVERIES=1, which
    would fail any change that failed once; their delivery is not counted, their journaled request closed
    unsent. Redelivered with time enough, each is applied with one call."""
    rules = _rules(ecs_seed, 1, 4)
    events = _changes(rules, "late")
    env = with_env(SGRULE_ECS_RATE=f"{MODIFY}=1/1.5", SGRULE_MAX_DELIVERIES="1", SGRULE_TIME_RESERVE_MS="100")
    with pytest.raises(RedeliveryNeeded, match="must be redelivered"):
        invoke(mns(events), timeout=2.5)
    calls = localcloud.calls(MODIFY)
    assert 1 <= len(calls) <= 2 and all(c["status"] == 200 for c in calls)  # slots 1.5 s apart
    store = open_store(env["SGRULE_IDEMPOTENCY_URL"])
    try:
        records = [store.get(f"tests/apply\x1f{e['id']}") for e in events]
    finally:
        store.close()
    given_back = [r for r in records if r is not None and r.status == "in_progress"]
    assert len(given_back) == 4 - len(calls) >= 2
    assert all(r.deliveries == 0 for r in given_back)  # not a delivery that failed
    assert all(r.status == "completed" and r.outcome["data"]["status"] == "applied"
               for r in records if r not in given_back)

    localcloud.clear_calls()
    out = invoke(mns(events), timeout=10)  # the redelivery
    assert [o["data"]["status"] for o in out] == ["applied"] * 4
    assert all(o["data"]["attempts"] == 1 for o in out)  # the calls the budget refused are not attempts
    assert len(localcloud.calls(MODIFY)) == len(given_back)

"""The IdempotencyStore contract, run against every backend (SQLite file, real Redis)."""
from __future__ import annotations

import multiprocessing
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from sgrule.store import ClaimStatus, IdempotencyStore, LeaseLost, open_store

A = ClaimStatus.ACQUIRED
T = TypeVar("T")
LONG = 60.0   # a lease that never runs out during a test
SHORT = 0.2   # a lease/TTL we wait out


def wait_until(fn: Callable[[], T], timeout: float = 5.0) -> T:
    """Poll fn until it returns something truthy (instead of a fixed sleep past a TTL)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            assert value, f"condition not met within {timeout}s"
            return value
        time.sleep(0.02)


# --- claim transitions ---------------------------------------------------------------------------------

def test_new_key_is_acquired(store: IdempotencyStore) -> None:
    before = time.time()
    c = store.claim("k", "fp", "a", LONG)
    assert c.status is A
    r = c.record
    assert (r.key, r.fingerprint, r.status, r.deliveries, r.owner) == ("k", "fp", "in_progress", 1, "a")
    assert r.sent_request is None and r.outcome is None
    assert before + LONG - 2 < r.lease_expires_at < time.time() + LONG + 2
    assert store.get("k") == r


def test_get_missing_is_none(store: IdempotencyStore) -> None:
    assert store.get("nope") is None


def test_live_lease_of_another_owner_is_in_progress(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "a", LONG)
    c = store.claim("k", "fp", "b", LONG)
    assert c.status is ClaimStatus.IN_PROGRESS
    assert (c.record.owner, c.record.deliveries) == ("a", 1)
    assert store.get("k").owner == "a"  # the refused claim changed nothing


def test_same_owner_reclaims(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "a", LONG)
    store.mark_sent("k", "a", {"p": 1})
    c = store.claim("k", "fp", "a", LONG)
    assert c.status is A
    assert (c.record.deliveries, c.record.owner, c.record.sent_request) == (2, "a", {"p": 1})


@pytest.mark.parametrize("completed", [False, True])
def test_different_fingerprint_is_mismatch(store: IdempotencyStore, completed: bool) -> None:
    store.claim("k", "fp1", "a", LONG)
    if completed:
        store.complete("k", "a", {"ok": True}, LONG)
    for owner in ("a", "b"):
        c = store.claim("k", "fp2", owner, LONG)
        assert c.status is ClaimStatus.MISMATCH
        assert c.record.fingerprint == "fp1"
    assert store.get("k").deliveries == 1


def test_completed_returns_outcome(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "a", LONG)
    store.mark_sent("k", "a", {"RuleId": "sgr-1"})
    store.complete("k", "a", {"type": "applied", "n": 1}, LONG)
    for owner in ("a", "b"):
        c = store.claim("k", "fp", owner, LONG)
        assert c.status is ClaimStatus.COMPLETED
        assert c.record.status == "completed"
        assert c.record.outcome == {"type": "applied", "n": 1}
        assert c.record.sent_request == {"RuleId": "sgr-1"}
        assert c.record.deliveries == 1


def test_complete_twice_by_owner_is_noop(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "a", LONG)
    store.complete("k", "a", {"first": 1}, LONG)
    store.complete("k", "a", {"second": 2}, LONG)  # a retried complete: the first outcome stands
    assert store.get("k").outcome == {"first": 1}


def test_expired_lease_is_taken_over(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "a", SHORT)
    store.mark_sent("k", "a", {"Policy": "accept"})
    c = wait_until(lambda: (c := store.claim("k", "fp", "b", LONG)).status is A and c)
    assert (c.record.owner, c.record.deliveries) == ("b", 2)
    assert c.record.sent_request == {"Policy": "accept"}  # the crashed attempt's request is still visible
    # the old owner lost the lease: it may not write any more
    with pytest.raises(LeaseLost):
        store.mark_sent("k", "a", {"Policy": "drop"})
    with pytest.raises(LeaseLost):
        store.complete("k", "a", {"late": True}, LONG)
    store.release("k", "a")  # no-op: not ours
    assert store.claim("k", "fp", "c", LONG).status is ClaimStatus.IN_PROGRESS
    store.complete("k", "b", {"ok": True}, LONG)
    assert store.get("k").deliveries == 2


def test_deliveries_count_every_takeover(store: IdempotencyStore) -> None:
    for n, owner in enumerate("abcd", start=1):
        c = wait_until(lambda: (c := store.claim("k", "fp", owner, SHORT)).status is A and c)
        assert c.record.deliveries == n


def test_in_progress_record_outlives_its_lease(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "a", SHORT)
    store.mark_sent("k", "a", {"x": 1})
    wait_until(lambda: time.time() > store.get("k").lease_expires_at + 0.05)
    r = store.get("k")
    assert r is not None and r.sent_request == {"x": 1} and r.status == "in_progress"
    assert r.expires_at is not None and r.expires_at > time.time() + 3600  # kept for the retention


def test_completed_record_expires_after_ttl(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "a", LONG)
    store.complete("k", "a", {"ok": True}, SHORT)
    assert store.get("k").status == "completed"
    wait_until(lambda: store.get("k") is None)
    c = store.claim("k", "fp2", "b", LONG)  # forgotten: a fresh key again, whatever the fingerprint
    assert (c.status, c.record.deliveries) == (A, 1)


def test_release_ends_lease_now(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "a", LONG)
    store.mark_sent("k", "a", {"x": 1})
    store.release("k", "b")  # not b's: no effect
    assert store.claim("k", "fp", "b", LONG).status is ClaimStatus.IN_PROGRESS
    store.release("k", "a")
    r = store.get("k")
    assert r.status == "in_progress" and r.lease_expires_at <= time.time() + 0.01
    c = store.claim("k", "fp", "b", LONG)
    assert c.status is A
    assert (c.record.owner, c.record.deliveries, c.record.sent_request) == ("b", 2, {"x": 1})


def test_writes_need_the_lease(store: IdempotencyStore) -> None:
    with pytest.raises(LeaseLost):
        store.mark_sent("missing", "a", {})
    with pytest.raises(LeaseLost):
        store.complete("missing", "a", {}, LONG)
    store.release("missing", "a")  # no-op, no error
    assert store.get("missing") is None
    store.claim("k", "fp", "a", LONG)
    with pytest.raises(LeaseLost):
        store.mark_sent("k", "b", {})
    with pytest.raises(LeaseLost):
        store.complete("k", "b", {}, LONG)
    store.complete("k", "a", {}, LONG)
    with pytest.raises(LeaseLost):
        store.mark_sent("k", "a", {})  # completed: nothing more to send


def test_json_round_trip_is_exact(store: IdempotencyStore) -> None:
    payload = {"SecurityGroupId": "sg-1", "Description": "übung ✓", "Priority": 1, "Tags": [],
               "Nested": {"empty": {}, "t": 1732700000123456, "f": 0.5, "n": None, "b": False}}
    store.claim("k", "fp", "a", LONG)
    store.mark_sent("k", "a", payload)
    store.complete("k", "a", {"data": payload}, LONG)
    r = store.get("k")
    assert r.sent_request == payload and r.outcome == {"data": payload}


def test_invalid_durations_are_refused(store: IdempotencyStore) -> None:
    with pytest.raises(ValueError):
        store.claim("k", "fp", "a", 0)
    with pytest.raises(ValueError):
        store.acquire_rule_lock("r", "a", -1)


def test_namespaces_are_isolated(store_url: str, namespace: str, other_namespace: str) -> None:
    a, b = open_store(store_url, namespace=namespace), open_store(store_url, namespace=other_namespace)
    try:
        assert a.claim("k", "fp", "a", LONG).status is A
        assert b.claim("k", "other", "b", LONG).status is A
        assert b.acquire_rule_lock("r", "b", LONG) and a.acquire_rule_lock("r", "a", LONG)
    finally:
        a.close()
        b.close()


# --- per-rule lock -------------------------------------------------------------------------------------

def test_rule_lock_is_exclusive(store: IdempotencyStore) -> None:
    assert store.acquire_rule_lock("r", "a", LONG)
    assert not store.acquire_rule_lock("r", "b", LONG)
    assert store.acquire_rule_lock("r", "a", LONG)  # ours: renewed
    assert store.acquire_rule_lock("other-rule", "b", LONG)
    store.release_rule_lock("r", "b")  # not b's: stays a's
    assert not store.acquire_rule_lock("r", "b", LONG)
    store.release_rule_lock("r", "a")
    assert store.acquire_rule_lock("r", "b", LONG)


def test_rule_lock_expires(store: IdempotencyStore) -> None:
    assert store.acquire_rule_lock("r", "a", SHORT)
    assert not store.acquire_rule_lock("r", "b", LONG)
    wait_until(lambda: store.acquire_rule_lock("r", "b", LONG))
    store.release_rule_lock("r", "a")  # a's lease is over: must not free b's lock
    assert not store.acquire_rule_lock("r", "a", LONG)


def test_rule_lock_under_threads(store: IdempotencyStore) -> None:
    """Threads looping acquire/release: never two holders at once."""
    holders: list[str] = []
    overlap: list[tuple[str, ...]] = []
    guard = threading.Lock()
    acquired = Counter[str]()

    def worker(owner: str) -> None:
        for _ in range(15):
            if store.acquire_rule_lock("r", owner, LONG):
                with guard:
                    holders.append(owner)
                    if len(holders) > 1:
                        overlap.append(tuple(holders))
                time.sleep(0.001)
                with guard:
                    holders.remove(owner)
                acquired[owner] += 1
                store.release_rule_lock("r", owner)

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not overlap
    assert sum(acquired.values()) > 0


# --- per-rule field watermarks -------------------------------------------------------------------------

def test_field_times_max_merge(store: IdempotencyStore) -> None:
    assert store.field_times("r") == {}
    t0 = 1_732_700_000_123_456  # epoch microseconds: more digits than a float prints by default
    store.record_field_times("r", {"Policy": t0 + 10, "PortRange": t0 + 5}, LONG)
    store.record_field_times("r", {"Policy": t0 + 7, "PortRange": t0 + 9, "Priority": t0}, LONG)
    assert store.field_times("r") == {"Policy": t0 + 10, "PortRange": t0 + 9, "Priority": t0}
    store.record_field_times("r", {}, LONG)
    assert store.field_times("r") == {"Policy": t0 + 10, "PortRange": t0 + 9, "Priority": t0}
    assert store.field_times("other") == {}


def test_field_times_expire(store: IdempotencyStore) -> None:
    store.record_field_times("r", {"Policy": 5}, SHORT)
    assert store.field_times("r") == {"Policy": 5}
    wait_until(lambda: store.field_times("r") == {})
    store.record_field_times("r", {"Policy": 1}, LONG)  # an expired watermark no longer wins
    assert store.field_times("r") == {"Policy": 1}


def test_field_times_concurrent_merge(store: IdempotencyStore) -> None:
    rng = random.Random(7)
    batches = [{f: rng.randrange(10**15, 2 * 10**15) for f in rng.sample("abcdef", 3)} for _ in range(64)]
    expected: dict[str, int] = {}
    for b in batches:
        for f, t in b.items():
            expected[f] = max(t, expected.get(f, t))
    threads = [threading.Thread(target=store.record_field_times, args=("r", b, LONG)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.field_times("r") == expected


# --- concurrency ---------------------------------------------------------------------------------------

def test_threads_race_for_one_key(store: IdempotencyStore) -> None:
    n = 16
    barrier = threading.Barrier(n)
    results: list[ClaimStatus] = []

    def worker(i: int) -> None:
        barrier.wait()
        results.append(store.claim("k", "fp", f"t{i}", LONG).status)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(results) == {A: 1, ClaimStatus.IN_PROGRESS: n - 1}
    assert store.get("k").deliveries == 1


def test_threads_race_with_own_stores(store_url: str, namespace: str) -> None:
    """Like separate FC instances: each thread has its own store (own connection / pool)."""
    n = 8
    stores = [open_store(store_url, namespace=namespace) for _ in range(n)]
    barrier = threading.Barrier(n)
    won: list[str] = []

    def worker(i: int) -> None:
        barrier.wait()
        for k in range(20):
            if stores[i].claim(f"k{k}", "fp", f"t{i}", LONG).status is A:
                won.append(f"k{k}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert sorted(won) == sorted(f"k{k}" for k in range(20))


def test_processes_race_for_keys(store_url: str, namespace: str) -> None:
    sys.path.insert(0, str(Path(__file__).parent))  # spawn children import the worker by module name
    try:
        from _idem_mp_worker import claim_all
        ctx = multiprocessing.get_context("spawn")
        n, keys = 4, [f"key-{i}" for i in range(50)]
        barrier, out = ctx.Barrier(n), ctx.Queue()
        procs = [ctx.Process(target=claim_all, args=(store_url, namespace, f"p{i}", keys, barrier, out))
                 for i in range(n)]
        for p in procs:
            p.start()
        results = dict(out.get(timeout=120) for _ in procs)
        for p in procs:
            p.join(timeout=30)
    finally:
        sys.path.remove(str(Path(__file__).parent))
    errors = {o: r for o, r in results.items() if not isinstance(r, list)}
    assert not errors, errors
    assert all(p.exitcode == 0 for p in procs)
    wins = Counter(k for won in results.values() for k in won)
    assert wins == Counter(keys)  # every key won exactly once
    check = open_store(store_url, namespace=namespace)
    try:
        assert {check.get(k).owner for k in keys} <= {f"p{i}" for i in range(n)}
        assert all(check.get(k).deliveries == 1 for k in keys)
    finally:
        check.close()


# --- one round trip for many claims; complete with watermarks and the rule lock ---------------------------

def test_claim_many_is_claim_for_each_in_order(store: IdempotencyStore) -> None:
    store.claim("done", "fp", "other", 60)
    store.complete("done", "other", {"status": "applied"}, 60)
    store.claim("held", "fp", "other", 60)
    claims = store.claim_many([("new", "fp"), ("done", "fp"), ("held", "fp"), ("done", "fp2")], "me", 60)
    assert [c.status for c in claims] == [ClaimStatus.ACQUIRED, ClaimStatus.COMPLETED, ClaimStatus.IN_PROGRESS,
                                          ClaimStatus.MISMATCH]
    assert claims[0].record.owner == "me" and claims[1].record.outcome == {"status": "applied"}
    assert store.claim_many([], "me", 60) == []


def test_complete_records_watermarks_and_releases_the_rule_atomically(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "me", 60)
    assert store.acquire_rule_lock("rule", "me", 60)
    store.record_field_times("rule", {"PortRange": 50, "Description": 10}, 60)
    store.complete("k", "me", {"status": "applied"}, 60, rule_key="rule",
                   field_times={"PortRange": 40, "Description": 20, "_applied_at": 99}, release_rule=True)
    assert store.field_times("rule") == {"PortRange": 50, "Description": 20, "_applied_at": 99}
    assert store.acquire_rule_lock("rule", "someone-else", 60)  # released by the complete
    store.claim("k2", "fp", "me", 60)
    store.complete("k2", "me", {"status": "unchanged"}, 60, rule_key="rule", field_times={"Policy": 7},
                   release_rule=True)
    assert not store.acquire_rule_lock("rule", "me", 60)  # not ours: left alone
    assert store.field_times("rule")["Policy"] == 7


def test_complete_without_the_lease_changes_no_watermark(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "other", 60)
    with pytest.raises(LeaseLost):
        store.complete("k", "me", {}, 60, rule_key="rule", field_times={"PortRange": 1})
    assert store.field_times("rule") == {}


def test_lock_rules_takes_free_locks_and_reads_their_watermarks(store: IdempotencyStore) -> None:
    store.record_field_times("r1", {"PortRange": 5}, 60)
    assert store.acquire_rule_lock("r2", "other", 60)
    got = store.lock_rules(["r1", "r2", "r3"], "me", 60)
    assert got == {"r1": {"PortRange": 5}, "r2": None, "r3": {}}
    assert not store.acquire_rule_lock("r1", "other", 60) and not store.acquire_rule_lock("r3", "other", 60)
    assert store.lock_rules([], "me", 60) == {}


def test_complete_many_completes_ours_and_reports_lost_leases(store: IdempotencyStore) -> None:
    from sgrule.store import Completion

    store.claim("mine", "fp", "me", 60)
    store.claim("theirs", "fp", "other", 60)
    assert store.acquire_rule_lock("rule", "me", 60)
    done = store.complete_many([Completion("mine", {"n": 1}, "rule", {"Description": 3}, True),
                                Completion("theirs", {"n": 2}, "rule", {"Description": 9})], "me", 60)
    assert done == [True, False]
    assert store.get("mine").outcome == {"n": 1} and store.get("theirs").status == "in_progress"
    assert store.field_times("rule") == {"Description": 3}  # the lost one changed nothing
    assert store.acquire_rule_lock("rule", "other", 60)
    assert store.complete_many([], "me", 60) == []

"""The IdempotencyStore contract, run against every backend (SQLite file, real Redis)."""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from storekit import race_processes

from sgrule.store import (ClaimStatus, Completion, IdempotencyStore, InEffect, JournalEntry, LeaseLost, Refused,
                          SentRequest, open_store)

A = ClaimStatus.ACQUIRED
T = TypeVar("T")
LONG = 60.0   # a lease that never runs out during a test
SHORT = 0.2   # a lease/TTL we wait out


def lock(store: IdempotencyStore, rule: str, owner: str, lease_s: float = LONG) -> bool:
    return store.lock_rules([rule], owner, lease_s)[rule] is not None


def entry(key: str, params: dict | None = None, token: str | None = None, **times: int) -> JournalEntry:
    return JournalEntry(key, token or f"tok-{key}", params or {"Description": "x"}, dict(times))


def send(store: IdempotencyStore, key: str, owner: str, params: dict, rule: str = "rule") -> None:
    """What the apply function does before a Modify: hold the rule, journal the request."""
    assert lock(store, rule, owner)
    store.open_entry(key, owner, rule, entry(key, params))


def sent(params: dict, attempts: int = 0) -> SentRequest:
    return SentRequest(params, attempts)


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
    send(store, "k", "a", {"p": 1})
    c = store.claim("k", "fp", "a", LONG)
    assert c.status is A
    assert (c.record.deliveries, c.record.owner, c.record.sent_request) == (2, "a", sent({"p": 1}))


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
    send(store, "k", "a", {"RuleId": "sgr-1"})
    store.complete("k", "a", {"type": "applied", "n": 1}, LONG)
    for owner in ("a", "b"):
        c = store.claim("k", "fp", owner, LONG)
        assert c.status is ClaimStatus.COMPLETED
        assert c.record.status == "completed"
        assert c.record.outcome == {"type": "applied", "n": 1}
        assert c.record.sent_request == sent({"RuleId": "sgr-1"})
        assert c.record.deliveries == 1


def test_complete_twice_by_owner_is_noop(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "a", LONG)
    store.complete("k", "a", {"first": 1}, LONG)
    store.complete("k", "a", {"second": 2}, LONG)  # a retried complete: the first outcome stands
    assert store.get("k").outcome == {"first": 1}


def test_expired_lease_is_taken_over(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "a", SHORT)
    send(store, "k", "a", {"Policy": "accept"})
    c = wait_until(lambda: (c := store.claim("k", "fp", "b", LONG)).status is A and c)
    assert (c.record.owner, c.record.deliveries) == ("b", 2)
    assert c.record.sent_request == sent({"Policy": "accept"})  # the crashed attempt's request is still visible
    # the old owner lost the lease: it may not write any more
    with pytest.raises(LeaseLost):
        store.open_entry("k", "a", "rule", entry("k", {"Policy": "drop"}))
    with pytest.raises(LeaseLost):
        store.complete("k", "a", {"late": True}, LONG)
    store.release("k", "a")  # no-op: not ours
    assert store.claim("k", "fp", "c", LONG).status is ClaimStatus.IN_PROGRESS
    store.complete("k", "b", {"ok": True}, LONG)
    assert store.get("k").deliveries == 2


def test_deliveries_count_every_takeover(store: IdempotencyStore) -> None:
    for n, owner in enumerate("abcd", start=1):
        c = wait_until(lambda owner=owner: (c := store.claim("k", "fp", owner, SHORT)).status is A and c)
        assert c.record.deliveries == n


def test_in_progress_record_outlives_its_lease(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "a", SHORT)
    send(store, "k", "a", {"x": 1})
    wait_until(lambda: time.time() > store.get("k").lease_expires_at + 0.05)
    r = store.get("k")
    assert r is not None and r.sent_request == sent({"x": 1}) and r.status == "in_progress"
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
    send(store, "k", "a", {"x": 1})
    store.release("k", "b")  # not b's: no effect
    assert store.claim("k", "fp", "b", LONG).status is ClaimStatus.IN_PROGRESS
    store.release("k", "a")
    r = store.get("k")
    assert r.status == "in_progress" and r.lease_expires_at <= time.time() + 0.01
    c = store.claim("k", "fp", "b", LONG)
    assert c.status is A
    assert (c.record.owner, c.record.deliveries, c.record.sent_request) == ("b", 2, sent({"x": 1}))


def test_a_release_that_uncounts_gives_the_delivery_back(store: IdempotencyStore) -> None:
    """A change released because no ECS call could be had in time was not tried: its delivery does not
    count towards the deliveries after which it fails; its request and a stranger's release are kept apart."""
    store.claim("k", "fp", "a", LONG)
    send(store, "k", "a", {"x": 1})
    store.release("k", "b", uncount=True)  # not b's: no effect
    assert store.get("k").deliveries == 1
    store.release("k", "a", uncount=True)
    assert store.get("k").deliveries == 0
    c = store.claim("k", "fp", "b", LONG)
    assert (c.status, c.record.deliveries, c.record.sent_request) == (A, 1, sent({"x": 1}))
    store.release("k", "b", sent({"x": 2}), uncount=True)
    c = store.claim("k", "fp", "c", LONG)
    assert (c.record.deliveries, c.record.sent_request) == (1, sent({"x": 2}))
    store.release("k", "c")
    assert store.claim("k", "fp", "d", LONG).record.deliveries == 2


def test_writes_need_the_lease(store: IdempotencyStore) -> None:
    assert lock(store, "rule", "a") and lock(store, "rule-b", "b")
    with pytest.raises(LeaseLost):
        store.open_entry("missing", "a", "rule", entry("missing"))
    with pytest.raises(LeaseLost):
        store.complete("missing", "a", {}, LONG)
    store.release("missing", "a")  # no-op, no error
    assert store.get("missing") is None
    store.claim("k", "fp", "a", LONG)
    with pytest.raises(LeaseLost):
        store.open_entry("k", "b", "rule-b", entry("k"))  # b holds a rule, not the claim
    with pytest.raises(LeaseLost):
        store.open_entry("k", "a", "rule-b", entry("k"))  # a holds the claim, not the rule
    with pytest.raises(LeaseLost):
        store.complete("k", "b", {}, LONG)
    assert store.rule_state("rule").journal == [] and store.rule_state("rule-b").journal == []
    store.complete("k", "a", {}, LONG)
    with pytest.raises(LeaseLost):
        store.open_entry("k", "a", "rule", entry("k"))  # completed: nothing more to send


def test_json_round_trip_is_exact(store: IdempotencyStore) -> None:
    payload = {"SecurityGroupId": "sg-1", "Description": "übung ✓", "Priority": 1, "Tags": [],
               "Nested": {"empty": {}, "t": 1732700000123456, "f": 0.5, "n": None, "b": False}}
    store.claim("k", "fp", "a", LONG)
    send(store, "k", "a", payload)
    store.complete("k", "a", {"data": payload}, LONG)
    r = store.get("k")
    assert r.sent_request == sent(payload) and r.outcome == {"data": payload}


def test_invalid_durations_are_refused(store: IdempotencyStore) -> None:
    with pytest.raises(ValueError):
        store.claim("k", "fp", "a", 0)
    with pytest.raises(ValueError):
        store.lock_rules(["r"], "a", -1)
    with pytest.raises(ValueError):
        store.renew(["k"], [], "a", 0)


def test_namespaces_are_isolated(store_url: str, namespace: str, other_namespace: str) -> None:
    a, b = open_store(store_url, namespace=namespace), open_store(store_url, namespace=other_namespace)
    try:
        assert a.claim("k", "fp", "a", LONG).status is A
        assert b.claim("k", "other", "b", LONG).status is A
        assert lock(b, "r", "b") and lock(a, "r", "a")
    finally:
        a.close()
        b.close()


# --- per-rule lock -------------------------------------------------------------------------------------

def test_rule_lock_is_exclusive(store: IdempotencyStore) -> None:
    assert lock(store, "r", "a", LONG)
    assert not lock(store, "r", "b", LONG)
    assert lock(store, "r", "a", LONG)  # ours: renewed
    assert lock(store, "other-rule", "b", LONG)
    store.release_rule_lock("r", "b")  # not b's: stays a's
    assert not lock(store, "r", "b", LONG)
    store.release_rule_lock("r", "a")
    assert lock(store, "r", "b", LONG)


def test_rule_lock_expires(store: IdempotencyStore) -> None:
    assert lock(store, "r", "a", SHORT)
    assert not lock(store, "r", "b", LONG)
    wait_until(lambda: lock(store, "r", "b", LONG))
    store.release_rule_lock("r", "a")  # a's lease is over: must not free b's lock
    assert not lock(store, "r", "a", LONG)


def test_rule_lock_under_threads(store: IdempotencyStore) -> None:
    """Threads looping acquire/release: never two holders at once."""
    holders: list[str] = []
    overlap: list[tuple[str, ...]] = []
    guard = threading.Lock()
    acquired = Counter[str]()

    def worker(owner: str) -> None:
        for _ in range(15):
            if lock(store, "r", owner):
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

def complete_with(store: IdempotencyStore, key: str, times: dict[str, int], ttl: float = LONG,
                  rule: str = "r") -> None:
    store.claim(key, "fp", "w", LONG)
    store.complete(key, "w", {"ok": True}, ttl, rule_key=rule, field_times=times)


def test_watermarks_max_merge(store: IdempotencyStore) -> None:
    assert store.rule_state("r").marks == {}
    t0 = 1_732_700_000_123_456  # epoch microseconds: more digits than a float prints by default
    complete_with(store, "k1", {"Policy": t0 + 10, "PortRange": t0 + 5})
    complete_with(store, "k2", {"Policy": t0 + 7, "PortRange": t0 + 9, "Priority": t0})
    assert store.rule_state("r").marks == {"Policy": t0 + 10, "PortRange": t0 + 9, "Priority": t0}
    complete_with(store, "k3", {})
    assert store.rule_state("r").marks == {"Policy": t0 + 10, "PortRange": t0 + 9, "Priority": t0}
    assert store.rule_state("other").marks == {}


def test_watermarks_expire(store: IdempotencyStore) -> None:
    complete_with(store, "k1", {"Policy": 5}, SHORT)
    assert store.rule_state("r").marks == {"Policy": 5}
    wait_until(lambda: store.rule_state("r").marks == {})
    complete_with(store, "k2", {"Policy": 1})  # an expired watermark no longer wins
    assert store.rule_state("r").marks == {"Policy": 1}


def test_watermarks_concurrent_merge(store: IdempotencyStore) -> None:
    rng = random.Random(7)
    batches = [{f: rng.randrange(10**15, 2 * 10**15) for f in rng.sample("abcdef", 3)} for _ in range(64)]
    expected: dict[str, int] = {}
    for b in batches:
        for f, t in b.items():
            expected[f] = max(t, expected.get(f, t))
    threads = [threading.Thread(target=complete_with, args=(store, f"k{i}", b)) for i, b in enumerate(batches)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.rule_state("r").marks == expected


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
    n, keys = 4, [f"key-{i}" for i in range(50)]
    results = race_processes(Path(__file__).parent, "_idem_mp_worker:claim_all", n,
                             lambda i, barrier, out: (store_url, namespace, f"p{i}", keys, barrier, out))
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
    complete_with(store, "before", {"PortRange": 50, "Description": 10}, rule="rule")
    store.claim("k", "fp", "me", 60)
    assert lock(store, "rule", "me", 60)
    store.complete("k", "me", {"status": "applied"}, 60, rule_key="rule",
                   field_times={"PortRange": 40, "Description": 20}, release_rule=True)
    assert store.rule_state("rule").marks == {"PortRange": 50, "Description": 20}
    assert lock(store, "rule", "someone-else", 60)  # released by the complete
    store.claim("k2", "fp", "me", 60)
    store.complete("k2", "me", {"status": "unchanged"}, 60, rule_key="rule", field_times={"Policy": 7},
                   release_rule=True)
    assert not lock(store, "rule", "me", 60)  # not ours: left alone
    assert store.rule_state("rule").marks["Policy"] == 7


def test_complete_without_the_lease_changes_no_watermark(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "other", 60)
    with pytest.raises(LeaseLost):
        store.complete("k", "me", {}, 60, rule_key="rule", field_times={"PortRange": 1})
    assert store.rule_state("rule").marks == {}


def test_lock_rules_takes_free_locks_and_reads_their_state(store: IdempotencyStore) -> None:
    complete_with(store, "k", {"PortRange": 5}, rule="r1")
    assert lock(store, "r2", "other", 60)
    got = store.lock_rules(["r1", "r2", "r3"], "me", 60)
    assert got["r2"] is None
    assert (got["r1"].marks, got["r1"].journal) == ({"PortRange": 5}, [])
    assert (got["r3"].marks, got["r3"].version, got["r3"].journal) == ({}, 0, [])
    assert not lock(store, "r1", "other", 60) and not lock(store, "r3", "other", 60)
    assert store.lock_rules([], "me", 60) == {}


def test_complete_many_completes_ours_and_reports_lost_leases(store: IdempotencyStore) -> None:
    store.claim("mine", "fp", "me", 60)
    store.claim("theirs", "fp", "other", 60)
    assert lock(store, "rule", "me", 60)
    done = store.complete_many([Completion("mine", {"n": 1}, "rule", {"Description": 3}, True),
                                Completion("theirs", {"n": 2}, "rule", {"Description": 9})], "me", 60)
    assert done == [True, False]
    assert store.get("mine").outcome == {"n": 1} and store.get("theirs").status == "in_progress"
    assert store.rule_state("rule").marks == {"Description": 3}  # the lost one changed nothing
    assert lock(store, "rule", "other", 60)
    assert store.complete_many([], "me", 60) == []


# --- the journal ---------------------------------------------------------------------------------------

def test_open_entry_journals_the_request_and_a_new_version(store: IdempotencyStore) -> None:
    seq0 = store.sequence()
    store.claim("k", "fp", "a", LONG)
    assert lock(store, "rule", "a")
    e = entry("k", {"Description": "new"}, Description=7)
    v = store.open_entry("k", "a", "rule", e)
    assert v > seq0 and store.sequence() == v
    state = store.rule_state("rule")
    assert state.version == v
    assert [(j.change_key, j.token, j.params, j.field_times, j.seq) for j in state.journal] == [
        ("k", "tok-k", {"Description": "new"}, {"Description": 7}, v)]
    assert store.get("k").sent_request == sent({"Description": "new"})
    # the same token again replaces the entry (a retry of the same request), a later one comes after it
    v2 = store.open_entry("k", "a", "rule", entry("k", {"Description": "new"}, Description=7))
    assert v2 > v and len(store.rule_state("rule").journal) == 1
    store.claim("k2", "fp", "a", LONG)
    store.open_entry("k2", "a", "rule", entry("k2", {"Priority": "2"}, Priority=5))
    assert [j.token for j in store.rule_state("rule").journal] == ["tok-k", "tok-k2"]


def test_entries_opened_at_once_each_get_their_own_version(store: IdempotencyStore) -> None:
    """Many threads journaling at once (a busy batch: the SQLite backend writes them as groups): each entry
    whose claim and rule lock are its owner's is journaled with its own version, and its request recorded;
    one whose claim or lock is gone raises LeaseLost and writes nothing -- whatever else shares its group."""
    n = 48
    for i in range(n):
        store.claim(f"k{i}", "fp", "a", LONG)
        assert lock(store, f"rule{i}", "a" if i % 6 else "b")  # every 6th rule is another worker's
    store.complete("k3", "a", {}, LONG)  # and k3 is finished: nothing more to send
    start = threading.Barrier(12)
    results: dict[int, int | str] = {}

    def opener(first: int) -> None:
        start.wait()
        for i in range(first, n, 12):
            try:
                results[i] = store.open_entry(f"k{i}", "a", f"rule{i}", entry(f"k{i}", {"Description": f"d{i}"},
                                                                            Description=i))
            except LeaseLost as exc:
                results[i] = f"lost {exc.key}"

    threads = [threading.Thread(target=opener, args=(t,)) for t in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    lost = {i: f"lost k{i}" if i == 3 else f"lost rule{i}" for i in range(n) if i == 3 or i % 6 == 0}
    assert {i: r for i, r in results.items() if isinstance(r, str)} == lost
    versions = {i: r for i, r in results.items() if not isinstance(r, str)}
    assert len(versions) == n - len(lost) and len(set(versions.values())) == len(versions)
    assert max(versions.values()) == store.sequence()
    for i in range(n):
        state = store.rule_state(f"rule{i}")
        if i in lost:
            assert state.journal == [] and store.get(f"k{i}").sent_request is None
        else:
            assert [(j.change_key, j.params, j.field_times, j.seq) for j in state.journal] == [
                (f"k{i}", {"Description": f"d{i}"}, {"Description": i}, versions[i])]
            assert state.version == versions[i]
            assert store.get(f"k{i}").sent_request == sent({"Description": f"d{i}"})


def test_open_entries_journals_each_item_alone(store: IdempotencyStore) -> None:
    """A batch's first requests journaled in one step: each held item gets its own version (in item order),
    its entry and its recorded request; an item whose claim or lock is gone gets its LeaseLost and writes
    nothing; a rule's watermarks survive."""
    seq0 = store.sequence()
    for i in range(6):
        store.claim(f"k{i}", "fp", "a", LONG)
        assert lock(store, f"rule{i}", "b" if i == 2 else "a")
    store.complete("k4", "a", {}, LONG)
    store.claim("k5b", "fp", "a", LONG)
    store.open_entry("k5b", "a", "rule5", entry("k5b", Priority=3))  # rule5 has an entry and a version
    store.complete("k5b", "a", {}, LONG, rule_key="rule5", field_times={"Priority": 3}, entry="tok-k5b")
    items = [(f"k{i}", "a", f"rule{i}", entry(f"k{i}", {"Description": f"d{i}"}, Description=i)) for i in range(6)]
    got = store.open_entries(items)
    assert [type(r).__name__ for r in got] == ["int", "int", "LeaseLost", "int", "LeaseLost", "int"]
    assert (got[2].key, got[4].key) == ("rule2", "k4")  # type: ignore[union-attr]
    versions = [got[i] for i in (0, 1, 3, 5)]
    assert versions == sorted(versions) and len(set(versions)) == 4 and versions[0] > seq0
    assert store.sequence() == versions[-1]
    for i in (0, 1, 3, 5):
        state = store.rule_state(f"rule{i}")
        assert [(j.change_key, j.params, j.field_times, j.seq) for j in state.journal] == [
            (f"k{i}", {"Description": f"d{i}"}, {"Description": i}, got[i])]
        assert state.version == got[i] and store.get(f"k{i}").sent_request == sent({"Description": f"d{i}"})
    assert store.rule_state("rule5").marks == {"Priority": 3}
    assert store.rule_state("rule2").journal == [] and store.get("k2").sent_request is None
    assert store.open_entries([]) == []


def test_complete_closes_its_entry_with_a_new_version(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "a", LONG)
    assert lock(store, "rule", "a")
    v = store.open_entry("k", "a", "rule", entry("k", Description=7))
    store.complete("k", "a", {"status": "applied"}, LONG, rule_key="rule", field_times={"Description": 7},
                   entry="tok-k")
    state = store.rule_state("rule")
    assert state.journal == [] and state.version > v and state.marks == {"Description": 7}
    assert lock(store, "rule", "a")  # still ours: no release asked


def test_an_open_entry_is_what_the_next_holder_finds(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "a", SHORT)
    assert lock(store, "rule", "a", SHORT)
    store.open_entry("k", "a", "rule", entry("k", {"Description": "new"}, Description=7))
    # a is killed here; b takes the rule once its lease is over and finds the intent
    state = wait_until(lambda: store.lock_rules(["rule"], "b", LONG)["rule"])
    assert [j.change_key for j in state.journal] == ["k"]


def test_settle_closes_the_entry_records_its_watermarks_and_tells_its_change(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "a", SHORT)
    assert lock(store, "rule", "a", SHORT)
    store.open_entry("k", "a", "rule", entry("k", Description=7))
    [found] = wait_until(lambda: store.lock_rules(["rule"], "b", LONG)["rule"]).journal
    with pytest.raises(LeaseLost):
        store.settle("rule", "a", found, InEffect(found.token, "R-1"), {"Description": 7}, LONG)  # a lost the rule
    v = store.settle("rule", "b", found, InEffect(found.token, "R-1", calls=1), found.field_times, LONG)
    state = store.rule_state("rule")
    assert (state.journal, state.marks, state.version) == ([], {"Description": 7}, v)
    r = store.get("k")
    assert r.settled == InEffect(found.token, "R-1", calls=1) and r.status == "in_progress"
    c = store.claim("k", "fp", "c", LONG)  # the change's next delivery learns it
    assert (c.status, c.record.settled) == (A, InEffect(found.token, "R-1", calls=1))


def test_settle_of_a_refused_request_records_no_watermark(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "a", LONG)
    assert lock(store, "rule", "a")
    store.open_entry("k", "a", "rule", entry("k", Description=7))
    [found] = store.lock_rules(["rule"], "a", LONG)["rule"].journal
    refused = Refused(found.token, {"code": "InvalidParam.PortRange", "source": "ecs"})
    store.settle("rule", "a", found, refused, None, LONG)
    assert store.rule_state("rule").marks == {} and store.rule_state("rule").journal == []
    assert store.get("k").settled == refused


def test_settle_leaves_a_completed_change_alone(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "a", LONG)
    assert lock(store, "rule", "a")
    store.open_entry("k", "a", "rule", entry("k", Description=7))
    [found] = store.rule_state("rule").journal
    store.complete("k", "a", {"status": "applied"}, LONG)
    store.settle("rule", "a", found, InEffect(found.token, "R-2"), found.field_times, LONG)
    assert store.get("k").settled is None and store.get("k").outcome == {"status": "applied"}


# --- leases --------------------------------------------------------------------------------------------

def test_renew_extends_ours_and_reports_the_rest(store: IdempotencyStore) -> None:
    first_lease_end = time.time() + SHORT
    store.claim("mine", "fp", "me", SHORT)
    store.claim("theirs", "fp", "other", LONG)
    assert lock(store, "r-mine", "me", SHORT) and lock(store, "r-theirs", "other")
    lost = store.renew(["mine", "theirs", "missing"], ["r-mine", "r-theirs", "r-free"], "me", LONG)
    assert lost == {"theirs", "missing", "r-theirs", "r-free"}
    assert store.get("mine").lease_expires_at > time.time() + LONG / 2
    wait_until(lambda: time.time() > first_lease_end + 0.1)  # past the first lease: renewed, still ours
    assert store.claim("mine", "fp", "other", LONG).status is ClaimStatus.IN_PROGRESS
    assert not lock(store, "r-mine", "other")
    assert store.renew([], [], "me", LONG) == set()


def test_renew_after_expiry_is_refused(store: IdempotencyStore) -> None:
    store.claim("k", "fp", "me", SHORT)
    assert lock(store, "r", "me", SHORT)
    wait_until(lambda: time.time() > store.get("k").lease_expires_at + 0.05)
    wait_until(lambda: lock(store, "r", "other"))
    assert store.renew(["k"], ["r"], "me", LONG) == {"k", "r"}

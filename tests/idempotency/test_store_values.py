"""get_value / put_value (small values beside the idempotency records), on every backend."""
from __future__ import annotations

import threading
import time

import pytest

from sgrule.store import IdempotencyStore, open_store

LONG = 60.0
SHORT = 0.2


def test_missing_value_is_none(store: IdempotencyStore) -> None:
    assert store.get_value("cursor") is None


def test_put_then_get_round_trips_text_exactly(store: IdempotencyStore) -> None:
    text = '{"done": ["sg-1"], "note": "caf\u00e9 \u2014 \U0001f600", "n": 12345678901234567890}'
    store.put_value("cursor", text, LONG)
    assert store.get_value("cursor") == text
    store.put_value("empty", "", LONG)
    assert store.get_value("empty") == ""


def test_put_replaces(store: IdempotencyStore) -> None:
    store.put_value("cursor", "one", LONG)
    store.put_value("cursor", "two", LONG)
    assert store.get_value("cursor") == "two"


def test_value_expires_after_its_ttl(store: IdempotencyStore) -> None:
    store.put_value("cursor", "soon gone", SHORT)
    assert store.get_value("cursor") == "soon gone"
    deadline = time.monotonic() + 5
    while store.get_value("cursor") is not None:
        assert time.monotonic() < deadline, "value outlived its ttl"
        time.sleep(0.02)
    store.put_value("cursor", "again", LONG)  # an expired key is writable as new
    assert store.get_value("cursor") == "again"


def test_invalid_ttl_is_refused(store: IdempotencyStore) -> None:
    for ttl in (0, -1):
        with pytest.raises(ValueError):
            store.put_value("cursor", "x", ttl)
    assert store.get_value("cursor") is None


def test_values_are_their_own_key_space(store: IdempotencyStore) -> None:
    """A value never reads or clobbers a claim, a rule lock or watermarks of the same name, nor they it."""
    store.claim("w", "fp", "owner", LONG)
    store.complete("w", "owner", {"ok": True}, LONG, rule_key="k", field_times={"Description": 5})
    store.claim("k", "fp", "owner", LONG)
    assert store.lock_rules(["k"], "owner", LONG)["k"] is not None
    assert store.get_value("k") is None
    store.put_value("k", "value", LONG)
    record = store.get("k")
    assert record is not None and record.fingerprint == "fp" and record.owner == "owner"
    assert store.rule_state("k").marks == {"Description": 5}
    assert store.lock_rules(["k"], "someone else", LONG)["k"] is None
    assert store.get_value("k") == "value"


def test_values_are_isolated_by_namespace(store_url: str, namespace: str, other_namespace: str) -> None:
    a, b = open_store(store_url, namespace=namespace), open_store(store_url, namespace=other_namespace)
    try:
        a.put_value("cursor", "a", LONG)
        assert b.get_value("cursor") is None
        b.put_value("cursor", "b", LONG)
        assert (a.get_value("cursor"), b.get_value("cursor")) == ("a", "b")
    finally:
        a.close()
        b.close()


def test_two_store_objects_see_each_others_values(store_url: str, namespace: str) -> None:
    """What one FC instance stores, the next trigger's instance reads."""
    first, second = open_store(store_url, namespace=namespace), open_store(store_url, namespace=namespace)
    try:
        first.put_value("cursor", "from the first", LONG)
        assert second.get_value("cursor") == "from the first"
    finally:
        first.close()
        second.close()


def test_concurrent_puts_leave_one_whole_value(store: IdempotencyStore) -> None:
    values = [f"writer-{i}-" + "x" * 5000 for i in range(8)]
    start = threading.Barrier(len(values))

    def put(v: str) -> None:
        start.wait()
        for _ in range(5):
            store.put_value("cursor", v, LONG)

    threads = [threading.Thread(target=put, args=(v,)) for v in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get_value("cursor") in values

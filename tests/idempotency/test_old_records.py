"""Records an earlier version wrote are read by this one, and written back byte for byte the same.

The journal's records are typed in the code (``sgrule.store.records``) and JSON only in the store. The JSON
below is what the store held before they were typed (the apply engine wrote plain dicts: a sent request as
``{"params", "attempts"}``, a settlement as ``{"token", "requestId", "calls"}``, ``{"token", "error"}`` or
``{"token", "sent": false}``): a store upgraded under running changes must keep reading them.
"""
from __future__ import annotations

import sqlite3

import pytest

from sgrule.store import ClaimStatus, IdempotencyStore, InEffect, JournalEntry, NeverSent, Refused, SentRequest
from sgrule.store.base import dumps, loads
from sgrule.store.records import sent_from_json, sent_to_json, settlement_from_json, settlement_to_json

LONG = 60.0
PARAMS = {"ClientToken": "tok-1", "Description": "new", "RegionId": "cn-hangzhou",
          "SecurityGroupId": "sg-1", "SecurityGroupRuleId": "sgr-1"}
OLD_SENT = ('{"attempts":2,"params":{"ClientToken":"tok-1","Description":"new","RegionId":"cn-hangzhou",'
            '"SecurityGroupId":"sg-1","SecurityGroupRuleId":"sgr-1"}}')
OLD_ENTRY = ('{"attempts":1,"changeKey":"k","fieldTimes":{"Description":7},"params":{"ClientToken":"tok-1",'
             '"Description":"new","RegionId":"cn-hangzhou","SecurityGroupId":"sg-1","SecurityGroupRuleId":"sgr-1"},'
             '"token":"tok-1"}')
ECS_ERROR = {"code": "InvalidParam.PortRange", "httpStatus": 400, "message": "bad ports", "source": "ecs"}
BUILD_ERROR = {"code": "Runtime.Unexpected", "httpStatus": 500, "message": "could not be built",
               "source": "runtime"}
OLD_SETTLEMENTS = [
    ('{"calls":1,"requestId":"R-1","token":"tok-1"}', InEffect("tok-1", "R-1", 1)),
    ('{"error":{"code":"InvalidParam.PortRange","httpStatus":400,"message":"bad ports","source":"ecs"},'
     '"token":"tok-1"}', Refused("tok-1", ECS_ERROR)),
    ('{"error":{"code":"Runtime.Unexpected","httpStatus":500,"message":"could not be built","source":"runtime"},'
     '"token":"tok-1"}', NeverSent("tok-1", BUILD_ERROR)),
    ('{"sent":false,"token":"tok-1"}', NeverSent("tok-1")),
]


@pytest.mark.parametrize(("text", "typed"), OLD_SETTLEMENTS)
def test_an_old_settlement_reads_typed_and_writes_back_the_same_bytes(text: str, typed: object) -> None:
    assert settlement_from_json(loads(text)) == typed
    assert dumps(settlement_to_json(typed)) == text  # type: ignore[arg-type]


def test_an_old_sent_request_and_journal_entry_read_typed_and_write_back_the_same_bytes() -> None:
    sent = sent_from_json(loads(OLD_SENT))
    assert sent == SentRequest(PARAMS, 2) and sent.token == "tok-1"
    assert dumps(sent_to_json(sent)) == OLD_SENT
    entry = JournalEntry.from_json(loads(OLD_ENTRY), 3)  # type: ignore[arg-type]
    assert entry == JournalEntry("k", "tok-1", PARAMS, {"Description": 7}, 1, 3)
    assert dumps(entry.to_json()) == OLD_ENTRY


def _write_old(store: IdempotencyStore, store_url: str, namespace: str, settled: str) -> None:
    """Put the old JSON into the store's own rows/hashes, where the earlier version left it."""
    if store_url.startswith("sqlite"):
        conn = sqlite3.connect(store_url[len("sqlite://"):])
        with conn:
            conn.execute("UPDATE idem SET sent_request=?, settled=? WHERE ns=? AND key='k'",
                         (OLD_SENT, settled, namespace))
            conn.execute("UPDATE journal SET entry=? WHERE ns=? AND rule_key='rule'", (OLD_ENTRY, namespace))
        conn.close()
        return
    import redis

    client = redis.Redis.from_url(store_url)
    client.hset(f"{namespace}:idem:k", mapping={"sent_request": OLD_SENT, "settled": settled})
    client.hset(f"{namespace}:rule:rule", "j:tok-1", OLD_ENTRY)
    client.close()


@pytest.mark.parametrize(("text", "typed"), OLD_SETTLEMENTS)
def test_a_store_holding_old_records_is_read_by_this_version(store: IdempotencyStore, store_url: str,
                                                             namespace: str, text: str, typed: object) -> None:
    store.claim("k", "fp", "a", 0.5)
    assert store.lock_rules(["rule"], "a", LONG)["rule"] is not None
    store.open_entry("k", "a", "rule", JournalEntry("k", "tok-1", PARAMS, {"Description": 7}, 1))
    _write_old(store, store_url, namespace, text)
    record = store.get("k")
    assert record is not None and (record.sent_request, record.settled) == (SentRequest(PARAMS, 2), typed)
    [entry] = store.lock_rules(["rule"], "a", LONG)["rule"].journal  # type: ignore[union-attr]
    assert (entry.change_key, entry.token, entry.params, entry.field_times, entry.attempts) == \
        ("k", "tok-1", PARAMS, {"Description": 7}, 1)
    # The next delivery takes the change over with the old record intact, and the old entry settles.
    claim = store.claim("k", "fp", "b", LONG) if store.get("k").owner is None else None  # type: ignore[union-attr]
    if claim is None:
        store.release("k", "a")
        claim = store.claim("k", "fp", "b", LONG)
    assert claim.status is ClaimStatus.ACQUIRED and claim.record.sent_request == SentRequest(PARAMS, 2)
    assert claim.record.settled == typed
    store.settle("rule", "a", entry, InEffect("tok-1", "R-9", 1), entry.field_times, LONG)
    assert store.rule_state("rule").journal == [] and store.rule_state("rule").marks == {"Description": 7}

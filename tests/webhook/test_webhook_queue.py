"""The webhook end to end with its queue: localcloud's MNS, messages read back with the official MNS SDK.

For every scheme: valid -> 202 and the changes on the queue; unauthenticated -> 401 and nothing enqueued;
the rotated secret works; a replay gets the first answer and enqueues nothing. Then the ticket path (a
re-sent ticket enqueues nothing new), the queue failing (503, nothing remembered), concurrency.
"""
from __future__ import annotations

import base64
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pytest
from webhookkit import SCHEME, SECRETS, SENDERS, Answer, block, change, jira_issue

Drain = Callable[[], list[dict[str, Any]]]
DATA = {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-bp1payments01", "SecurityGroupRuleId": "sgr-bp1https01",
        "DestCidrIp": "10.21.0.0/16"}


@pytest.mark.parametrize("name", SENDERS)
def test_valid_request_puts_its_changes_on_the_queue(post: Callable[..., Answer], queued: Drain, name: str) -> None:
    events = [change(i, sender=name) for i in range(3)]
    a = post(name, events)
    assert a.status == 202, a
    assert a.json == {"accepted": [e["id"] for e in events], "queue": os.environ["SGRULE_CHANGE_QUEUE"]}
    assert queued() == events


@pytest.mark.parametrize("name", SENDERS)
def test_rotated_second_secret(post: Callable[..., Answer], queued: Drain, name: str) -> None:
    event = change(sender=name)
    assert post(name, event, secret=SECRETS[name][1]).status == 202
    assert queued() == [event]


@pytest.mark.parametrize("name", SENDERS)
def test_replayed_delivery_gets_the_first_answer_and_enqueues_nothing(post: Callable[..., Answer], queued: Drain,
                                                                     name: str) -> None:
    event = change(sender=name)
    first = post(name, event, delivery="dlv-replay-1")
    assert first.status == 202 and queued() == [event]
    again = post(name, event, delivery="dlv-replay-1")
    assert (again.status, again.json) == (first.status, first.json)
    assert again.headers["Sgrule-Replayed"] == "true"
    assert queued() == []


def _wrong(name: str) -> str:
    return ("whsec_" + base64.b64encode(b"not-the-secret-0123456789abcdef").decode() if SCHEME[name] == "standard"
            else "not-the-secret-0123456789")


SIG = {"std": "webhook-signature", "gh": "X-Hub-Signature-256", "jira": "X-Hub-Signature",
       "pd": "X-PagerDuty-Signature", "zd": "X-Zendesk-Webhook-Signature", "sn": "Authorization"}
FAILURES: list[tuple[str, str]] = [(n, f) for n in SENDERS for f in ("tampered", "wrong-secret", "missing", "malformed")
                                   if not (f == "tampered" and SCHEME[n] == "token")]
FAILURES += [(n, f) for n in ("std", "zd") for f in ("stale", "future")]


@pytest.mark.parametrize("name,failure", FAILURES)
def test_unauthenticated_requests_enqueue_nothing(post: Callable[..., Answer], queued: Drain, name: str,
                                                  failure: str, webhook: Any) -> None:
    from webhookkit import fc_context, http_event, sign

    event = change(sender=name)
    body = json.dumps(event).encode()
    headers = sign(name, body, secret=_wrong(name) if failure == "wrong-secret" else None,
                   at=time.time() + {"stale": -400, "future": 400}.get(failure, 0))
    if failure == "tampered":
        body = body.replace(b"443/443", b"22/22")
    elif failure == "missing":
        del headers[SIG[name]]
    elif failure == "malformed":
        headers[SIG[name]] = "sha256=zz" if name != "sn" else "Bearer"
    a = Answer(webhook.handler(http_event(f"/{name}", body, headers), fc_context()))
    assert a.status == 401 and a.codes == ["Webhook.Unauthorized"]
    assert queued() == []


def test_invalid_change_in_five_enqueues_none(post: Callable[..., Answer], queued: Drain) -> None:
    events = [change(i, sender="pd") for i in range(5)]
    events[2]["data"]["DestCidrIp"] = "10.0.0.300/8"
    a = post("pd", events)
    assert a.status == 400 and [(e["index"], e["code"]) for e in a.json["errors"]] == [(2, "InvalidParam.DestCidrIp")]
    assert queued() == []


def test_a_ticket_re_sent_after_an_edit_enqueues_nothing_new(post: Callable[..., Answer], queued: Drain) -> None:
    first = post("jira", jira_issue("SEC-1042", description=block(DATA)))
    assert first.status == 202
    [message] = queued()
    assert message["id"] == first.json["accepted"][0] and message["correlationid"] == "SEC-1042"
    assert message["time"] == "2026-11-27T09:15:00.000000Z" and message["source"] == "ticketing/jira"
    # The ticket is edited (a comment without a block): Jira sends it all again, as a new delivery.
    again = post("jira", jira_issue("SEC-1042", description=block(DATA), comment="LGTM",
                                    updated="2026-11-28T10:00:00.000+0000"))
    assert again.status == 202 and again.json["alreadyQueued"] == first.json["accepted"]
    assert queued() == []
    # A new request in a comment is a new change, at the ticket's new update time.
    newer = {**DATA, "DestCidrIp": "10.22.0.0/16"}
    third = post("jira", jira_issue("SEC-1042", description=block(DATA), comment=block(newer),
                                    updated="2026-11-29T10:00:00.000+0000"))
    [message] = queued()
    assert third.json["accepted"] == [message["id"]] and message["data"] == newer
    assert message["time"] == "2026-11-29T10:00:00.000000Z"


def test_queue_unreachable_is_503_and_the_retry_enqueues_once(post: Callable[..., Answer], queued: Drain,
                                                              localcloud: Any) -> None:
    localcloud.faults.inject("BatchSendMessage", error={"status": 503, "code": "ServiceUnavailable"})
    events = [change(i, sender="gh") for i in range(2)]
    a = post("gh", events, delivery="dlv-503")
    assert a.status == 503 and a.codes == ["Webhook.QueueUnavailable"] and a.headers["Retry-After"]
    localcloud.faults.clear()
    assert queued() == []
    retry = post("gh", events, delivery="dlv-503")  # nothing was remembered as done: the retry does the work
    assert retry.status == 202 and "Sgrule-Replayed" not in retry.headers
    assert queued() == events
    assert post("gh", events, delivery="dlv-503").headers["Sgrule-Replayed"] == "true"
    assert queued() == []


def test_a_ticket_change_whose_send_failed_keeps_its_first_time(post: Callable[..., Answer], queued: Drain,
                                                                localcloud: Any) -> None:
    localcloud.faults.inject("BatchSendMessage", error={"status": 503, "code": "ServiceUnavailable"})
    assert post("jira", jira_issue("SEC-5", description=block(DATA))).status == 503
    localcloud.faults.clear()
    # The ticket arrives again later (another delivery, a later update time): the change keeps its first time.
    a = post("jira", jira_issue("SEC-5", description=block(DATA), updated="2026-12-01T00:00:00.000+0000"))
    assert a.status == 202 and "alreadyQueued" not in a.json
    [message] = queued()
    assert message["time"] == "2026-11-27T09:15:00.000000Z"


def test_unreachable_endpoint_is_503(post: Callable[..., Answer], queued: Drain, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from sgrule.webhook import handler as runtime

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("SGRULE_MNS_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("SGRULE_WEBHOOK_BUDGET_MS", "300")
    runtime.reset()
    a = post("std", change(sender="std"))
    assert a.status == 503 and a.codes == ["Webhook.QueueUnavailable"]


def test_concurrent_duplicates_of_one_delivery_enqueue_once(post: Callable[..., Answer], queued: Drain) -> None:
    events = [change(i, sender="zd") for i in range(3)]
    start = threading.Barrier(8)

    def one(_: int) -> Answer:
        start.wait()
        return post("zd", events, delivery="dlv-concurrent")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    assert {a.status for a in answers} <= {202, 503}
    accepted = [a for a in answers if a.status == 202]
    assert accepted and all(a.json == accepted[0].json for a in accepted)
    assert queued() == events


@pytest.mark.redis
def test_replays_and_ticket_memory_on_redis(post: Callable[..., Answer], queued: Drain, redis_url: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The same guarantees with the Redis store many instances share (a namespace of this test's own)."""
    import uuid

    from sgrule.webhook import handler as runtime

    monkeypatch.setenv("SGRULE_IDEMPOTENCY_URL", redis_url)
    monkeypatch.setenv("SGRULE_IDEMPOTENCY_NAMESPACE", f"test-webhook-{uuid.uuid4().hex}")
    runtime.reset()
    event = change(sender="gh")
    first = post("gh", event, delivery="dlv-redis")
    assert first.status == 202 and queued() == [event]
    assert post("gh", event, delivery="dlv-redis").json == first.json and queued() == []
    a = post("jira", jira_issue("SEC-77", description=block(DATA)))
    [message] = queued()
    b = post("jira", jira_issue("SEC-77", description=block(DATA), updated="2026-12-01T00:00:00.000+0000"))
    assert b.json["alreadyQueued"] == a.json["accepted"] == [message["id"]] and queued() == []

"""eventbridge triggers with an MNS source: messages sent with the official ``aliyun-mns-sdk`` reach the
function in batches no larger than the window, decoded as configured, and are deleted; a batch that keeps
failing ends, after the retries, in the dead-letter queue -- every message accounted for."""
from __future__ import annotations

import base64
import json
from typing import Any


def _send(fcapp: Any, queue: str, bodies: list[str]) -> list[str]:
    from mns.queue import Message

    q = fcapp.mns_account().get_queue(queue)
    ids: list[str] = []
    for i in range(0, len(bodies), 16):  # BatchSendMessage takes 16 at most
        ids += [m.message_id for m in q.batch_send_message([Message(b) for b in bodies[i:i + 16]])]
    return ids


def test_messages_reach_the_function_in_batches_within_the_window_and_are_deleted(fcapp: Any,
                                                                                  fcapp_sink: Any) -> None:
    bodies = [json.dumps({"n": i, "text": "héllo"}) for i in range(11)]
    ids = _send(fcapp, "t-in", bodies)  # the SDK sends base64 of each body
    poller = fcapp.app.pollers["t-sink/in-queue"]

    def received() -> list[dict[str, Any]]:
        out = []
        for line in fcapp_sink.events():
            try:
                doc = json.loads(line["event"])
            except ValueError:  # another test's plain-text event
                continue
            if isinstance(doc, list) and doc and doc[0].get("type") == "mns:Queue:SendMessage":
                out.append({"requestId": line["requestId"], "events": doc})
        return out

    batches = fcapp.wait_for(lambda: sum(len(b["events"]) for b in received()) >= 11 and received(), timeout=20)
    fcapp.wait_idle()
    events = [e for b in batches for e in b["events"]]
    assert sorted(e["data"]["messageId"] for e in events) == sorted(ids)  # each message exactly once
    assert all(len(b["events"]) <= 4 for b in batches)  # CountBasedWindow: 4
    assert sorted(json.loads(e["data"]["messageBody"])["n"] for e in events) == list(range(11))  # decoded
    e = events[0]
    assert e["source"] == "acs:mns" and e["subject"] == "acs:mns:cn-hangzhou:1234567890123456:queues/t-in"
    assert e["specversion"] == "1.0" and e["aliyunregionid"] == "cn-hangzhou"
    assert sum(poller.batches) >= 11 and max(poller.batches) <= 4
    assert fcapp.queue_messages("t-in") == []  # deleted after success
    trig = [i for i in fcapp.invocations(function="t-sink") if i["trigger"] == "eventbridge:in-queue"]
    assert {b["requestId"] for b in batches} <= {i["requestId"] for i in trig}


def test_a_batch_that_keeps_failing_ends_in_the_dead_letter_queue_every_message_accounted(fcapp: Any) -> None:
    before = {i["requestId"] for i in fcapp.invocations(function="t-boom")}
    ids = _send(fcapp, "t-poison", [f"poison-{i}" for i in range(7)])
    dlq = fcapp.wait_for(lambda: len(fcapp.queue_messages("t-dlq")) >= 7 and fcapp.queue_messages("t-dlq"),
                         timeout=30)
    fcapp.wait_idle()
    dead = [json.loads(m["body"]) for m in dlq]
    assert len(dead) == 7 and sorted(d["data"]["messageId"] for d in dead) == sorted(ids)
    # IsBase64Decode: false -> the body as the SDK sent it (base64 of the text)
    assert sorted(base64.b64decode(d["data"]["messageBody"]).decode() for d in dead) == \
        [f"poison-{i}" for i in range(7)]
    assert fcapp.queue_messages("t-poison") == []  # nothing left behind, nothing lost
    runs = [i for i in fcapp.invocations(function="t-boom")
            if i["trigger"] == "eventbridge:poison" and i["requestId"] not in before]
    poller = fcapp.app.pollers["t-boom/poison"]
    assert sum(poller.batches) == 7 and max(poller.batches) <= 5
    assert len(runs) == 3 * len(poller.batches)  # each batch: 1 + MaximumRetryAttempts (2)
    assert all(r["errorType"] == "UnhandledInvocationError" for r in runs)

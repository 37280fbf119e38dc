"""MNS under concurrency, through the official SDK over HTTP: 16 sender threads x 50 messages while
receivers long-poll, receive in batches and delete -- nothing lost, nothing delivered twice."""
from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from mns.mns_exception import MNSServerException
from mns.queue import Message

SENDERS, PER_SENDER, RECEIVERS = 16, 50, 4


def test_concurrent_senders_and_receivers_lose_and_duplicate_nothing(mns_queue: Any, localcloud: Any) -> None:
    name = mns_queue.queue_name
    start = threading.Barrier(SENDERS + RECEIVERS)
    senders_done = threading.Event()
    lock = threading.Lock()
    sent: list[str] = []  # message ids the server acknowledged
    received: list[tuple[str, bytes]] = []  # (message id, body) of every delivery
    errors: list[BaseException] = []

    def sender(n: int) -> None:
        try:
            queue = localcloud.mns_account().get_queue(name)  # one connection per thread
            start.wait()
            for i in range(PER_SENDER):
                message_id = queue.send_message(Message(f"s{n}-m{i}")).message_id
                with lock:
                    sent.append(message_id)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def receiver() -> None:
        try:
            queue = localcloud.mns_account().get_queue(name)
            start.wait()
            while True:
                try:
                    batch = queue.batch_receive_message(16, 1)
                except MNSServerException as e:
                    if e.type != "MessageNotExist":
                        raise
                    if senders_done.is_set() and localcloud.server.mns.queue_info(name)["counts"] == \
                            {"visible": 0, "inflight": 0, "delayed": 0}:
                        return
                    continue
                with lock:
                    received.extend((m.message_id, m.message_body) for m in batch)
                queue.batch_delete_message([m.receipt_handle for m in batch])
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    threads += [threading.Thread(target=receiver) for _ in range(RECEIVERS)]
    for t in threads:
        t.start()
    for t in threads[:SENDERS]:
        t.join(timeout=120)
    senders_done.set()
    for t in threads[SENDERS:]:
        t.join(timeout=60)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    assert len(sent) == len(set(sent)) == SENDERS * PER_SENDER
    counts = Counter(message_id for message_id, _ in received)
    assert [mid for mid, n in counts.items() if n > 1] == []  # nothing twice
    assert set(counts) == set(sent)  # nothing lost, nothing invented
    bodies = sorted(body for _, body in received)
    assert bodies == sorted(f"s{n}-m{i}".encode() for n in range(SENDERS) for i in range(PER_SENDER))
    assert localcloud.queue(name)["messages"] == []
    assert len(localcloud.calls("SendMessage")) == SENDERS * PER_SENDER

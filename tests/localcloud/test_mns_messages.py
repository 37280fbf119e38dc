"""MNS message actions through the official ``aliyun-mns-sdk`` over HTTP: send, batch send, receive (long
poll), batch receive, peek, batch peek, delete, batch delete, change visibility; visibility timeout, delay,
priority, retention on the emulator's clock (advanced through the control API, never slept through)."""
from __future__ import annotations

import base64
import hashlib
import threading
from typing import Any

import pytest
from mns.mns_exception import MNSServerException
from mns.queue import Message, QueueMeta


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest().upper()


def server_error(fn: Any, *args: Any) -> MNSServerException:
    with pytest.raises(MNSServerException) as info:
        fn(*args)
    return info.value


def test_send_receive_delete_round_trip(mns_queue: Any, localcloud: Any) -> None:
    sent = mns_queue.send_message(Message('{"id": "c-1", "text": "<&> é"}'))
    # The SDK base64-encodes the body; MNS keeps (and hashes) the text as sent.
    wire_body = base64.b64encode('{"id": "c-1", "text": "<&> é"}'.encode()).decode()
    assert sent.message_body_md5 == md5_upper(wire_body)
    got = mns_queue.receive_message()
    assert (got.message_id, got.message_body) == (sent.message_id, '{"id": "c-1", "text": "<&> é"}'.encode())
    assert (got.dequeue_count, got.priority) == (1, 8)
    assert got.first_dequeue_time >= got.enqueue_time
    assert got.next_visible_time - got.first_dequeue_time == 30_000  # the default VisibilityTimeout
    [view] = localcloud.queue(mns_queue.queue_name)["messages"]
    assert (view["state"], view["dequeueCount"], view["body"]) == ("inflight", 1, wire_body)
    mns_queue.delete_message(got.receipt_handle)
    assert localcloud.queue(mns_queue.queue_name)["messages"] == []
    assert server_error(mns_queue.receive_message, 0).type == "MessageNotExist"


def test_body_without_base64_kept_exactly(mns_queue: Any) -> None:
    mns_queue.set_encoding(False)
    # (No CR: the SDK writes it raw into the XML, where any parser reads CR LF as LF.)
    text = "line1\nline2 \t <tag attr=\"x\"> & ]]> 中文"
    sent = mns_queue.send_message(Message(text))
    assert sent.message_body_md5 == md5_upper(text)
    assert mns_queue.peek_message().message_body == text
    assert mns_queue.receive_message().message_body == text


def test_expired_visibility_timeout_redelivers_with_dequeue_count_plus_one(mns_account: Any, localcloud: Any) -> None:
    queue = mns_account.get_queue("vis")
    queue.create(QueueMeta(vis_timeout=30))
    sent = queue.send_message(Message("m"))
    first = queue.receive_message()
    assert server_error(queue.receive_message, 0).type == "MessageNotExist"  # in flight: invisible
    localcloud.advance_clock(29)
    assert server_error(queue.receive_message, 0).type == "MessageNotExist"  # still in flight
    localcloud.advance_clock(1)
    second = queue.receive_message()
    assert second.message_id == sent.message_id
    assert (first.dequeue_count, second.dequeue_count) == (1, 2)
    assert second.first_dequeue_time == first.first_dequeue_time
    assert second.receipt_handle != first.receipt_handle
    # The first receipt handle expired with its visibility timeout.
    err = server_error(queue.delete_message, first.receipt_handle)
    assert (err.type, err.message) == ("MessageNotExist", "Message not exist.")
    queue.delete_message(second.receipt_handle)


def test_change_message_visibility(mns_queue: Any, localcloud: Any) -> None:
    mns_queue.send_message(Message("m"))
    got = mns_queue.receive_message()
    changed = mns_queue.change_message_visibility(got.receipt_handle, 100)
    assert int(changed.next_visible_time) >= got.next_visible_time + 70_000 - 1000
    assert changed.receipt_handle != got.receipt_handle
    assert server_error(mns_queue.delete_message, got.receipt_handle).type == "MessageNotExist"  # replaced
    localcloud.advance_clock(99)
    assert server_error(mns_queue.receive_message, 0).type == "MessageNotExist"
    localcloud.advance_clock(1)
    assert mns_queue.receive_message().dequeue_count == 2


def test_change_visibility_zero_releases_the_message(mns_queue: Any) -> None:
    # 0 makes a received message visible at once (the SDK allows 0-43200).
    mns_queue.send_message(Message("m"))
    got = mns_queue.receive_message()
    mns_queue.change_message_visibility(got.receipt_handle, 0)
    assert mns_queue.receive_message().dequeue_count == 2


def test_delay_seconds_per_message_and_per_queue(mns_account: Any, localcloud: Any) -> None:
    queue = mns_account.get_queue("delayed")
    queue.create(QueueMeta(delay_sec=10))
    queue.send_message(Message("queue-delay"))
    queue.send_message(Message("own-delay", delay_seconds=60))
    queue.send_message(Message("no-delay", delay_seconds=0))
    assert [m["state"] for m in localcloud.queue("delayed")["messages"]] == ["delayed", "delayed", "visible"]
    attrs = queue.get_attributes()
    assert (attrs.active_messages, attrs.inactive_messages, attrs.delay_messages) == (1, 0, 2)
    assert queue.peek_message().message_body == b"no-delay"
    got = queue.receive_message()
    assert got.message_body == b"no-delay"
    queue.delete_message(got.receipt_handle)
    localcloud.advance_clock(10)
    got = queue.receive_message()
    assert got.message_body == b"queue-delay"
    attrs = queue.get_attributes()
    assert (attrs.active_messages, attrs.inactive_messages, attrs.delay_messages) == (0, 1, 1)
    queue.delete_message(got.receipt_handle)
    assert server_error(queue.receive_message, 0).type == "MessageNotExist"
    localcloud.advance_clock(50)
    assert queue.receive_message().message_body == b"own-delay"


def test_priority_orders_receives_then_enqueue_order(mns_queue: Any) -> None:
    for body, priority in [("p8-a", 8), ("p16", 16), ("p1", 1), ("p8-b", 8)]:
        mns_queue.send_message(Message(body, priority=priority))
    peeked = [m.message_body for m in mns_queue.batch_peek_message(16)]
    assert peeked == [b"p1", b"p8-a", b"p8-b", b"p16"]
    received = [mns_queue.receive_message() for _ in range(4)]
    assert [(m.message_body, m.priority) for m in received] == [(b"p1", 1), (b"p8-a", 8), (b"p8-b", 8), (b"p16", 16)]


def test_retention_drops_old_messages(mns_account: Any, localcloud: Any) -> None:
    queue = mns_account.get_queue("short-lived")
    queue.create(QueueMeta(msg_ttl=60))
    queue.send_message(Message("old"))
    localcloud.advance_clock(30)
    queue.send_message(Message("young"))
    localcloud.advance_clock(30)  # "old" is 60 s old: past MessageRetentionPeriod
    assert [m["body"] for m in localcloud.queue("short-lived")["messages"]] == [base64.b64encode(b"young").decode()]
    assert queue.receive_message().message_body == b"young"


def test_peek_changes_nothing(mns_queue: Any, localcloud: Any) -> None:
    mns_queue.send_message(Message("a"))
    mns_queue.send_message(Message("b"))
    one = mns_queue.peek_message()
    assert (one.message_body, one.dequeue_count) == (b"a", 0)
    assert [m.message_body for m in mns_queue.batch_peek_message(5)] == [b"a", b"b"]
    assert [m["state"] for m in localcloud.queue(mns_queue.queue_name)["messages"]] == ["visible", "visible"]
    mns_queue.receive_message()
    assert [m.message_body for m in mns_queue.batch_peek_message(5)] == [b"b"]  # in flight: not peeked


def test_batch_send_receive_delete(mns_queue: Any, localcloud: Any) -> None:
    sent = mns_queue.batch_send_message([Message(f"m{i}") for i in range(16)])
    assert len({m.message_id for m in sent}) == 16
    assert [m.message_body_md5 for m in sent] == [md5_upper(base64.b64encode(f"m{i}".encode()).decode())
                                                  for i in range(16)]
    got = mns_queue.batch_receive_message(10)
    assert [m.message_body for m in got] == [f"m{i}".encode() for i in range(10)]
    rest = mns_queue.batch_receive_message(16, 0)
    assert len(rest) == 6
    mns_queue.batch_delete_message([m.receipt_handle for m in got + rest])
    assert localcloud.queue(mns_queue.queue_name)["messages"] == []
    assert server_error(mns_queue.batch_receive_message, 16, 0).type == "MessageNotExist"
    assert server_error(mns_queue.batch_peek_message, 16).type == "MessageNotExist"


def test_batch_send_limits(mns_queue: Any, localcloud: Any) -> None:
    err = server_error(mns_queue.batch_send_message, [Message(f"m{i}") for i in range(17)])
    assert (err.type, err.message) == ("InvalidArgument", "The value of Messages should between 1 and 16 messages.")
    # 16 bodies of 4 KiB each (base64 of 3 KiB) = 64 KiB exactly: accepted; one byte more: refused whole.
    mns_queue.set_encoding(False)
    assert len(mns_queue.batch_send_message([Message("x" * 4096) for _ in range(16)])) == 16
    err = server_error(mns_queue.batch_send_message, [Message("x" * 4096) for _ in range(15)] + [Message("x" * 4097)])
    assert (err.type, err.message) == ("InvalidArgument", "The value of Messages (all MessageBody together) "
                                                          "should between 1 and 65536 bytes.")
    assert localcloud.queue(mns_queue.queue_name)["counts"]["visible"] == 16


def test_batch_send_partial_failure_reports_each_entry(mns_account: Any, localcloud: Any) -> None:
    queue = mns_account.get_queue("small")
    queue.create(QueueMeta(max_msg_size=1024))
    queue.set_encoding(False)
    err = server_error(queue.batch_send_message, [Message("ok-1"), Message("x" * 1025), Message("ok-2")])
    assert err.type == "InvalidArgument"
    entries = err.sub_errors
    assert [sorted(e) for e in entries] == [["MessageBodyMD5", "MessageId"], ["ErrorCode", "ErrorMessage"],
                                            ["MessageBodyMD5", "MessageId"]]
    assert entries[1]["ErrorMessage"] == "The value of MessageBody should between 1 and 1024 bytes."
    assert [m["body"] for m in localcloud.queue("small")["messages"]] == ["ok-1", "ok-2"]


def test_batch_delete_partial_failure(mns_queue: Any, localcloud: Any) -> None:
    mns_queue.batch_send_message([Message("a"), Message("b")])
    got = mns_queue.batch_receive_message(2)
    mns_queue.delete_message(got[0].receipt_handle)
    err = server_error(mns_queue.batch_delete_message, [got[0].receipt_handle, got[1].receipt_handle])
    assert err.type == "MessageNotExist"
    assert err.sub_errors == [{"ErrorCode": "MessageNotExist", "ErrorMessage": "Message not exist.",
                               "ReceiptHandle": got[0].receipt_handle}]
    assert localcloud.queue(mns_queue.queue_name)["messages"] == []  # the good handle was deleted


def test_oversized_body_is_invalid_argument(mns_queue: Any, localcloud: Any) -> None:
    mns_queue.set_encoding(False)
    mns_queue.send_message(Message("x" * 65536))  # MaximumMessageSize, exactly
    err = server_error(mns_queue.send_message, Message("x" * 65537))
    assert (err.type, err.message) == ("InvalidArgument", "The value of MessageBody should between 1 and 65536 bytes.")
    assert localcloud.calls("SendMessage")[-1]["status"] == 400
    assert localcloud.queue(mns_queue.queue_name)["counts"]["visible"] == 1


def test_message_argument_ranges(mns_queue: Any) -> None:
    err = server_error(mns_queue.send_message, Message("m", priority=17))
    assert (err.type, err.message) == ("InvalidArgument", "The value of Priority should between 1 and 16 (1 highest).")
    assert server_error(mns_queue.send_message, Message("m", delay_seconds=604801)).type == "InvalidArgument"
    assert server_error(mns_queue.batch_receive_message, 17).type == "InvalidArgument"
    assert server_error(mns_queue.receive_message, 31).type == "InvalidArgument"


def test_receipt_handle_errors(mns_queue: Any) -> None:
    err = server_error(mns_queue.delete_message, "not-a-handle")
    assert (err.type, err.message) == ("ReceiptHandleError", "The receipt handle you provide is not valid.")
    assert server_error(mns_queue.change_message_visibility, "1-Zm9v", 10).type == "ReceiptHandleError"


def test_long_poll_returns_as_soon_as_a_message_arrives(mns_queue: Any, mns_account: Any, localcloud: Any) -> None:
    results: list[Any] = []
    receiver_queue = localcloud.mns_account().get_queue(mns_queue.queue_name)  # its own connection

    def receive() -> None:
        results.append(receiver_queue.receive_message(30))

    thread = threading.Thread(target=receive)
    thread.start()
    # The receiver is provably inside its long poll (the queue was empty) before anything is sent.
    assert localcloud.server.mns.wait_for_receivers(mns_queue.queue_name, 1, timeout=10)
    assert localcloud.queue(mns_queue.queue_name)["waitingReceivers"] == 1
    sent = mns_queue.send_message(Message("wake up"))
    thread.join(timeout=15)  # half the 30 s poll: only an early return fits
    assert not thread.is_alive()
    assert [r.message_id for r in results] == [sent.message_id]
    assert localcloud.queue(mns_queue.queue_name)["waitingReceivers"] == 0


def test_long_poll_wakes_when_a_delay_ends_on_the_clock(mns_queue: Any, mns_account: Any, localcloud: Any) -> None:
    mns_queue.send_message(Message("later", delay_seconds=600))
    results: list[Any] = []
    receiver_queue = localcloud.mns_account().get_queue(mns_queue.queue_name)
    thread = threading.Thread(target=lambda: results.append(receiver_queue.batch_receive_message(16, 30)))
    thread.start()
    assert localcloud.server.mns.wait_for_receivers(mns_queue.queue_name, 1, timeout=10)
    localcloud.advance_clock(600)
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert [m.message_body for m in results[0]] == [b"later"]


def test_queue_default_polling_wait_applies(mns_account: Any, localcloud: Any) -> None:
    queue = mns_account.get_queue("polling")
    queue.create(QueueMeta(polling_wait_sec=30))
    results: list[Any] = []
    receiver = localcloud.mns_account().get_queue("polling")
    thread = threading.Thread(target=lambda: results.append(receiver.receive_message()))  # no waitseconds
    thread.start()
    assert localcloud.server.mns.wait_for_receivers("polling", 1, timeout=10)
    queue.send_message(Message("m"))
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert results[0].message_body == b"m"

"""MNS queue actions through the official ``aliyun-mns-sdk`` (create, get/set attributes, list, delete),
the control API's queue view and clock, and the state dump/load/reset under the key ``mns``."""
from __future__ import annotations

from typing import Any

import pytest
from mns.mns_exception import MNSServerException
from mns.queue import Message, QueueMeta

from localcloud.control_client import ControlError


def server_error(fn: Any, *args: Any) -> MNSServerException:
    with pytest.raises(MNSServerException) as info:
        fn(*args)
    return info.value


def test_create_get_set_delete(mns_account: Any, localcloud: Any) -> None:
    queue = mns_account.get_queue("orders")
    url = queue.create(QueueMeta(vis_timeout=45, max_msg_size=2048, msg_ttl=3600, delay_sec=5, polling_wait_sec=10))
    assert url == f"{localcloud.endpoint}/queues/orders"
    meta = queue.get_attributes()
    assert (meta.queue_name, meta.visibility_timeout, meta.maximum_message_size, meta.message_retention_period,
            meta.delay_seconds, meta.polling_wait_seconds, meta.logging_enabled) == \
        ("orders", 45, 2048, 3600, 5, 10, False)
    assert meta.create_time == meta.last_modify_time > 1_600_000_000  # seconds, not ms
    queue.set_attributes(QueueMeta(vis_timeout=90))
    meta = queue.get_attributes()
    assert (meta.visibility_timeout, meta.maximum_message_size) == (90, 2048)  # only the given attribute changed
    assert [c["status"] for c in localcloud.calls()] == [201, 200, 204, 200]
    queue.delete()
    assert server_error(queue.get_attributes).type == "QueueNotExist"
    queue.delete()  # deleting a missing queue succeeds, as in MNS


def test_create_again_same_attributes_is_204_different_is_409(mns_account: Any, localcloud: Any) -> None:
    queue = mns_account.get_queue("again")
    queue.create(QueueMeta(vis_timeout=60))
    assert queue.create(QueueMeta(vis_timeout=60)) == f"{localcloud.endpoint}/queues/again"
    err = server_error(queue.create, QueueMeta(vis_timeout=61))
    assert (err.type, err.message) == ("QueueAlreadyExist", "The queue you want to create is already exist.")
    assert [c["status"] for c in localcloud.calls("CreateQueue")] == [201, 204, 409]


@pytest.mark.parametrize("meta, element", [
    (QueueMeta(vis_timeout=43201), "VisibilityTimeout"),
    (QueueMeta(max_msg_size=1023), "MaximumMessageSize"),
    (QueueMeta(msg_ttl=59), "MessageRetentionPeriod"),
    (QueueMeta(delay_sec=604801), "DelaySeconds"),
    (QueueMeta(polling_wait_sec=31), "PollingWaitSeconds"),
])
def test_attribute_ranges(mns_account: Any, localcloud: Any, meta: Any, element: str) -> None:
    err = server_error(mns_account.get_queue("ranges").create, meta)
    assert err.type == "InvalidArgument"
    assert err.message.startswith(f"The value of {element} should between ")
    assert localcloud.queues() == []


def test_queue_names(mns_account: Any) -> None:
    err = server_error(mns_account.get_queue("1starts-with-digit").create, QueueMeta())
    assert err.type == "InvalidQueueName"
    assert server_error(mns_account.get_queue("has_underscore").create, QueueMeta()).type == "InvalidQueueName"
    assert server_error(mns_account.get_queue("a" * 257).create, QueueMeta()).type == "QueueNameLengthError"
    mns_account.get_queue("a" * 256).create(QueueMeta())


def test_unknown_queue_is_queue_not_exist_everywhere(mns_account: Any) -> None:
    queue = mns_account.get_queue("missing")
    for call, args in [(queue.send_message, (Message("m"),)), (queue.receive_message, (0,)),
                       (queue.peek_message, ()), (queue.batch_receive_message, (4, 0)),
                       (queue.set_attributes, (QueueMeta(vis_timeout=5),))]:
        err = server_error(call, *args)
        assert (err.type, err.message) == ("QueueNotExist", "The queue name you provided is not exist.")


def test_list_queue_prefix_and_paging(mns_account: Any, localcloud: Any) -> None:
    for name in ["app-b", "app-a", "app-c", "other"]:
        mns_account.get_queue(name).create(QueueMeta())
    urls, marker = mns_account.list_queue("app-", 2)
    assert urls == [f"{localcloud.endpoint}/queues/app-a", f"{localcloud.endpoint}/queues/app-b"]
    urls, marker = mns_account.list_queue("app-", 2, marker)
    assert (urls, marker) == ([f"{localcloud.endpoint}/queues/app-c"], "")
    assert len(mns_account.list_queue()[0]) == 4


def test_control_view_counts_and_create(localcloud: Any, mns_account: Any) -> None:
    view = localcloud.create_queue("made-by-control", visibility_timeout=5)
    assert view["attributes"]["visibility_timeout"] == 5
    queue = mns_account.get_queue("made-by-control")
    queue.send_message(Message("a"))
    queue.send_message(Message("b", delay_seconds=30))
    queue.receive_message()
    view = localcloud.queue("made-by-control")
    assert view["counts"] == {"visible": 0, "inflight": 1, "delayed": 1}
    assert [(m["state"], m["dequeueCount"]) for m in view["messages"]] == [("inflight", 1), ("delayed", 0)]
    assert localcloud.advance_clock(5) == 5000
    assert localcloud.queue("made-by-control")["counts"] == {"visible": 1, "inflight": 0, "delayed": 1}
    with pytest.raises(ControlError):
        localcloud.advance_clock(-1)
    with pytest.raises(ControlError):
        localcloud.create_queue("bad_name")
    localcloud.delete_queue("made-by-control")
    assert localcloud.queues() == []


def test_state_round_trip_and_reset(localcloud: Any, mns_account: Any) -> None:
    queue = mns_account.get_queue("kept")
    queue.create(QueueMeta(vis_timeout=40))
    queue.set_encoding(False)
    queue.send_message(Message("one"))
    queue.send_message(Message("two", priority=1))
    dumped = localcloud.state()["mns"]
    assert dumped["queues"]["kept"]["attributes"]["visibility_timeout"] == 40
    assert [m["body"] for m in dumped["queues"]["kept"]["messages"]] == ["one", "two"]
    localcloud.reset()
    assert localcloud.queues() == [] and localcloud.state()["mns"]["queues"] == {}
    localcloud.load_state({"mns": dumped})
    assert queue.receive_message().message_body == "two"  # priority kept
    assert localcloud.state()["mns"]["queues"]["kept"]["messages"][1]["dequeueCount"] == 1
    # Hand-written state: only a body is required per message.
    localcloud.load_state({"mns": {"queues": {"seeded": {"messages": [{"body": "hello"}]}}}})
    seeded = mns_account.get_queue("seeded")
    seeded.set_encoding(False)
    assert seeded.peek_message().message_body == "hello"
    with pytest.raises(ControlError):
        localcloud.load_state({"mns": {"queues": {"bad_name": {}}}})

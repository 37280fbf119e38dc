"""``sgrule.clients.mns.ChangeQueue`` against localcloud's MNS over HTTP: batching by the MNS limits, the
SDK's base64 bodies, transient failures retried under the deadline, final ones reported with what went."""
from __future__ import annotations

import base64
import json
import math
import time
from typing import Any

import pytest
from mns.queue import QueueMeta

from sgrule.clients.mns import ChangeQueue, EnqueueError, batches, encode, wire_size
from sgrule.contract.envelope import unwrap
from sgrule.runtime.config import CommonSettings

QUEUE = "sgrule-changes"


@pytest.fixture
def settings(localcloud: Any, monkeypatch: pytest.MonkeyPatch) -> CommonSettings:
    for k, v in {"ALIBABA_CLOUD_ACCESS_KEY_ID": localcloud.access_key_id,
                 "ALIBABA_CLOUD_ACCESS_KEY_SECRET": localcloud.access_key_secret,
                 "SGRULE_MNS_ENDPOINT": localcloud.endpoint, "SGRULE_CHANGE_QUEUE": QUEUE,
                 "SGRULE_RETRY_BASE_MS": "5", "SGRULE_RETRY_CAP_MS": "20"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("ALIBABA_CLOUD_SECURITY_TOKEN", raising=False)
    localcloud.create_queue(QUEUE)
    return CommonSettings()


def change(n: int, description: str = "") -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"T-{n}", "source": "tests/queue", "type": "sgrule.egress.modify",
            "time": "2026-11-27T09:15:00Z",
            "data": {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-1", "SecurityGroupRuleId": f"sgr-{n}",
                     "Description": description or f"rule {n}"}}


def queued_bodies(localcloud: Any) -> list[str]:
    return [m["body"] for m in localcloud.queue(QUEUE)["messages"]]


def test_sends_in_batches_of_16_base64_json_in_order(settings: CommonSettings, localcloud: Any) -> None:
    events = [change(n, "désc 中文") for n in range(40)]
    ids = ChangeQueue(settings).send(events)
    assert len(ids) == len(set(ids)) == 40
    assert [c["action"] for c in localcloud.calls()] == ["BatchSendMessage"] * 3  # ceil(40 / 16)
    messages = localcloud.queue(QUEUE)["messages"]
    assert [m["messageId"] for m in messages] == ids
    # On the queue: base64 of the compact JSON text, as the SDK sends it by default.
    assert [json.loads(base64.b64decode(m["body"])) for m in messages] == events
    # What the trigger hands the apply function (base64 kept: IsBase64Decode off) unwraps to the events.
    payload = [{"id": m["messageId"], "data": {"messageId": m["messageId"], "messageBody": m["body"]}}
               for m in messages]
    assert [d.raw for d in unwrap(json.dumps(payload))] == events


def test_batches_respect_64_kb_of_encoded_bodies(settings: CommonSettings, localcloud: Any) -> None:
    events = [change(n, "x" * 10_000) for n in range(12)]
    size = wire_size(encode(events[0]))
    assert 13_000 < size < 16_384  # base64 of ~10 KB: 4 fit in 64 KB, 5 do not
    ChangeQueue(settings).send(events)
    per_batch = (64 * 1024) // size
    assert per_batch == 4
    assert len(localcloud.calls("BatchSendMessage")) == math.ceil(12 / per_batch)
    assert len(queued_bodies(localcloud)) == 12  # every batch passed the server's own 64 KB check


def test_batches_helper_limits() -> None:
    assert [len(b) for b in batches(["a"] * 33)] == [16, 16, 1]
    big = "y" * 30_000  # 40,000 bytes encoded: one per batch
    assert batches([big, big, "a"]) == [[0], [1, 2]]


def test_transient_failures_are_retried(settings: CommonSettings, localcloud: Any) -> None:
    localcloud.faults.inject("BatchSendMessage", error={"status": 503, "code": "ServiceUnavailable"}, times=2)
    ids = ChangeQueue(settings).send([change(1), change(2)])
    assert len(ids) == 2
    assert [c.get("fault") for c in localcloud.calls("BatchSendMessage")] == ["error", "error", None]
    assert len(queued_bodies(localcloud)) == 2  # nothing twice: the faulted calls never reached the queue


def test_network_errors_are_retried(settings: CommonSettings, localcloud: Any) -> None:
    localcloud.faults.inject("BatchSendMessage", drop=True, times=3)  # the SDK re-sends once itself
    assert len(ChangeQueue(settings).send([change(1)])) == 1
    assert [c.get("fault") for c in localcloud.calls("BatchSendMessage")] == ["drop", "drop", "drop", None]


def test_throttling_is_transient(settings: CommonSettings, localcloud: Any) -> None:
    localcloud.faults.inject("BatchSendMessage", error={"status": 403, "code": "QpsLimitExceeded"}, times=1)
    assert len(ChangeQueue(settings).send([change(1)])) == 1


def test_kept_failing_until_the_deadline(settings: CommonSettings, localcloud: Any) -> None:
    localcloud.faults.inject("BatchSendMessage", error={"status": 500, "code": "InternalError"})
    start = time.monotonic()
    with pytest.raises(EnqueueError) as info:
        ChangeQueue(settings).send([change(1)], deadline=time.monotonic() + 0.5)
    assert time.monotonic() - start < 5  # bounded by the 0.5 s deadline, not by 8 attempts' 10 s timeouts
    assert (info.value.code, info.value.transient, info.value.sent) == ("InternalError", True, [])
    assert 1 <= len(localcloud.calls("BatchSendMessage")) <= 8  # SGRULE_MAX_ATTEMPTS


def test_no_attempt_past_the_deadline(settings: CommonSettings, localcloud: Any) -> None:
    with pytest.raises(EnqueueError) as info:
        ChangeQueue(settings).send([change(1)], deadline=time.monotonic() - 1)
    assert info.value.transient and localcloud.calls() == []


def test_final_error_is_not_retried(settings: CommonSettings, localcloud: Any) -> None:
    localcloud.delete_queue(QUEUE)
    with pytest.raises(EnqueueError) as info:
        ChangeQueue(settings).send([change(1)])
    assert (info.value.code, info.value.transient, info.value.sent) == ("QueueNotExist", False, [])
    assert len(localcloud.calls("BatchSendMessage")) == 1


def test_error_carries_the_ids_that_went(settings: CommonSettings, localcloud: Any) -> None:
    # A queue whose messages may be 1 KB: the second batch holds one message too large for it.
    localcloud.delete_queue(QUEUE)
    localcloud.mns_account().get_queue(QUEUE).create(QueueMeta(max_msg_size=1024))
    events = [change(n) for n in range(16)] + [change(16), change(17, "z" * 2000), change(18)]
    with pytest.raises(EnqueueError) as info:
        ChangeQueue(settings).send(events)
    err = info.value
    assert (err.code, err.transient) == ("InvalidArgument", False)
    queued = localcloud.queue(QUEUE)["messages"]
    assert err.sent == [m["messageId"] for m in queued]
    assert [json.loads(base64.b64decode(m["body"]))["id"] for m in queued] == \
        [f"T-{n}" for n in range(17)] + ["T-18"]  # the first batch, and both neighbours of the refused one


def test_refuses_before_sending_what_cannot_be_a_message(settings: CommonSettings, localcloud: Any) -> None:
    with pytest.raises(EnqueueError) as info:
        ChangeQueue(settings).send([change(1), change(2, "x" * 60_000)])
    assert "T-2" in str(info.value) and info.value.sent == []
    with pytest.raises(EnqueueError):
        ChangeQueue(settings).send([{"id": "nan", "data": float("nan")}])
    assert localcloud.calls() == []


def test_lone_surrogate_is_escaped_not_fatal(settings: CommonSettings, localcloud: Any) -> None:
    ChangeQueue(settings).send([change(1, "bad \ud800 text")])
    [body] = queued_bodies(localcloud)
    assert json.loads(base64.b64decode(body))["data"]["Description"] == "bad \ud800 text"


def test_wrong_secret_is_final(settings: CommonSettings, localcloud: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "wrong")
    with pytest.raises(EnqueueError) as info:
        ChangeQueue(CommonSettings()).send([change(1)])
    assert (info.value.code, info.value.transient) == ("SignatureDoesNotMatch", False)


def test_missing_endpoint_says_what_to_set(settings: CommonSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SGRULE_MNS_ENDPOINT")
    with pytest.raises(EnqueueError, match="SGRULE_MNS_ENDPOINT"):
        ChangeQueue(CommonSettings()).send([change(1)])


def test_credential_chain_when_no_key_is_configured(settings: CommonSettings, localcloud: Any) -> None:
    # No key in the settings: the SDK's default credential chain finds one (here in the environment). A fresh
    # process: alibabacloud_credentials reads the environment when first imported.
    import subprocess
    import sys

    code = ("from sgrule.clients.mns import ChangeQueue; from sgrule.runtime.config import CommonSettings; "
            "s = CommonSettings(); assert s.access_key_id; "
            "s = CommonSettings.model_construct(**{**s.model_dump(), 'access_key_id': None, "
            "'access_key_secret': None, 'security_token': None}); "
            "print(len(ChangeQueue(s).send([{'id': 'c-1'}])))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "1", out.stderr
    assert localcloud.calls("BatchSendMessage")[0]["accessKeyId"] == localcloud.access_key_id


def test_empty_list_sends_nothing(settings: CommonSettings, localcloud: Any) -> None:
    assert ChangeQueue(settings).send([]) == []
    assert localcloud.calls() == []


def test_sdk_is_imported_on_first_send_only() -> None:
    import subprocess
    import sys

    code = ("import sys; import sgrule.clients.mns as m; "
            "from sgrule.runtime.config import CommonSettings; m.ChangeQueue(CommonSettings()); "
            "print('mns' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"

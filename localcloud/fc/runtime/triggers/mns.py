"""``eventbridge`` triggers with an MNS source: the event stream that polls a queue and hands the function
batches of CloudEvents. ``TriggerConfig`` keys read (the FC 3.0 API's names)::

    triggerEnable, asyncInvocationType, eventRuleFilterPattern,
    eventSourceConfig.eventSourceType = MNS,
    eventSourceConfig.eventSourceParameters.sourceMNSParameters.{QueueName, IsBase64Decode},
    runOptions.batchWindow.{CountBasedWindow (1-10000), TimeBasedWindow (0-15 s)},
    runOptions.retryStrategy.{PushRetryStrategy, MaximumRetryAttempts, MaximumEventAgeInSeconds},
    runOptions.errorsTolerance (ALL | NONE), runOptions.deadLetterQueue.Arn

A batch is cut when it holds ``CountBasedWindow`` messages or ``TimeBasedWindow`` seconds after its first
message arrived (window 0: whatever is there right away). The function gets a JSON array, one CloudEvent
per message::

    {"id", "source": "acs:mns", "specversion": "1.0", "type": "mns:Queue:SendMessage",
     "datacontenttype": "application/json; charset=utf-8", "subject": "acs:mns:<region>:<account>:queues/<q>",
     "time": <enqueue time>, "aliyunaccountid", "aliyunpublishtime", "aliyuneventbusname": <queue>,
     "aliyunregionid", "data": {"requestId", "messageId", "messageBody"}}

``messageBody`` is base64-decoded when ``IsBase64Decode`` is true (a body that is not base64 of UTF-8 text
is passed as is), raw otherwise. A batch the function returns from is deleted; one it fails is retried
whole (``MaximumRetryAttempts``; ``BACKOFF_RETRY`` means 3) while its messages' visibility is extended, with
short local intervals (``retry_base_s`` doubling, capped at ``retry_cap_s``); after the last failure (or
``MaximumEventAgeInSeconds``) each event goes to the dead-letter queue as one message (its CloudEvent
JSON) and the originals are deleted (``errorsTolerance`` ``ALL``). With ``NONE`` and no dead-letter queue
the messages stay in the queue and come back after their visibility timeout.
``asyncInvocationType: true`` hands the batch to the async queue and deletes it at once.
"""
from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from localcloud.eventbridge.patterns import compile_pattern
from localcloud.fc.runtime.destinations import parse_arn
from localcloud.fc.runtime.triggers import TriggerSpec
from localcloud.mns.models import Message, MnsBackend
from localcloud.template import TemplateError


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decode_body(body: str) -> str:
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return body


def mns_event(message_id: str, body: str, queue: str, region: str, account_id: str, enqueue_ms: float,
              base64_decode: bool) -> dict[str, Any]:
    """One message as the event stream hands it to the function."""
    return {
        "id": str(uuid.uuid4()), "source": "acs:mns", "specversion": "1.0", "type": "mns:Queue:SendMessage",
        "datacontenttype": "application/json; charset=utf-8",
        "subject": f"acs:mns:{region}:{account_id}:queues/{queue}",
        "time": _iso(enqueue_ms), "aliyunaccountid": account_id, "aliyunpublishtime": _iso(time.time() * 1000),
        "aliyuneventbusname": queue, "aliyunregionid": region,
        "data": {"requestId": uuid.uuid4().hex.upper()[:24], "messageId": message_id,
                 "messageBody": decode_body(body) if base64_decode else body},
    }


class MnsQueueTrigger:
    def __init__(self, spec: TriggerSpec, mns: MnsBackend, invoke: Callable[..., Any],
                 submit_async: Callable[..., Any], region: str, account_id: str, retry_base_s: float = 0.5,
                 retry_cap_s: float = 10.0, log: Callable[[str], None] | None = None) -> None:
        self.spec = spec
        cfg = spec.config
        source = cfg.get("eventSourceConfig") or {}
        if str(source.get("eventSourceType", "MNS")).upper() != "MNS":
            raise TemplateError(f"{spec.logical_id}: eventbridge trigger source {source.get('eventSourceType')!r} "
                                "is not emulated (MNS)")
        params = ((source.get("eventSourceParameters") or {}).get("sourceMNSParameters") or {})
        self.queue = str(params.get("QueueName") or "")
        if not self.queue:
            raise TemplateError(f"{spec.logical_id}: sourceMNSParameters.QueueName is missing")
        self.base64_decode = params.get("IsBase64Decode", True) not in (False, "false", "False")
        run = cfg.get("runOptions") or {}
        window = run.get("batchWindow") or {}
        self.count = max(1, min(10000, int(window.get("CountBasedWindow", 1))))
        self.window_s = max(0.0, min(15.0, float(window.get("TimeBasedWindow", 0))))
        retry = run.get("retryStrategy") or {}
        strategy = str(retry.get("PushRetryStrategy", "BACKOFF_RETRY"))
        self.max_retries = int(retry.get("MaximumRetryAttempts", 3 if strategy == "BACKOFF_RETRY" else 176))
        self.max_age_s = float(retry.get("MaximumEventAgeInSeconds", 86400))
        self.tolerance = str(run.get("errorsTolerance", "ALL")).upper()
        dlq = (run.get("deadLetterQueue") or {}).get("Arn")
        self.dead_letter_queue = parse_arn(dlq).name if dlq else None
        self.async_invocation = cfg.get("asyncInvocationType") in (True, "true", "True")
        self.enabled = cfg.get("triggerEnable", True) not in (False, "false", "False")
        self.matcher = compile_pattern(cfg.get("eventRuleFilterPattern") or "{}")
        self.mns, self._invoke, self._submit = mns, invoke, submit_async
        self.region, self.account_id = region, account_id
        self.retry_base_s, self.retry_cap_s = retry_base_s, retry_cap_s
        self.log = log or (lambda _m: None)
        self.batches: list[int] = []  # sizes of the batches delivered (tests read them)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fc-mns:{spec.name}", daemon=True)
        self._busy = False

    def start(self) -> None:
        if self.enabled:
            self._thread.start()

    def idle(self) -> bool:
        return not self._busy

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    # --- polling ----------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._collect()
            except Exception as exc:  # noqa: BLE001  (the queue went away: say so, keep polling)
                self.log(f"trigger {self.spec.name}: cannot receive from {self.queue}: {exc}")
                self._stop.wait(1.0)
                continue
            if batch:
                self._busy = True
                try:
                    self._deliver(batch)
                finally:
                    self._busy = False

    def _collect(self) -> list[Message]:
        batch: list[Message] = []
        first: float | None = None
        while len(batch) < self.count and not self._stop.is_set():
            if first is None:
                wait = 0.5  # short long-polls, so a stop is seen quickly
            else:
                wait = self.window_s - (time.monotonic() - first)
                if wait <= 0 and self.window_s > 0:
                    break
                wait = max(0.0, min(wait, 0.5))
            got = self.mns.receive(self.queue, min(16, self.count - len(batch)), wait_seconds=wait)
            if got:
                batch.extend(got)
                if first is None:
                    first = time.monotonic()
            elif first is not None and (self.window_s == 0 or time.monotonic() - first >= self.window_s):
                break
        return batch

    # --- delivering ---------------------------------------------------------------------------------------
    def event(self, m: Message) -> dict[str, Any]:
        return mns_event(m.message_id, m.body, self.queue, self.region, self.account_id, m.enqueue_time_ms,
                         self.base64_decode)

    def _deliver(self, batch: list[Message]) -> None:
        events = [(m, self.event(m)) for m in batch]
        skipped = [m for m, e in events if not self.matcher(e)]
        events = [(m, e) for m, e in events if self.matcher(e)]
        self._delete(skipped)
        if not events:
            return
        self.batches.append(len(events))
        body = json.dumps([e for _, e in events], ensure_ascii=False).encode("utf-8")
        trigger = f"eventbridge:{self.spec.name}"
        if self.async_invocation:
            self._submit(self.spec.function, body, trigger=trigger)
            self._delete([m for m, _ in events])
            return
        started = time.monotonic()
        messages = [m for m, _ in events]
        attempt = 0
        while True:
            attempt += 1
            _, outcome = self._invoke(self.spec.function, body, trigger, None, attempt)
            if outcome.ok:
                self._delete(messages)
                return
            if self._stop.is_set():
                return  # not deleted: the messages come back after their visibility timeout
            delay = min(self.retry_cap_s, self.retry_base_s * 2 ** (attempt - 1))
            if attempt > self.max_retries or time.monotonic() + delay - started > self.max_age_s:
                break
            messages = self._extend(messages, delay)
            if self._stop.wait(delay):
                return
        self.log(f"trigger {self.spec.name}: batch of {len(events)} failed {attempt} time(s): "
                 + (f"to dead-letter queue {self.dead_letter_queue}" if self.dead_letter_queue else "no DLQ"))
        if self.dead_letter_queue:
            for _, e in events:
                self.mns.send(self.dead_letter_queue, json.dumps(e, ensure_ascii=False))
            self._delete(messages)
        elif self.tolerance == "ALL":
            self._delete(messages)  # dropped, as the stream moves on

    def _extend(self, messages: list[Message], delay: float) -> list[Message]:
        """Keep the batch invisible while it waits for its retry (receipt handles change)."""
        out = []
        for m in messages:
            try:
                out.append(self.mns.change_visibility(self.queue, m.receipt_handle or "", int(delay) + 30))
            except Exception:  # noqa: BLE001  (already redelivered elsewhere: keep the old handle)
                out.append(m)
        return out

    def _delete(self, messages: list[Message]) -> None:
        for m in messages:
            try:
                self.mns.delete(self.queue, m.receipt_handle or "")
            except Exception as exc:  # noqa: BLE001  (its visibility ran out: it will be delivered again)
                self.log(f"trigger {self.spec.name}: delete of {m.message_id} failed: {exc}")

"""Where finished async invocations go: the ``OnSuccess`` / ``OnFailure`` destinations of a function's
``ALIYUN::FC3::AsyncInvokeConfig``, and the dead-letter queues of triggers and rules.

Destination ARNs understood (the forms FC and EventBridge document):

- MNS queue: ``acs:mns:<region>:<account>:/queues/<queue>/messages`` (or ``.../queues/<queue>``);
- a function: ``acs:fc:<region>:<account>:functions/<name>`` (the FC 2.0 form ``.../services/<s>/functions/<name>``
  too), invoked asynchronously;
- EventBridge: ``acs:eventbridge:<region>:<account>:eventbus/<bus>[/...]``.

The payload is FC's (sent as JSON text to MNS and functions)::

    {"timestamp": <ms>, "requestContext": {"requestId", "functionArn", "condition", "approximateInvokeCount"},
     "requestPayload": <the event, as text>, "responseContext": {"statusCode": 200, "functionError"},
     "responsePayload": <what the function returned, or its error JSON, as text>}

``condition`` is the error type (``UnhandledInvocationError``) after the retries, ``EventAgeExceeded`` when
the event got older than the max event age, and ``Success`` on success (emulator-chosen words; FC documents
``condition`` as the invocation's error code). On a bus the payload is the ``data`` of a CloudEvent with
``source`` ``acs.fc``, ``type`` ``fc:AsyncInvoke:Success`` / ``fc:AsyncInvoke:Failure`` (emulator-chosen) and
``subject`` the function ARN.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

_MNS = re.compile(r"^acs:mns:[^:]*:[^:]*:/?queues/([^/]+)(?:/messages)?/?$")
_FC = re.compile(r"^acs:fc:[^:]*:[^:]*:(?:services/[^/]+/)?functions/([^/]+)/?$")
_BUS = re.compile(r"^acs:eventbridge:[^:]*:[^:]*:eventbus/([^/]+)(?:/.*)?$")


@dataclass(frozen=True)
class Target:
    kind: str  # "mns" | "fc" | "eventbridge"
    name: str


def parse_arn(arn: str) -> Target:
    for kind, pattern in (("mns", _MNS), ("fc", _FC), ("eventbridge", _BUS)):
        m = pattern.match(arn.strip())
        if m:
            return Target(kind, m.group(1))
    raise ValueError(f"destination {arn!r} is not an MNS queue, function or event bus ARN localcloud knows")


def destination_payload(*, request_id: str, function_arn: str, condition: str, attempts: int, event: bytes,
                        function_error: str, response: bytes) -> dict[str, Any]:
    return {
        "timestamp": int(time.time() * 1000),
        "requestContext": {"requestId": request_id, "functionArn": function_arn, "condition": condition,
                           "approximateInvokeCount": attempts},
        "requestPayload": event.decode("utf-8", errors="replace"),
        "responseContext": {"statusCode": 200, "functionError": function_error},
        "responsePayload": response.decode("utf-8", errors="replace"),
    }


class Destinations:
    """Sends payloads to destinations through the in-process backends (no wire: FC is the sender)."""

    def __init__(self, send_mns: Callable[[str, str], Any], put_event: Callable[[str, dict[str, Any]], Any],
                 invoke_async: Callable[[str, bytes], Any], log: Callable[[str], None] | None = None) -> None:
        self.send_mns = send_mns
        self.put_event = put_event
        self.invoke_async = invoke_async
        self.log = log or (lambda _m: None)

    def deliver(self, arn: str, payload: dict[str, Any], success: bool) -> bool:
        """True if delivered; a failure is logged (FC would count it as a destination delivery failure)."""
        try:
            target = parse_arn(arn)
            text = json.dumps(payload, ensure_ascii=False)
            if target.kind == "mns":
                self.send_mns(target.name, text)
            elif target.kind == "fc":
                self.invoke_async(target.name, text.encode("utf-8"))
            else:
                self.put_event(target.name, {
                    "id": str(uuid.uuid4()), "source": "acs.fc", "specversion": "1.0",
                    "type": "fc:AsyncInvoke:Success" if success else "fc:AsyncInvoke:Failure",
                    "subject": payload["requestContext"]["functionArn"],
                    "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "datacontenttype": "application/json", "data": payload})
            return True
        except Exception as exc:  # noqa: BLE001  (a destination failing never takes the dispatcher down)
            self.log(f"destination {arn}: delivery failed: {type(exc).__name__}: {exc}")
            return False

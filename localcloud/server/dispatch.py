"""One API call through the emulator, whatever its wire style: parse, faults before, the action, faults
after, the call log, the reply. Products never see faults; protocols never see the call log."""
from __future__ import annotations

import sys
import time
import traceback
from typing import TYPE_CHECKING, Any

from localcloud.base import ApiError, new_request_id
from localcloud.server.wire import Call, Cloud, Dropped, HttpRequest, HttpResponse, WireProtocol

if TYPE_CHECKING:
    from localcloud.faults import FaultRule


def serve(cloud: Cloud, protocol: WireProtocol, request: HttpRequest) -> HttpResponse:
    """Serve one request with ``protocol``; raises :class:`Dropped` to close the connection unanswered."""
    request_id = new_request_id()
    record: dict[str, Any] = {"action": "", "params": {}, "requestId": request_id, "protocol": protocol.name}

    def fail(err: ApiError, retry_after: int | None = None, fault: str | None = None) -> HttpResponse:
        record.update(status=err.status, code=err.code)
        if fault:
            record["fault"] = fault
        cloud.calls.record(record)
        return protocol.error(request, err, request_id, retry_after)

    try:
        call = protocol.parse(cloud, request, request_id, record)
    except ApiError as err:
        return fail(err)

    rule: FaultRule | None = cloud.faults.take(call.action, call.params)
    if rule is not None and rule.phase == "before":
        if rule.latency_ms is not None:
            time.sleep(rule.latency_ms / 1000)  # then serve normally
            record["fault"] = "latency"
        elif rule.hold is not None:
            cloud.faults.gates.park(rule.hold)  # until the test releases the gate, then serve normally
            record["fault"] = "hold"
        elif rule.drop:
            record.update(status=None, code=None, fault="drop")
            cloud.calls.record(record)
            raise Dropped
        elif rule.error is not None:
            e = rule.error
            return fail(ApiError(e.status, e.code, e.message), e.retry_after_ms, "error")

    try:
        result: Any = cloud.run(call)
        status, code = 200, None
    except ApiError as err:
        result, status, code = err, err.status, err.code
    except Exception:  # noqa: BLE001 - a bug in a service: answer as the cloud would, keep the traceback visible
        traceback.print_exc(file=sys.stderr)
        result = ApiError(500, "InternalError", "The request processing has failed due to some unknown error.")
        status, code = 500, "InternalError"

    if rule is not None and rule.phase == "after":
        record.update(serviceStatus=status, serviceCode=code)  # what really happened
        if rule.latency_ms is not None:
            # The effect is in place; the reply is late. Recorded now so the log shows the effect.
            reply = _reply(protocol, call, request, result, request_id)
            record.update(status=status, code=code, fault="latency")
            cloud.calls.record(record)
            time.sleep(rule.latency_ms / 1000)
            return reply
        if rule.hold is not None:
            # The effect is in place and logged; the reply waits for the test to release the gate.
            reply = _reply(protocol, call, request, result, request_id)
            record.update(status=status, code=code, fault="hold")
            cloud.calls.record(record)
            cloud.faults.gates.park(rule.hold)
            return reply
        if rule.drop:
            record.update(status=None, code=None, fault="drop")
            cloud.calls.record(record)
            raise Dropped
        assert rule.error is not None
        e = rule.error
        return fail(ApiError(e.status, e.code, e.message), e.retry_after_ms, "error")

    if isinstance(result, ApiError):
        return fail(result, result.retry_after_ms)
    reply = protocol.ok(call, result)
    record.update(status=reply.status, code=None)
    cloud.calls.record(record)
    return reply


def _reply(protocol: WireProtocol, call: Call, request: HttpRequest, result: Any, request_id: str) -> HttpResponse:
    if isinstance(result, ApiError):
        return protocol.error(request, result, request_id, None)
    return protocol.ok(call, result)

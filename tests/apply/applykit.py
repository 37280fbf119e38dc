"""Builders for apply tests: FC context, rule-change events, MNS-through-EventBridge envelopes, and an
invocation run in a thread while the test looks at the bus, the store and localcloud's held calls."""
from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from typing import Any

import fckit
from localcloud.control_client import ControlError

ROOT = fckit.ROOT
R = "cn-hangzhou"
_ids = itertools.count(1)


def load_handler(name: str = "apply_egress_rule") -> Any:
    return fckit.load_function(name)


def fc_context(timeout: float = 30, request_id: str | None = None) -> Any:
    return fckit.fc_context("apply_egress_rule", timeout, request_id=request_id)


def edit(sg: str, rule: str, **fields: Any) -> dict[str, Any]:
    """A by-ID change's data."""
    return {"RegionId": R, "SecurityGroupId": sg, "SecurityGroupRuleId": rule, **fields}


def rule_state(localcloud: Any, sg: str, rule: str) -> dict[str, Any]:
    """A rule as localcloud holds it (its state dump)."""
    for account in localcloud.state()["ecs"]["accounts"].values():
        for r in account[R]["security_groups"][sg]["rules"]:
            if r["SecurityGroupRuleId"] == rule:
                return r
    raise AssertionError(rule)


def change(data: dict[str, Any], *, id: str | None = None, time: str = "2026-11-27T10:00:00Z",
           source: str = "tests/apply", **attrs: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": id or f"chg-{next(_ids)}", "source": source, "type": "sgrule.egress.modify",
            "time": time, "data": data, **attrs}


def mns(events: list[dict[str, Any]], b64: bool = False) -> list[dict[str, Any]]:
    """Wrap rule-change events as the MNS-through-EventBridge trigger delivers them."""
    out = []
    for i, ev in enumerate(events):
        body = json.dumps(ev, ensure_ascii=False)  # UTF-8 text, as producers send it (not \u escapes)
        if b64:
            body = base64.b64encode(body.encode("utf-8")).decode()
        out.append({"id": f"eb-{i}", "source": "acs.mns", "specversion": "1.0", "type": "mns:Queue:SendMessage",
                    "subject": "acs:mns:cn-hangzhou:1234567890123456:queues/sgrule-changes",
                    "time": "2026-11-27T10:00:01Z", "aliyunaccountid": "1234567890123456",
                    "aliyunpublishtime": "2026-11-27T10:00:01.000Z", "aliyuneventbusname": "MNS-sgrule",
                    "aliyunregionid": "cn-hangzhou",
                    "data": {"requestId": f"mns-req-{i}", "messageId": f"mns-msg-{i}", "messageBody": body}})
    return out


class Invocation:
    """The handler run in a thread, so the test can look at the bus and the store while it works."""

    def __init__(self, invoke: Any, payload: Any, timeout: float = 20) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(invoke, payload, timeout), daemon=True)
        self.thread.start()

    def _run(self, invoke: Any, payload: Any, timeout: float) -> None:
        try:
            self.result = invoke(payload, timeout=timeout)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            self.error = exc

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def wait(self, localcloud: Any, gate: str | None = None, put_events: int = 0, timeout: float = 10) -> None:
        """Until a call parks on ``gate`` / ``put_events`` PutEvents calls are logged; fails at once, with the
        invocation's own error, if it ends first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if gate is not None:
                    localcloud.wait_held(gate, timeout=0.5)
                if put_events:
                    localcloud.wait_calls("PutEvents", count=put_events, timeout=0.5)
                return
            except ControlError:
                if not self.running:
                    raise AssertionError(f"the invocation ended first: {self.error!r}") from self.error
                if time.monotonic() > deadline:
                    raise

    def join(self, timeout: float = 15) -> Invocation:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the invocation did not return"
        return self

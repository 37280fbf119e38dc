"""EventBridge rules (``ALIYUN::EventBridge::Rule``): events accepted by PutEvents onto a bus are matched
against each enabled rule of that bus (:mod:`patterns`) and pushed to its targets.

ROS properties read: ``EventBusName``, ``RuleName``, ``Status`` (``ENABLE`` | ``DISABLE``), ``FilterPattern``
(object or JSON text), ``Targets``: ``Id``, ``Type``, ``Endpoint``, ``ParamList`` (``ResourceKey``, ``Form``,
``Value``, ``Template``), ``PushRetryStrategy``, ``DeadLetterQueue.Arn``. Target types:

- ``acs.fc.function``: the function from ``ParamList`` ``functionName`` or the endpoint
  (``acs:fc:<region>:<account>:functions/<name>``); ``InvocationType`` ``Sync`` (default) or ``Async``;
- ``acs.mns.queue``: the queue from ``ParamList`` ``queue`` or the endpoint (``...:queues/<queue>``);
  ``IsBase64Encode`` ``true`` base64-encodes the body.

``Body`` forms: ``ORIGINAL`` (the whole event, JSON; the default), ``JSONPATH`` (``Value`` a path such as
``$.data.changeId``; text stays text, anything else is JSON), ``CONSTANT`` (``Value``), ``TEMPLATE``
(``Value`` a map of name -> path, ``Template`` text with ``${name}``). Paths: ``$``, ``.key``, ``[index]``.

The event a target sees is the CloudEvent as EventBridge delivers it: lower-case attributes, ``data``
parsed when it is JSON, plus ``aliyunaccountid``, ``aliyunpublishtime``, ``aliyuneventbusname``,
``aliyunregionid``. Deliveries run on a few threads (PutEvents never waits for a target). A failed push is
retried (``BACKOFF_RETRY``: 3 retries; ``EXPONENTIAL_DECAY_RETRY``: 5 locally, not 176), with short local
intervals, then the event goes to the target's dead-letter queue if it has one.
"""
from __future__ import annotations

import base64
import json
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from localcloud import wirejson
from localcloud.eventbridge.patterns import compile_pattern
from localcloud.template import Template, TemplateError

_FC_ARN = re.compile(r"^acs:fc:[^:]*:[^:]*:(?:services/[^/]+/)?functions/([^/]+)/?$")
_MNS_ARN = re.compile(r"^acs:mns:[^:]*:[^:]*:/?queues/([^/]+)(?:/messages)?/?$")
_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
RETRIES = {"BACKOFF_RETRY": 3, "EXPONENTIAL_DECAY_RETRY": 5}


@dataclass
class TargetSpec:
    id: str
    type: str
    endpoint: str
    params: dict[str, dict[str, Any]]  # ResourceKey -> {Form, Value, Template}
    retries: int = 3
    dead_letter_queue: str | None = None

    def param(self, key: str) -> str | None:
        p = self.params.get(key)
        return None if p is None or p.get("Value") is None else str(p.get("Value"))

    def function(self) -> str:
        name = self.param("functionName")
        if name:
            return name
        m = _FC_ARN.match(self.endpoint or "")
        if not m:
            raise TemplateError(f"target {self.id}: no functionName in ParamList and endpoint {self.endpoint!r} "
                                "is not acs:fc:<region>:<account>:functions/<name>")
        return m.group(1)

    def queue(self) -> str:
        name = self.param("queue")
        if name:
            return name
        m = _MNS_ARN.match(self.endpoint or "")
        if not m:
            raise TemplateError(f"target {self.id}: no queue in ParamList and endpoint {self.endpoint!r} "
                                "is not acs:mns:<region>:<account>:queues/<queue>")
        return m.group(1)


@dataclass
class RuleSpec:
    name: str
    bus: str
    pattern: Any
    targets: list[TargetSpec]
    enabled: bool = True
    matcher: Callable[[dict[str, Any]], bool] = field(default=lambda e: True, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "bus": self.bus, "pattern": self.pattern, "enabled": self.enabled,
                "targets": [{"id": t.id, "type": t.type, "endpoint": t.endpoint} for t in self.targets]}


def rules_from(template: Template) -> list[RuleSpec]:
    out = []
    for res in template.of_type("ALIYUN::EventBridge::Rule"):
        p = res.properties
        try:
            matcher = compile_pattern(p.get("FilterPattern") or {})
        except ValueError as exc:
            raise TemplateError(f"{res.logical_id}.FilterPattern: {exc}") from None
        targets = []
        for i, t in enumerate(p.get("Targets") or []):
            kind = str(t.get("Type", ""))
            if kind not in ("acs.fc.function", "acs.mns.queue"):
                raise TemplateError(f"{res.logical_id}.Targets[{i}]: target type {kind!r} is not emulated "
                                    "(acs.fc.function, acs.mns.queue)")
            params = {str(x.get("ResourceKey")): x for x in (t.get("ParamList") or []) if isinstance(x, dict)}
            dlq = (t.get("DeadLetterQueue") or {}).get("Arn") if isinstance(t.get("DeadLetterQueue"), dict) else None
            spec = TargetSpec(str(t.get("Id", i)), kind, str(t.get("Endpoint", "")), params,
                              RETRIES.get(str(t.get("PushRetryStrategy", "BACKOFF_RETRY")), 3), dlq)
            spec.function() if kind == "acs.fc.function" else spec.queue()  # fail early on a bad target
            targets.append(spec)
        pattern = p.get("FilterPattern") or {}
        out.append(RuleSpec(res.name, str(p.get("EventBusName", "default")),
                            json.loads(pattern) if isinstance(pattern, str) else pattern, targets,
                            str(p.get("Status", "ENABLE")).upper() != "DISABLE", matcher))
    return out


# --- event shape and transforms ---------------------------------------------------------------------------

def delivered_event(entry: dict[str, Any], bus: str, region: str, account: str, published: str) -> dict[str, Any]:
    """The CloudEvent a target receives, from a PutEvents entry (SDK PascalCase or CloudEvents names)."""
    event: dict[str, Any] = {}
    for key, value in entry.items():
        event[key.lower()] = value
    data = event.get("data")
    if isinstance(data, str):
        try:
            event["data"] = wirejson.loads(data)
        except ValueError:
            pass
    event.setdefault("specversion", "1.0")
    event.update(aliyunaccountid=account, aliyunpublishtime=published, aliyuneventbusname=bus,
                 aliyunregionid=region)
    return event


def json_path(doc: Any, path: str) -> Any:
    path = (path or "$").strip()
    if not path.startswith("$"):
        raise ValueError(f"JSONPath {path!r} must start with $")
    rest = path[1:]
    pos = 0
    value = doc
    while pos < len(rest):
        m = _PATH_TOKEN.match(rest, pos)
        if not m:
            raise ValueError(f"JSONPath {path!r}: localcloud understands $, .key and [index]")
        key, index = m.groups()
        if key is not None:
            value = value.get(key) if isinstance(value, dict) else None
        else:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
        pos = m.end()
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def body_for(target: TargetSpec, event: dict[str, Any]) -> str:
    spec = target.params.get("Body") or {"Form": "ORIGINAL"}
    form = str(spec.get("Form", "ORIGINAL")).upper()
    if form == "ORIGINAL":
        return json.dumps(event, ensure_ascii=False)
    if form == "CONSTANT":
        return _text(spec.get("Value", ""))
    if form == "JSONPATH":
        return _text(json_path(event, str(spec.get("Value", "$"))))
    if form == "TEMPLATE":
        raw = spec.get("Value") or {}
        names = json.loads(raw) if isinstance(raw, str) else raw
        values = {k: json_path(event, v) for k, v in names.items()}
        template = spec.get("Template", "")
        template = template if isinstance(template, str) else json.dumps(template, ensure_ascii=False)
        return re.sub(r"\$\{([^}]+)\}", lambda m: _text(values.get(m.group(1), "")), template)
    raise ValueError(f"target {target.id}: Body form {form!r} is not ORIGINAL, JSONPATH, CONSTANT or TEMPLATE")


# --- routing ----------------------------------------------------------------------------------------------

@dataclass
class Delivery:
    rule: str
    target: str
    event_id: str
    ok: bool
    attempts: int
    error: str | None = None
    dead_lettered: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "target": self.target, "eventId": self.event_id, "ok": self.ok,
                "attempts": self.attempts, "error": self.error, "deadLettered": self.dead_lettered}


class RuleRouter:
    """Matches accepted events against the rules and pushes them to the targets on worker threads."""

    def __init__(self, rules: list[RuleSpec], *, invoke: Callable[[str, bytes, str], tuple[bool, str]],
                 invoke_async: Callable[[str, bytes, str], Any], send_mns: Callable[[str, str], Any],
                 region: str, account: str, workers: int = 2, retry_delay_s: float = 0.2,
                 log: Callable[[str], None] | None = None) -> None:
        self.rules = rules
        self._invoke = invoke  # (function, body, trigger) -> (ok, error text)
        self._invoke_async = invoke_async
        self._send_mns = send_mns
        self.region, self.account = region, account
        self.retry_delay_s = retry_delay_s
        self.log = log or (lambda _m: None)
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._busy = 0
        self._threads = [threading.Thread(target=self._work, daemon=True, name=f"eb-rules-{i}")
                         for i in range(max(1, workers))]
        for t in self._threads:
            t.start()

    def on_events(self, bus: str, entries: list[dict[str, Any]], published: str) -> None:
        for entry in entries:
            event = delivered_event(entry, bus, self.region, self.account, published)
            for rule in self.rules:
                if rule.enabled and rule.bus == bus and rule.matcher(event):
                    for target in rule.targets:
                        with self._lock:
                            self._busy += 1
                        self._queue.put((rule, target, event))

    def idle(self) -> bool:
        with self._lock:
            return self._busy == 0

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._deliver(*item)
            finally:
                with self._lock:
                    self._busy -= 1

    def _deliver(self, rule: RuleSpec, target: TargetSpec, event: dict[str, Any]) -> None:
        attempts, error = 0, None
        while attempts <= target.retries:
            attempts += 1
            try:
                error = self._push(rule, target, event)
            except Exception as exc:  # noqa: BLE001  (a bad transform or a refused send: retried, then DLQ)
                error = f"{type(exc).__name__}: {exc}"
            if error is None:
                break
            if attempts <= target.retries:
                time.sleep(self.retry_delay_s * attempts)
        record = Delivery(rule.name, target.id, str(event.get("id", "")), error is None, attempts, error)
        if error is not None:
            self.log(f"rule {rule.name} -> {target.id}: gave up after {attempts} attempt(s): {error}")
            if target.dead_letter_queue:
                m = _MNS_ARN.match(target.dead_letter_queue)
                if m:
                    try:
                        self._send_mns(m.group(1), json.dumps(event, ensure_ascii=False))
                        record.dead_lettered = True
                    except Exception as exc:  # noqa: BLE001 - a refusal is logged; the delivery stands
                        self.log(f"rule {rule.name}: dead-letter queue refused the event: {exc}")
        with self._lock:
            self.deliveries.append(record)

    def _push(self, rule: RuleSpec, target: TargetSpec, event: dict[str, Any]) -> str | None:
        body = body_for(target, event)
        trigger = f"rule:{rule.name}"
        if target.type == "acs.fc.function":
            if (target.param("InvocationType") or "Sync") == "Async":
                self._invoke_async(target.function(), body.encode("utf-8"), trigger)
                return None
            ok, error = self._invoke(target.function(), body.encode("utf-8"), trigger)
            return None if ok else error
        if (target.param("IsBase64Encode") or "").lower() == "true":
            body = base64.b64encode(body.encode("utf-8")).decode("ascii")
        self._send_mns(target.queue(), body)
        return None

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(10)

"""The whole application from a ROS template, on one machine: ``sgrule local start --template template.yml``.

:class:`LocalApp` reads the template (:mod:`localcloud.template`) and starts, on localcloud's one port, ECS,
EventBridge (the template's ``ALIYUN::EventBridge::EventBus`` buses and ``ALIYUN::EventBridge::Rule`` rules),
MNS (its ``ALIYUN::MNS::Queue`` queues) and Function Compute (every ``ALIYUN::FC3::Function`` with its
``ALIYUN::FC3::AsyncInvokeConfig``), then the ``ALIYUN::FC3::Trigger`` triggers: an HTTP URL per ``http``
trigger (its own port), ``timer`` schedules, and a poller per ``eventbridge`` trigger with an MNS source.

Each function's environment is the template's ``EnvironmentVariables``, then ``env`` (``--env K=V``, for every
function), then localcloud's own endpoint for every variable the template's ``Metadata: LocalRun:
EndpointVariables`` names (:class:`~localcloud.template.LocalRun`) and its access key as
``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``ALIBABA_CLOUD_ACCESS_KEY_SECRET``, so unmodified code talks to this
emulator.

Control routes added to ``/_emulator/`` (besides the cloud's own, e.g. ``GET queues``):
``GET|DELETE invocations[?function=&trigger=]``, ``POST triggers/<function>[?trigger=<name>]`` (fire a timer
now), ``GET rules`` (rules and deliveries), ``GET app`` (the start-up JSON), ``GET idle`` (nothing queued,
polled or running).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from localcloud import wirejson
from localcloud.eventbridge import EventBridgeService
from localcloud.eventbridge.rules import RuleRouter, rules_from
from localcloud.fc.models import MASK, FcBackend, Invocation, functions_from
from localcloud.fc.responses import FcService
from localcloud.fc.runtime.asyncinvoke import AsyncDispatcher
from localcloud.fc.runtime.destinations import Destinations
from localcloud.fc.runtime.instance import LineSink
from localcloud.fc.runtime.invokers import invokers_from, run_invokers
from localcloud.fc.runtime.invoker import Invoker
from localcloud.fc.runtime.triggers import triggers_from
from localcloud.fc.runtime.triggers.http import HttpTrigger
from localcloud.fc.runtime.triggers.mns import MnsQueueTrigger
from localcloud.fc.runtime.triggers.timer import TimerTrigger
from localcloud.mns import MnsService, QueueAttributes
from localcloud.control import ControlError, ControlRequest
from localcloud.ecs import EcsService
from localcloud.server.core import LocalCloud
from localcloud.server.roa import RoaProtocol
from localcloud.server.wire import WireProtocol
from localcloud.signing import (DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_ACCOUNT_ID, Credential,
                                credentials_from)
from localcloud.template import Template, TemplateError, load_template

_QUEUE_PROPS = {"DelaySeconds": "delay_seconds", "MaximumMessageSize": "maximum_message_size",
                "MessageRetentionPeriod": "message_retention_period", "VisibilityTimeout": "visibility_timeout",
                "PollingWaitSeconds": "polling_wait_seconds"}


class LocalApp:
    def __init__(self, template: str | Path | Template, params: Mapping[str, str] | None = None, *,
                 state: dict[str, Any] | None = None, host: str = "127.0.0.1", port: int = 0,
                 credentials: Mapping[str, Any] | None = None, region: str = "cn-hangzhou",
                 account_id: str = DEFAULT_ACCOUNT_ID, max_instances: int = 2, retry_base_s: float = 0.5,
                 env: Mapping[str, str] | None = None, function_output: LineSink | None = None,
                 log: Callable[[str], None] | None = None, reveal_secrets: bool = False) -> None:
        self.template = template if isinstance(template, Template) else \
            load_template(template, params, region=region, account_id=account_id)
        self.region, self.account_id = region, account_id
        self.log = log or (lambda _m: None)
        # The default key belongs to the application's account (the template's ALIYUN::AccountId).
        self.credentials: dict[str, Credential] = credentials_from(credentials) if credentials is not None else {
            DEFAULT_ACCESS_KEY_ID: Credential(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, account_id)}
        functions = functions_from(self.template)
        self.trigger_specs = triggers_from(self.template, set(functions))
        self.rule_specs = rules_from(self.template)
        self.queue_specs = self._queues()
        # A rule's bus must exist when the application starts: declared (localcloud's own bus type), or made
        # by a FunctionInvoker's function, as in the cloud (checked in start()).
        buses = [r.name for r in self.template.of_type("ALIYUN::EventBridge::EventBus")]
        self.invoker_specs = invokers_from(self.template, set(functions))

        self.fc = FcBackend(functions, reveal_secrets=reveal_secrets)
        self.invoker = Invoker(self.fc, max_instances=max_instances, sink=function_output)
        self.mns_service = MnsService()
        self.eventbridge = EventBridgeService(buses)
        self.destinations = Destinations(self._send_mns, self._put_event, self._invoke_async, self.log)
        # Async invocations run on as many instances as a function may have (FC scales them out), not fewer.
        self.dispatcher = AsyncDispatcher(self.fc, self.invoker, self.destinations, workers=max(4, max_instances),
                                          retry_base_s=retry_base_s)
        fc_service = FcService(self.fc, self.invoker, self.dispatcher)
        services: list[Any] = [EcsService(), self.eventbridge, self.mns_service, fc_service]
        protocols: list[WireProtocol] = [RoaProtocol([fc_service])]  # MNS and RPC are the cloud's own
        self.cloud = LocalCloud(host=host, port=port, credentials=self.credentials, state=state,
                                services=services, protocols=protocols)
        self.router = RuleRouter(self.rule_specs, invoke=self._invoke_for_rule, invoke_async=self._invoke_async,
                                 send_mns=self._send_mns, region=region, account=account_id,
                                 retry_delay_s=min(retry_base_s, 0.5), log=self.log)
        self.eventbridge.backend.listeners.append(self.router.on_events)
        self.http: dict[str, HttpTrigger] = {}
        self.timers: dict[str, TimerTrigger] = {}
        self.pollers: dict[str, MnsQueueTrigger] = {}
        self._retry_base_s = retry_base_s
        self.env_overrides = dict(env or {})  # every function, over its template environment (``--env``)
        self._host = host
        self._started = False
        self._stopped = False
        self.cloud.reset_hooks.append(self._create_queues)
        self.cloud.reset_hooks.append(self.fc.reset)
        self._add_control_routes()

    # --- building blocks --------------------------------------------------------------------------------
    def _queues(self) -> list[tuple[str, QueueAttributes]]:
        out = []
        for res in self.template.of_type("ALIYUN::MNS::Queue"):
            fields: dict[str, Any] = {attr: int(res.properties[prop]) for prop, attr in _QUEUE_PROPS.items()
                                      if prop in res.properties}
            out.append((res.name, QueueAttributes(**fields)))
        return out

    def _create_queues(self) -> None:
        for name, attrs in self.queue_specs:
            if not self.mns.has_queue(name):
                self.mns.create_queue(name, attrs)

    @property
    def mns(self) -> Any:
        return self.mns_service.backend

    def _send_mns(self, queue: str, body: str) -> Any:
        return self.mns.send(queue, body)

    def _put_event(self, bus: str, event: dict[str, Any]) -> None:
        from localcloud.eventbridge.models import ReceivedEvent, _now

        if not self.eventbridge.backend.has_bus(bus):
            raise ValueError(f"event bus {bus!r} does not exist")
        received = ReceivedEvent(bus, str(event["id"]), os.urandom(16).hex(), "", _now(), event)
        self.eventbridge.backend.append([received])

    def _invoke_async(self, function: str, event: bytes, trigger: str = "async") -> str:
        return self.dispatcher.submit(function, event, trigger=trigger)

    def _invoke_for_rule(self, function: str, event: bytes, trigger: str) -> tuple[bool, str]:
        _, outcome = self.invoker.invoke(function, event, trigger=trigger)
        err = outcome.error or {}
        return outcome.ok, f"{err.get('errorType')}: {err.get('errorMessage')}"

    def environment(self) -> dict[str, str]:
        """What every function gets on top of its template environment."""
        cred = next(iter(self.credentials.values()))
        # The template names them (and leaves them unset: in the cloud each SDK finds its regional endpoint).
        env = {name: self.cloud.endpoint for name in self.template.local_run.endpoint_variables.values()}
        env.update(ALIBABA_CLOUD_ACCESS_KEY_ID=cred.access_key_id, ALIBABA_CLOUD_ACCESS_KEY_SECRET=cred.secret,
                   ALIBABA_CLOUD_ECS_METADATA_DISABLED="true")
        if cred.security_token:
            env["ALIBABA_CLOUD_SECURITY_TOKEN"] = cred.security_token
        return env

    # --- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> LocalApp:
        if self._started:
            return self
        self._started = True
        self.cloud.start()
        self.invoker.injected.update({**self.env_overrides, **self.environment()})
        self._create_queues()
        try:
            run_invokers(self.invoker_specs, self.invoker.invoke, self._invoke_async, self.log)
            self.eventbridge.backend.keep_buses()  # what the stack made survives a reset, as declared ones do
            for rule in self.rule_specs:
                if not self.eventbridge.backend.has_bus(rule.bus):
                    raise TemplateError(f"rule {rule.name!r} is on event bus {rule.bus!r}, which nothing in the "
                                        "template creates")
            for spec in self.trigger_specs:
                key = f"{spec.function}/{spec.name}"
                if spec.type == "http":
                    trig = HttpTrigger(spec, self.invoker.invoke, self._host, self.account_id)
                    self.http[spec.function] = trig
                    trig.start()
                elif spec.type == "timer":
                    try:
                        timer = TimerTrigger(spec, self.invoker.invoke)
                    except ValueError as exc:
                        raise TemplateError(f"{spec.logical_id}: {exc}") from None
                    self.timers[key] = timer
                    timer.start()
                else:
                    poller = MnsQueueTrigger(spec, self.mns, self.invoker.invoke, self._invoke_async, self.region,
                                             self.account_id, retry_base_s=self._retry_base_s, log=self.log)
                    if not self.mns.has_queue(poller.queue):
                        raise TemplateError(f"{spec.logical_id}: queue {poller.queue!r} is not declared in the "
                                            "template (ALIYUN::MNS::Queue)")
                    self.pollers[key] = poller
                    poller.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for h in self.http.values():
            h.stop()
        for t in self.timers.values():
            t.stop()
        for p in self.pollers.values():
            p._stop.set()
        self.invoker.shutdown()  # running handlers end now (their callers get an error)
        for p in self.pollers.values():
            p.stop()
        self.dispatcher.stop()
        self.router.stop()
        for t in self.timers.values():
            t.join()
        self.cloud.stop()

    def __enter__(self) -> LocalApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def worker_pids(self) -> list[int]:
        return self.invoker.pids()

    # --- what it is ---------------------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return self.cloud.endpoint

    def info(self) -> dict[str, Any]:
        cred = next(iter(self.credentials.values()))
        ep = self.cloud.endpoint
        return {
            "endpoint": ep, "ecs": ep, "eventbridge": ep, "mns": ep, "fc": ep,
            "http": {fn: trig.url for fn, trig in sorted(self.http.items())},
            "hostPort": ep.removeprefix("http://"), "accessKeyId": cred.access_key_id,
            "accessKeySecret": cred.secret, "accountId": self.account_id, "regionId": self.region,
            "services": {name: svc.version for name, svc in self.cloud.services.items()},
            "functions": sorted(self.fc.functions), "queues": [q for q, _ in self.queue_specs],
            "buses": [b["name"] for b in self.eventbridge.dump_state()["buses"]],
            "rules": [r.name for r in self.rule_specs], "timers": sorted(self.timers),
            "triggers": [f"{t.function}/{t.name} ({t.type})" for t in self.trigger_specs], "pid": os.getpid(),
        }

    def idle(self) -> bool:
        """Nothing queued or running: no visible or in-flight message on a polled queue, no async task, no
        rule delivery, no poller mid-batch."""
        for p in self.pollers.values():
            if not p.idle():
                return False
            counts = self.mns.queue_info(p.queue)["counts"]
            if counts["visible"] or counts["inflight"]:
                return False
        return self.dispatcher.idle() and self.router.idle()

    def wait_idle(self, timeout: float = 30.0, settle: float = 0.2) -> bool:
        """True once :meth:`idle` has held for ``settle`` seconds (work hands off between parts)."""
        deadline = time.monotonic() + timeout
        calm_since: float | None = None
        while time.monotonic() < deadline:
            if self.idle():
                calm_since = calm_since or time.monotonic()
                if time.monotonic() - calm_since >= settle:
                    return True
            else:
                calm_since = None
            time.sleep(0.02)
        return False

    def fire(self, function: str, trigger: str | None = None) -> dict[str, Any]:
        """Fire ``function``'s timer trigger now (``sgrule local trigger``)."""
        timers = [t for key, t in self.timers.items() if key.split("/", 1)[0] == function
                  and (trigger is None or t.spec.name == trigger)]
        if not timers:
            known = ", ".join(sorted(self.timers)) or "none"
            raise LookupError(f"no timer trigger{' ' + trigger if trigger else ''} on function {function!r} "
                              f"(timers: {known})")
        rid, outcome = timers[0].fire()
        return {"function": function, "trigger": timers[0].spec.name, "requestId": rid, "ok": outcome.ok,
                "durationMs": round(outcome.duration_ms, 3),
                "result": outcome.body.decode("utf-8", errors="replace") if outcome.ok else None,
                "error": outcome.error, "errorType": None if outcome.ok else outcome.error_kind}

    # --- control routes -------------------------------------------------------------------------------------
    def _add_control_routes(self) -> None:
        """The application's routes, in the cloud's own table."""
        def invocations(r: ControlRequest) -> tuple[int, Any]:
            found = self.fc.invocations.list(r.arg("function"), r.arg("trigger"))
            return 200, {"invocations": [i.to_json() for i in found]}

        def clear_invocations(r: ControlRequest) -> tuple[int, Any]:
            self.fc.invocations.clear()
            return 200, {"invocations": []}

        def fire(r: ControlRequest) -> tuple[int, Any]:
            try:
                return 200, self.fire(r.route.split("/", 1)[1], r.arg("trigger"))
            except LookupError as exc:
                raise ControlError(404, str(exc)) from None

        def app_info(r: ControlRequest) -> tuple[int, Any]:  # the secret key only when asked for (?secrets=true)
            info = self.info()
            if (r.arg("secrets") or "").lower() not in ("1", "true"):
                info["accessKeySecret"] = MASK
            return 200, info

        routes = self.cloud.control
        routes.add("GET", "invocations", invocations)
        routes.add("DELETE", "invocations", clear_invocations)
        routes.add("POST", "triggers/", fire)
        routes.add("GET", "rules", lambda r: (200, {"rules": [s.to_json() for s in self.rule_specs],
                                                    "deliveries": [d.to_json() for d in list(self.router.deliveries)]}))
        routes.add("GET", "app", app_info)
        routes.add("GET", "idle", lambda r: (200, {"idle": self.idle()}))


def rfc3339(t: float) -> str:
    """Epoch seconds as RFC 3339 in UTC with milliseconds (``2026-11-27T10:00:00.123Z``), as every log says times."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def describe(inv: Invocation) -> str:
    """One readable line per invocation (``sgrule local start`` prints these on stderr), its start time first."""
    clock = rfc3339(inv.start)
    result = "ok" if inv.error_type is None else f"{inv.error_type} ({inv.error_message})"
    extra = " cold" if inv.cold_start else ""
    extra += f" attempt {inv.attempt}" if inv.attempt > 1 else ""
    return f"{clock}  {inv.function:<28} {inv.trigger:<28} {inv.duration_ms:8.1f} ms  {result}{extra}"


def read_json_file(path: str | None) -> Any:
    if not path:
        return None
    return wirejson.loads(Path(path).read_text(encoding="utf-8"))


__all__ = ["LocalApp", "describe", "rfc3339"]

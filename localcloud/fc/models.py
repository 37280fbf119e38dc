"""Function Compute state: the functions (from ``ALIYUN::FC3::Function`` resources), their async configs,
the async task ids seen, and the log of every invocation.

**Where a function's code is.** A template names a zip in OSS (``Code.OssObjectName``); locally the code is
the folder ``functions/<basename of OssObjectName without .zip>`` next to the template, e.g.
``sgrule/apply_egress_rule.zip`` -> ``functions/apply_egress_rule/``. Packaging builds exactly those zip
names from those folders, so the two stay one mapping. A function whose folder is missing (or whose
``Code`` has no ``OssObjectName``) is refused when the application starts.
"""
from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from localcloud.template import Template, TemplateError

DEFAULT_TIMEOUT_S = 3  # FC 3.0 defaults
DEFAULT_MEMORY_MB = 128


@dataclass(frozen=True)
class AsyncConfig:
    """``ALIYUN::FC3::AsyncInvokeConfig``: retries 0-8 (default 3), event age 1-604800 s, destinations."""

    max_retries: int = 3
    max_event_age_s: float = 86400.0
    on_success: str | None = None  # destination ARN
    on_failure: str | None = None


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str
    code_dir: Path
    runtime: str = "python3.10"
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    environment: dict[str, str] = field(default_factory=dict)
    initializer: str | None = None
    initializer_timeout_s: float = DEFAULT_TIMEOUT_S
    description: str = ""
    instance_concurrency: int = 1
    reserved_concurrency: int | None = None  # ALIYUN::FC3::ConcurrencyConfig: the most instances at once
    async_config: AsyncConfig = AsyncConfig()
    region: str = "cn-hangzhou"
    account_id: str = "1234567890123456"
    created: str = ""

    @property
    def arn(self) -> str:
        return f"acs:fc:{self.region}:{self.account_id}:functions/{self.name}"

    def to_api(self, reveal: bool = False) -> dict[str, Any]:
        """The ``Function`` struct of GetFunction / ListFunctions; secret-looking environment values masked
        unless ``reveal`` (a developer tool still should not hand webhook secrets to whoever asks)."""
        out: dict[str, Any] = {
            "functionName": self.name, "functionArn": self.arn, "functionId": f"local-{self.name}",
            "handler": self.handler, "runtime": self.runtime, "timeout": int(self.timeout_s),
            "memorySize": self.memory_mb, "description": self.description,
            "environmentVariables": dict(self.environment) if reveal else masked(self.environment),
            "instanceConcurrency": self.instance_concurrency,
            "state": "Active", "createdTime": self.created, "lastModifiedTime": self.created,
            "codeSize": 0, "codeChecksum": "",
        }
        if self.initializer:
            out["instanceLifecycleConfig"] = {"initializer": {"handler": self.initializer,
                                                              "timeout": int(self.initializer_timeout_s)}}
        return out


def code_folder(template: Template, logical_id: str, code: Any) -> Path:
    """The documented rule: ``functions/<basename of Code.OssObjectName without .zip>``."""
    obj = code.get("OssObjectName") if isinstance(code, dict) else None
    if not obj:
        raise TemplateError(f"{logical_id}: Code has no OssObjectName; localcloud maps "
                            "functions/<basename of OssObjectName without .zip> to the function's code")
    stem = PurePosixPath(str(obj)).name
    stem = stem[:-4] if stem.lower().endswith(".zip") else stem
    folder = template.base_dir / "functions" / stem
    if not folder.is_dir():
        raise TemplateError(f"{logical_id}: code folder {folder} is missing (Code.OssObjectName {obj!r} -> "
                            f"functions/{stem}/); create it or fix OssObjectName")
    return folder


def functions_from(template: Template) -> dict[str, FunctionSpec]:
    """Every ``ALIYUN::FC3::Function`` (with its ``ALIYUN::FC3::AsyncInvokeConfig``), by function name."""
    configs: dict[str, AsyncConfig] = {}
    for res in template.of_type("ALIYUN::FC3::AsyncInvokeConfig"):
        p = res.properties
        dest = p.get("DestinationConfig") or {}
        configs[str(p.get("FunctionName"))] = AsyncConfig(
            max_retries=int(p.get("MaxAsyncRetryAttempts", 3)),
            max_event_age_s=float(p.get("MaxAsyncEventAgeInSeconds", 86400)),
            on_success=(dest.get("OnSuccess") or {}).get("Destination"),
            on_failure=(dest.get("OnFailure") or {}).get("Destination"))
    reserved: dict[str, int] = {}
    for res in template.of_type("ALIYUN::FC3::ConcurrencyConfig"):
        value = res.properties.get("ReservedConcurrency")
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit() \
                or int(value) < 1:
            raise TemplateError(f"{res.logical_id}: ReservedConcurrency must be a positive integer, not {value!r}")
        reserved[str(res.properties.get("FunctionName"))] = int(value)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out: dict[str, FunctionSpec] = {}
    for res in template.of_type("ALIYUN::FC3::Function"):
        p = res.properties
        name = res.name
        handler = str(p.get("Handler") or "")
        if "." not in handler:
            raise TemplateError(f"{res.logical_id}: Handler {handler!r} must be 'module.function'")
        init = ((p.get("InstanceLifecycleConfig") or {}).get("Initializer") or {})
        env = {str(k): _env_text(v) for k, v in (p.get("EnvironmentVariables") or {}).items()}
        out[name] = FunctionSpec(
            name=name, handler=handler, code_dir=code_folder(template, res.logical_id, p.get("Code")),
            runtime=str(p.get("Runtime", "python3.10")), timeout_s=float(p.get("Timeout", DEFAULT_TIMEOUT_S)),
            memory_mb=int(p.get("MemorySize", DEFAULT_MEMORY_MB)), environment=env,
            initializer=init.get("Handler") or None, initializer_timeout_s=float(init.get("Timeout", 3)),
            description=str(p.get("Description", "")), instance_concurrency=int(p.get("InstanceConcurrency", 1)),
            reserved_concurrency=reserved.get(name), async_config=configs.get(name, AsyncConfig()),
            region=template.region, account_id=template.account_id, created=now)
    for kind, names in (("AsyncInvokeConfig", configs), ("ConcurrencyConfig", reserved)):
        unknown = sorted(set(names) - set(out))
        if unknown:
            raise TemplateError(f"ALIYUN::FC3::{kind} for unknown function(s): {', '.join(unknown)}")
    return out


def _env_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


@dataclass
class Invocation:
    """One invocation as the control API (``GET /_emulator/invocations``) and ``local start`` show it."""

    function: str
    trigger: str  # "api" (InvokeFunction), "async", "http:<name>", "timer:<name>", "eventbridge:<name>", "rule:<name>"
    request_id: str
    start: float  # epoch seconds
    duration_ms: float = 0.0
    error_type: str | None = None  # None: the handler returned; else FC's error type
    error_message: str | None = None
    instance_id: str | None = None
    cold_start: bool = False
    attempt: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"function": self.function, "trigger": self.trigger, "requestId": self.request_id,
                "start": round(self.start, 6), "durationMs": round(self.duration_ms, 3),
                "errorType": self.error_type, "errorMessage": self.error_message,
                "instanceId": self.instance_id, "coldStart": self.cold_start, "attempt": self.attempt}


class InvocationLog:
    """Every finished invocation in order (bounded), plus listeners (the CLI prints each one)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._items: deque[Invocation] = deque(maxlen=limit)
        self._listeners: list[Callable[[Invocation], None]] = []

    def add_listener(self, fn: Callable[[Invocation], None]) -> None:
        self._listeners.append(fn)

    def record(self, inv: Invocation) -> None:
        with self._lock:
            self._items.append(inv)
        for fn in list(self._listeners):
            try:
                fn(inv)
            except Exception:  # noqa: BLE001  (a listener must never break an invocation)
                pass

    def list(self, function: str | None = None, trigger: str | None = None) -> list[Invocation]:
        with self._lock:
            return [i for i in self._items if (function is None or i.function == function)
                    and (trigger is None or i.trigger == trigger or i.trigger.startswith(trigger + ":"))]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


MASK = "******"
_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|SENDERS|TARGETS|(^|_)KEY(_|$)", re.I)
_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^/@:]*:)[^/@]*(@)", re.I)


def masked(environment: dict[str, str]) -> dict[str, str]:
    """Environment values as GetFunction shows them: secret-looking names masked whole, URL passwords cut."""
    return {k: MASK if _SECRET_NAME.search(k) else _URL_PASSWORD.sub(rf"\g<1>{MASK}\g<2>", v)
            for k, v in environment.items()}


class FcBackend:
    """The functions of one account and region, and what FC remembers about async submissions."""

    def __init__(self, functions: dict[str, FunctionSpec] | None = None, reveal_secrets: bool = False) -> None:
        self.reveal_secrets = reveal_secrets  # GetFunction shows environment values unmasked
        self._lock = threading.Lock()
        self.functions: dict[str, FunctionSpec] = dict(functions or {})
        self._task_ids: dict[tuple[str, str], float] = {}
        self.invocations = InvocationLog()

    def get(self, name: str) -> FunctionSpec | None:
        return self.functions.get(name)

    def claim_task_id(self, function: str, task_id: str) -> bool:
        """Remember an async task id; False if this function already had it (a second submission)."""
        with self._lock:
            key = (function, task_id)
            if key in self._task_ids:
                return False
            self._task_ids[key] = time.time()
            return True

    def reset(self) -> None:
        with self._lock:
            self._task_ids.clear()
        self.invocations.clear()

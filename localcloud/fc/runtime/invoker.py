"""Running functions: one :class:`InstancePool` per function, the environment each instance gets, and the
invocation log. Every path into a function (InvokeFunction, async, triggers, EventBridge rules) ends here.

An instance's environment is built like FC builds it: a clean process environment (``PATH``, ``HOME``,
locale, temp dir), FC's system variables (``FC_FUNCTION_NAME``, ``FC_REGION``, ``FC_INSTANCE_ID`` ...), the
function's ``EnvironmentVariables`` from the template, then ``injected`` (localcloud's endpoints and
credentials; see :mod:`localcloud.app`) on top.
"""
from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Callable

from localcloud.fc import exceptions
from localcloud.fc.models import FcBackend, FunctionSpec, Invocation
from localcloud.fc.runtime.instance import InstancePool, LineSink, Outcome
from localcloud.invoke import FunctionMeta, fc_environment

_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SYSTEMROOT", "VIRTUAL_ENV")


class Invoker:
    def __init__(self, backend: FcBackend, injected: dict[str, str] | None = None, max_instances: int = 2,
                 sink: LineSink | None = None) -> None:
        self.backend = backend
        self.injected = dict(injected or {})
        self.max_instances = max_instances
        self.sink = sink
        self._pools: dict[str, InstancePool] = {}
        self._lock = threading.Lock()
        self._closed = False

    def environment(self, spec: FunctionSpec) -> dict[str, str]:
        base = {k: os.environ[k] for k in _KEEP if k in os.environ}
        meta = FunctionMeta(name=spec.name, handler=spec.handler, memory=spec.memory_mb,
                            timeout=max(1, round(spec.timeout_s)), initializer=spec.initializer or "")
        fc = fc_environment(meta, spec.region, spec.account_id, spec.code_dir)
        fc["FC_FUNCTION_TIMEOUT"] = str(max(1, round(spec.timeout_s)))
        return {**base, **fc, **spec.environment, **self.injected}

    def pool(self, name: str) -> InstancePool:
        spec = self.backend.get(name)
        if spec is None:
            raise exceptions.function_not_found(name)
        with self._lock:
            if self._closed:
                raise RuntimeError("the application is stopping")
            if name not in self._pools:
                # The function's reserved concurrency bounds its instances, as in FC; so does this machine's cap.
                most = min(self.max_instances, spec.reserved_concurrency or self.max_instances)
                self._pools[name] = InstancePool(spec, lambda: self.environment(spec), most, self.sink)
            return self._pools[name]

    def invoke(self, name: str, event: bytes, trigger: str = "api", request_id: str | None = None,
               attempt: int = 1) -> tuple[str, Outcome]:
        """Run ``name`` once with ``event``; returns (request id, outcome). Raises FunctionNotFound."""
        pool = self.pool(name)
        rid = request_id or str(uuid.uuid4())
        start = time.time()
        try:
            outcome = pool.invoke(rid, event)
        except RuntimeError as exc:  # stopping
            outcome = Outcome(False, error={"errorMessage": str(exc), "errorType": "ServiceUnavailable",
                                            "stackTrace": []}, error_kind="ServiceUnavailable")
        err = outcome.error or {}
        self.backend.invocations.record(Invocation(
            function=name, trigger=trigger, request_id=rid, start=start, duration_ms=outcome.duration_ms,
            error_type=None if outcome.ok else outcome.error_kind,
            error_message=None if outcome.ok else f"{err.get('errorType')}: {err.get('errorMessage')}",
            instance_id=outcome.instance_id or None, cold_start=outcome.cold_start, attempt=attempt))
        return rid, outcome

    def pids(self) -> list[int]:
        with self._lock:
            return [pid for p in self._pools.values() for pid in p.pids()]

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
        for p in pools:
            p.shutdown()


def on_line_printer(write: Callable[[str], None]) -> LineSink:
    """A sink that prints each line of function output as ``  name | line``."""
    def sink(function: str, instance: str, line: str) -> None:
        write(f"  {function} | {line}")
    return sink

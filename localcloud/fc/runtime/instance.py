"""FC instances as child processes (:class:`Instance`) and a small pool of them per function
(:class:`InstancePool`).

An instance serves one invocation at a time (instance concurrency 1, as FC's built-in runtimes). Its
process keeps the module (and whatever the module caches) between invocations; the initializer runs once
per instance. A handler that outlives the function's timeout gets its instance killed (SIGKILL), as FC
stops it: the caller gets ``Function timed out after N seconds`` and the next invocation starts a fresh
instance (cold start, initializer again). An instance that dies on its own is replaced the same way.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

from localcloud.fc.models import FunctionSpec

LineSink = Callable[[str, str, str], None]  # (function, instance id, line)
TAIL_BYTES = 4096  # FC returns the last 4 KB of the log with x-fc-log-type: Tail
_MARKER = re.compile(r"^FC (Invoke|Initialize) (Start|End) RequestId: (\S+)$")
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])


@dataclass
class Outcome:
    """The result of one invocation on an instance."""

    ok: bool
    body: bytes = b""
    error: dict[str, Any] | None = None  # {errorMessage, errorType, stackTrace}
    error_kind: str | None = None  # X-Fc-Error-Type: UnhandledInvocationError, UnhandledInitializationError
    log: str = ""
    instance_id: str = ""
    cold_start: bool = False
    duration_ms: float = 0.0
    timed_out: bool = False

    @property
    def log_tail(self) -> str:
        data = self.log.encode("utf-8")
        return data[-TAIL_BYTES:].decode("utf-8", errors="ignore")


@dataclass
class _Capture:
    lines: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


class Instance:
    """One worker process."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], sink: LineSink | None = None) -> None:
        self.spec = spec
        self.id = env.get("FC_INSTANCE_ID") or f"c-local-{uuid.uuid4().hex[:16]}"
        self._sink = sink
        self._captures: dict[str, _Capture] = {}
        self._lock = threading.Lock()
        self.initialized = not spec.initializer
        self.used = False
        parent, child = socket.socketpair()
        config = {"name": spec.name, "handler": spec.handler, "initializer": spec.initializer,
                  "codeDir": str(spec.code_dir), "memory": spec.memory_mb, "timeout": max(1, round(spec.timeout_s)),
                  "region": spec.region, "accountId": spec.account_id}
        path = [p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p]
        full_env = {**env, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(path)}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "localcloud.fc.runtime.worker", str(child.fileno()), json.dumps(config)],
                env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                pass_fds=(child.fileno(),), cwd=str(spec.code_dir), start_new_session=True)
        finally:
            child.close()
        self.conn = Connection(parent.detach())
        self._reader = threading.Thread(target=self._read_output, name=f"fc-log:{spec.name}:{self.id[-6:]}",
                                        daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    # --- output ---------------------------------------------------------------------------------------
    def _read_output(self) -> None:
        assert self.proc.stdout is not None
        current: _Capture | None = None
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            m = _MARKER.match(line)
            if m and m.group(2) == "Start":
                with self._lock:
                    current = self._captures.get(m.group(3))
            if current is not None:
                current.lines.append(line)
            if m and m.group(2) == "End":
                if current is not None and m.group(1) == "Invoke":
                    current.done.set()
                    current = None
                continue
            if not m and self._sink is not None:
                self._sink(self.spec.name, self.id, line)
        with self._lock:  # the process is gone: nobody waits for more output
            for cap in self._captures.values():
                cap.done.set()

    # --- one invocation -------------------------------------------------------------------------------
    def invoke(self, request_id: str, event: bytes) -> Outcome:
        cap = _Capture()
        with self._lock:
            self._captures[request_id] = cap
        cold = not self.used
        self.used = True
        started = time.monotonic()
        try:
            outcome = self._exchange(request_id, event)
        except BaseException:
            cap.done.set()
            raise
        cap.done.wait(2.0)  # the End marker follows the result by a few microseconds
        with self._lock:
            self._captures.pop(request_id, None)
        outcome.log = "\n".join(cap.lines) + ("\n" if cap.lines else "")
        outcome.instance_id = self.id
        outcome.cold_start = cold
        outcome.duration_ms = (time.monotonic() - started) * 1000
        return outcome

    def _exchange(self, request_id: str, event: bytes) -> Outcome:
        try:
            self.conn.send({"op": "invoke", "requestId": request_id, "event": event})
        except OSError:
            return self._died("the instance exited before the request could be sent")
        if not self.initialized:
            msg = self._recv(self.spec.initializer_timeout_s)
            if msg is None:
                self.kill()
                return Outcome(False, error={"errorMessage": f"Initializer timed out after "
                                                             f"{self.spec.initializer_timeout_s:g} seconds",
                                             "errorType": "InitializationTimeout", "stackTrace": []},
                               error_kind="UnhandledInitializationError", timed_out=True)
            if msg is _EOF:
                return self._died("the instance exited while initializing")
            if not msg.get("ok"):
                self.kill()
                return Outcome(False, error=msg.get("error"), error_kind="UnhandledInitializationError")
            self.initialized = True
        msg = self._recv(self.spec.timeout_s)
        if msg is None:
            self.kill()
            return Outcome(False, error={"errorMessage": f"Function timed out after {self.spec.timeout_s:g} seconds",
                                         "errorType": "FunctionTimeout", "stackTrace": []},
                           error_kind="UnhandledInvocationError", timed_out=True)
        if msg is _EOF:
            return self._died("Process exited unexpectedly before completing request")
        if msg.get("ok"):
            return Outcome(True, body=msg.get("body", b""))
        return Outcome(False, error=msg.get("error"), error_kind=msg.get("errorKind", "UnhandledInvocationError"))

    def _recv(self, timeout: float) -> Any:
        try:
            if not self.conn.poll(timeout):
                return None
            return self.conn.recv()
        except (EOFError, OSError):
            return _EOF

    def _died(self, message: str) -> Outcome:
        try:
            self.proc.wait(1.0)  # it closed its end: let it finish exiting, so its own exit code shows
        except subprocess.TimeoutExpired:
            pass
        self.kill()
        code = self.proc.returncode
        return Outcome(False, error={"errorMessage": f"{message} (exit code {code})", "errorType": "ProcessExited",
                                     "stackTrace": []}, error_kind="UnhandledInvocationError")

    # --- lifecycle ------------------------------------------------------------------------------------
    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self._reap()

    def stop(self, grace_s: float = 2.0) -> None:
        """Ask the worker to leave; kill it if it does not within ``grace_s``."""
        if self.proc.poll() is None:
            try:
                self.conn.send({"op": "stop"})
            except OSError:
                pass
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._reap()

    def _reap(self) -> None:
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover  (SIGKILL cannot be ignored)
            pass
        try:
            self.conn.close()
        except OSError:
            pass
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


_EOF = object()


class InstancePool:
    """Up to ``max_instances`` instances of one function; an invocation takes an idle one, starts a new
    one (cold start) if none is idle and there is room, or waits for one to come free."""

    def __init__(self, spec: FunctionSpec, env_for: Callable[[], dict[str, str]], max_instances: int = 2,
                 sink: LineSink | None = None) -> None:
        self.spec = spec
        self._env_for = env_for
        self._max = max(1, max_instances)
        self._sink = sink
        self._cond = threading.Condition()
        self._idle: list[Instance] = []
        self._all: set[Instance] = set()
        self._starting = 0
        self._closed = False
        self.started = 0  # instances started so far (cold starts)

    def invoke(self, request_id: str, event: bytes) -> Outcome:
        inst = self._acquire()
        try:
            return inst.invoke(request_id, event)
        finally:
            self._release(inst)

    def _acquire(self) -> Instance:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError(f"function {self.spec.name}: the application is stopping")
                while self._idle:
                    inst = self._idle.pop()
                    if inst.alive():
                        return inst
                    self._all.discard(inst)
                    inst.kill()
                if len(self._all) + self._starting < self._max:
                    break
                self._cond.wait()
            self._starting += 1  # the slot is ours while the process starts (outside the lock)
        try:
            inst = Instance(self.spec, self._env_for(), self._sink)
        finally:
            with self._cond:
                self._starting -= 1
                self._cond.notify()
        with self._cond:
            self.started += 1
            if not self._closed:
                self._all.add(inst)
                return inst
        inst.kill()
        raise RuntimeError(f"function {self.spec.name}: the application is stopping")

    def _release(self, inst: Instance) -> None:
        with self._cond:
            if inst.alive() and not self._closed:
                self._idle.append(inst)
            else:
                self._all.discard(inst)
            self._cond.notify()
        if not inst.alive():
            inst.kill()

    def pids(self) -> list[int]:
        with self._cond:
            return [i.pid for i in self._all]

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            instances = list(self._all)
            self._idle.clear()
            self._cond.notify_all()
        # Busy instances are killed (their callers get an error); idle ones are asked to leave.
        for inst in instances:
            inst.stop(grace_s=1.0)
        with self._cond:
            self._all.clear()

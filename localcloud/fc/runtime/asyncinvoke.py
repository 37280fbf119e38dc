"""Asynchronous invocations (``x-fc-invocation-type: Async``, and functions as destinations): queued, run
by a few dispatcher threads, retried per the function's async config, then sent to its destinations.

- ``x-fc-async-delay`` (0-3600 s) holds a task back before its first run.
- A failed run (the handler raised, timed out, or its instance died) is retried up to
  ``MaxAsyncRetryAttempts`` times (default 3), with backoff ``retry_base_s * 2**(n-1)`` capped at
  ``retry_cap_s`` (FC's own intervals are longer; locally they are short so a failure path ends quickly).
- A task older than ``MaxAsyncEventAgeInSeconds`` when its turn comes is dropped (condition
  ``EventAgeExceeded``).
- Then ``OnSuccess`` / ``OnFailure`` get FC's destination payload (:mod:`destinations`).
"""
from __future__ import annotations

import heapq
import json
import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from localcloud.fc.models import FcBackend
from localcloud.fc.runtime.destinations import Destinations, destination_payload
from localcloud.fc.runtime.invoker import Invoker


@dataclass
class AsyncTask:
    function: str
    event: bytes
    request_id: str
    task_id: str | None
    enqueued: float  # time.monotonic()
    trigger: str = "async"
    attempts: int = 0


@dataclass(order=True)
class _Entry:
    due: float
    seq: int
    task: AsyncTask = field(compare=False)


class AsyncDispatcher:
    def __init__(self, backend: FcBackend, invoker: Invoker, destinations: Destinations, workers: int = 4,
                 retry_base_s: float = 1.0, retry_cap_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.backend = backend
        self.invoker = invoker
        self.destinations = destinations
        self.retry_base_s = retry_base_s
        self.retry_cap_s = retry_cap_s
        self._clock = clock
        self._cond = threading.Condition()
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._running = 0
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"fc-async-{i}", daemon=True)
                         for i in range(max(1, workers))]
        for t in self._threads:
            t.start()

    def submit(self, function: str, event: bytes, task_id: str | None = None, delay_s: float = 0.0,
               trigger: str = "async") -> str:
        """Queue one invocation; returns its request id."""
        rid = str(uuid.uuid4())
        now = self._clock()
        task = AsyncTask(function, event, rid, task_id, now, trigger)
        with self._cond:
            heapq.heappush(self._heap, _Entry(now + max(0.0, delay_s), next(self._seq), task))
            self._cond.notify()
        return rid

    def idle(self) -> bool:
        """Nothing queued and nothing running (tests and the pipeline wait for this)."""
        with self._cond:
            return not self._heap and self._running == 0

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    now = self._clock()
                    if self._heap and self._heap[0].due <= now:
                        task = heapq.heappop(self._heap).task
                        self._running += 1
                        break
                    self._cond.wait(None if not self._heap else max(0.0, self._heap[0].due - now))
            try:
                self._run(task)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()

    def _run(self, task: AsyncTask) -> None:
        spec = self.backend.get(task.function)
        if spec is None:  # deleted meanwhile: nothing to run, nowhere to report
            return
        cfg = spec.async_config
        if self._clock() - task.enqueued > cfg.max_event_age_s:
            self._finish(task, spec.arn, "EventAgeExceeded", False, b"", "", cfg.on_failure)
            return
        task.attempts += 1
        _, outcome = self.invoker.invoke(task.function, task.event, trigger=task.trigger,
                                         request_id=task.request_id, attempt=task.attempts)
        if outcome.ok:
            self._finish(task, spec.arn, "Success", True, outcome.body, "", cfg.on_success)
            return
        if task.attempts <= cfg.max_retries and not self._closed:
            delay = min(self.retry_cap_s, self.retry_base_s * 2 ** (task.attempts - 1))
            if self._clock() + delay - task.enqueued <= cfg.max_event_age_s:
                with self._cond:
                    heapq.heappush(self._heap, _Entry(self._clock() + delay, next(self._seq), task))
                    self._cond.notify()
                return
        kind = outcome.error_kind or "UnhandledInvocationError"
        body = json.dumps(outcome.error or {}, ensure_ascii=False).encode("utf-8")
        self._finish(task, spec.arn, kind, False, body, kind, cfg.on_failure)

    def _finish(self, task: AsyncTask, arn: str, condition: str, success: bool, response: bytes,
                function_error: str, destination: str | None) -> None:
        if not destination:
            return
        payload = destination_payload(request_id=task.request_id, function_arn=arn, condition=condition,
                                      attempts=task.attempts, event=task.event, function_error=function_error,
                                      response=response)
        self.destinations.deliver(destination, payload, success)

    def stop(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join(10)

"""Timer triggers: ``TriggerConfig`` ``{"cronExpression", "enable", "payload"}``.

``cronExpression`` is FC's: ``@every <duration>`` (``30s``, ``4m``, ``1h30m``) or a 6-field cron with seconds
first, in UTC (``0 0 2 * * *`` = 02:00:00 every day; ``?`` allowed in the day fields; a ``CRON_TZ=<zone>``
prefix changes the zone). The handler receives ``{"triggerTime": "<UTC, seconds>Z", "triggerName",
"payload"}``. ``enable: false`` keeps the schedule off; :meth:`TimerTrigger.fire` (``sgrule local trigger``)
works either way. Fires run on their own threads, so a slow handler never shifts the schedule.
"""
from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

from localcloud.fc.runtime.triggers import TriggerSpec

_EVERY = re.compile(r"^@every\s+((?:\d+(?:\.\d+)?(?:ms|s|m|h))+)$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


class Schedule:
    """When a timer fires: ``next_after(t)`` is the first fire time strictly after ``t`` (aware UTC)."""

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        m = _EVERY.match(self.expression)
        self.every: float | None = None
        self.zone: Any = timezone.utc
        if m:
            self.every = sum(float(n) * _UNITS[u] for n, u in _PART.findall(m.group(1)))
            if self.every <= 0:
                raise ValueError(f"timer {expression!r}: @every needs a positive duration")
            return
        text = self.expression
        if text.startswith("CRON_TZ="):
            zone, _, text = text.partition(" ")
            self.zone = ZoneInfo(zone.split("=", 1)[1])
        fields = text.split()
        if len(fields) != 6:
            raise ValueError(f"timer {expression!r}: FC cron has 6 fields, seconds first "
                             "('0 0 2 * * *'), or use '@every 5m'")
        from croniter import croniter

        if not croniter.is_valid(text, second_at_beginning=True):
            raise ValueError(f"timer {expression!r}: not a valid cron expression")
        self.cron = text

    def next_after(self, after: datetime, origin: datetime) -> datetime:
        if self.every is not None:
            periods = int((after - origin).total_seconds() // self.every) + 1
            return origin + timedelta(seconds=periods * self.every)
        from croniter import croniter

        local = after.astimezone(self.zone)
        nxt = croniter(self.cron, local, second_at_beginning=True).get_next(datetime)
        return nxt.astimezone(timezone.utc)


def timer_event(name: str, payload: Any, at: datetime) -> bytes:
    text = payload if isinstance(payload, str) or payload is None else json.dumps(payload)
    return json.dumps({"triggerTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "triggerName": name,
                       "payload": text or ""}).encode("utf-8")


class TimerTrigger:
    def __init__(self, spec: TriggerSpec, invoke: Callable[..., Any],
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.spec = spec
        self._invoke = invoke  # (function, event, trigger) -> (request id, outcome)
        self._clock = clock
        self.schedule = Schedule(str(spec.config.get("cronExpression", "")))
        self.enabled = spec.config.get("enable", True) not in (False, "false", "False")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fc-timer:{spec.name}", daemon=True)
        self._fires: list[threading.Thread] = []

    def start(self) -> None:
        if self.enabled:
            self._thread.start()

    def fire(self, at: datetime | None = None) -> Any:
        """Fire once now, on the calling thread; returns the invoker's (request id, outcome)."""
        when = at or self._clock()
        return self._invoke(self.spec.function, timer_event(self.spec.name, self.spec.config.get("payload"), when),
                            f"timer:{self.spec.name}")

    def _run(self) -> None:
        origin = self._clock()
        nxt = self.schedule.next_after(origin, origin)
        while not self._stop.is_set():
            wait = (nxt - self._clock()).total_seconds()
            if wait > 0 and self._stop.wait(min(wait, 1.0)):
                return
            if self._clock() < nxt:
                continue
            t = threading.Thread(target=self.fire, args=(nxt,), daemon=True, name=f"fc-timer-fire:{self.spec.name}")
            t.start()
            self._fires = [f for f in self._fires if f.is_alive()] + [t]
            nxt = self.schedule.next_after(max(nxt, self._clock()), origin)

    def stop(self) -> None:
        """Stop the schedule (fires under way finish, or end when the instances are shut down)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def join(self, timeout: float = 5.0) -> None:
        for t in self._fires:
            t.join(timeout)

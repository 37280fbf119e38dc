"""Structured JSON logs to stderr: one object a line, with the FC request id, change id and correlation id.

Deliberately tiny (no logging-config start-up cost) and never given a credential: callers pass ids and
codes, not settings or requests' headers.
"""
from __future__ import annotations

import json
import math
import sys
import threading
import time
from typing import Any, TextIO

_lock = threading.Lock()


def dumps(value: Any) -> str:
    """Strict JSON text that any stream can take: a value a sender wrote (a lone surrogate, NaN) never
    breaks the line (surrogates come out as ``\\udXXX`` escapes, non-finite numbers as strings)."""
    try:
        text = json.dumps(value, default=str, ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(value), default=str, ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class Logger:
    def __init__(self, stream: TextIO | None = None, level: str = "info", **context: Any) -> None:
        self.stream = stream
        self.level = LEVELS.get(level, 20)
        self.context = {k: v for k, v in context.items() if v is not None}

    def bind(self, **context: Any) -> Logger:
        """A logger that adds these fields to every line (e.g. changeId, correlationId)."""
        child = Logger(self.stream, "info", **{**self.context, **context})
        child.level = self.level
        return child

    def log(self, level: str, message: str, **fields: Any) -> None:
        if LEVELS[level] < self.level:
            return
        line = {"time": _rfc3339(time.time()), "level": level.upper(), "message": message, **self.context,
                **{k: v for k, v in fields.items() if v is not None}}
        text = dumps(line)
        with _lock:  # whole lines only, from any thread
            print(text, file=self.stream or sys.stderr, flush=True)

    def debug(self, message: str, **fields: Any) -> None:
        self.log("debug", message, **fields)

    def info(self, message: str, **fields: Any) -> None:
        self.log("info", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.log("warning", message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.log("error", message, **fields)

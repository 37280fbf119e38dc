"""Structured JSON logs to stderr: one object a line, with the FC request id, change id and correlation id.

Deliberately tiny (no logging-config start-up cost) and never given a credential: callers pass ids and
codes, not settings or requests' headers.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

_lock = threading.Lock()
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
        line = {"time": round(time.time(), 3), "level": level.upper(), "message": message, **self.context,
                **{k: v for k, v in fields.items() if v is not None}}
        text = json.dumps(line, default=str, ensure_ascii=False)
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

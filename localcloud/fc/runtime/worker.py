"""One FC instance: a child process that imports the function once and serves invocations one at a time.

Started by :class:`localcloud.fc.runtime.instance.Instance` as ``python -m localcloud.fc.runtime.worker FD
CONFIG_JSON`` with the function's environment already in place. ``FD`` is its end of a socket pair that
carries pickled messages (``multiprocessing.connection``):

- in: ``{"op": "invoke", "requestId", "event": bytes}`` or ``{"op": "stop"}``;
- out: ``{"phase": "init", "ok", "error"}`` once, when the initializer ran; then per invocation
  ``{"ok": True, "body": bytes}`` or ``{"ok": False, "errorKind", "error": {errorMessage, errorType,
  stackTrace}}``.

stdout and stderr are one pipe the parent reads: the function's prints and logs, framed by FC's own lines
``FC Invoke Start RequestId: <id>`` / ``FC Invoke End RequestId: <id>`` (and ``FC Initialize ...``), which
is how the parent cuts the log tail of each invocation. Module state survives between invocations; the
initializer runs once, before the first one. The process ends when the parent says stop, closes the
socket, or dies.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from localcloud.invoke import FCContext, FunctionMeta, add_code_paths

START = "FC Invoke Start RequestId: "
END = "FC Invoke End RequestId: "
INIT_START = "FC Initialize Start RequestId: "
INIT_END = "FC Initialize End RequestId: "


def stack_trace(exc: BaseException) -> list[list[str]]:
    """FC's Python ``stackTrace``: one ``[File "...", line N, in func, source]`` per frame."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    return [[f'File "{f.filename}"', f"line {f.lineno}", f"in {f.name}", f.line or ""] for f in frames]


def error_body(exc: BaseException) -> dict[str, Any]:
    return {"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": stack_trace(exc)}


def print_error(exc: BaseException) -> None:
    """The traceback on the function's log, without this module's frame (FC shows the user's frames)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)


def as_bytes(value: Any) -> bytes:
    """What FC's Python runtime sends back: bytes as is, text as UTF-8, None as nothing, else JSON."""
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _resolve(entry: str) -> Callable[..., Any]:
    module_name, _, func = entry.rpartition(".")
    module: ModuleType = importlib.import_module(module_name)
    fn = getattr(module, func, None)
    if not callable(fn):
        raise AttributeError(f"handler {entry!r}: module {module_name!r} has no function {func!r}")
    return fn


def _line(text: str) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, (text + "\n").encode("utf-8"))


def _watch_parent(parent: int) -> None:
    """Leave when the parent is gone, even in the middle of a handler (no orphans)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main(argv: list[str]) -> int:
    fd, config = int(argv[1]), json.loads(argv[2])
    conn = Connection(fd)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True, name="fc-parent-watch").start()
    code_dir = Path(config["codeDir"])
    os.chdir(code_dir)
    add_code_paths(code_dir)
    meta = FunctionMeta(name=config["name"], handler=config["handler"], memory=int(config["memory"]),
                        timeout=int(config["timeout"]), initializer=config.get("initializer") or "")
    handler: Callable[..., Any] | None = None
    initialized = not config.get("initializer")

    def context(request_id: str) -> FCContext:
        return FCContext(request_id=request_id, function=meta, region=config["region"],
                         account_id=config["accountId"])

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return 0
        if msg.get("op") != "invoke":
            return 0
        rid = msg["requestId"]
        if not initialized:
            _line(INIT_START + rid)
            try:
                _resolve(config["initializer"])(context(rid))
                initialized = True
                _line(INIT_END + rid)
                conn.send({"phase": "init", "ok": True})
            except BaseException as exc:  # noqa: BLE001  (reported as FC does; the instance is discarded)
                print_error(exc)
                _line(INIT_END + rid)
                conn.send({"phase": "init", "ok": False, "error": error_body(exc)})
                return 1
        _line(START + rid)
        try:
            if handler is None:
                handler = _resolve(meta.handler)
            body = as_bytes(handler(msg["event"], context(rid)))
            reply: dict[str, Any] = {"ok": True, "body": body}
        except BaseException as exc:  # noqa: BLE001  (an unhandled error is the function's answer)
            print_error(exc)
            reply = {"ok": False, "errorKind": "UnhandledInvocationError", "error": error_body(exc)}
        _line(END + rid)
        conn.send(reply)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

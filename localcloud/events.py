"""``sgrule local generate-event mns|http|timer``: wrap a payload in a trigger's envelope, exactly as the
local triggers build it (the same functions), like ``sam local generate-event``. Pipe the output into
``sgrule local invoke FUNCTION --event -``.

- ``mns``: each input item becomes one message body (JSON text) of an MNS-through-EventBridge batch; input
  is a file (or ``-``) holding one JSON value, a JSON array, or JSON lines, and/or ``--body TEXT``;
  ``--base64`` gives the bodies as they arrive when the trigger does not decode them (``IsBase64Decode``
  false) and the producer's MNS SDK base64-encoded them.
- ``http``: the FC 3.0 HTTP event of one request (``--method``, ``--path``, ``--query k=v``,
  ``--header 'Name: value'``, ``--body`` / ``--body-file``, ``--content-type``).
- ``timer``: ``{"triggerTime", "triggerName", "payload"}``.
"""
from __future__ import annotations

import argparse
import base64
import json
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from localcloud import wirejson
from localcloud.signing import DEFAULT_ACCOUNT_ID


class EventError(ValueError):
    pass


def read_items(text: str) -> list[Any]:
    text = text.strip()
    if not text:
        return []
    try:
        doc = wirejson.loads(text)
    except ValueError:
        try:
            return [wirejson.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise EventError(f"input is not JSON, a JSON array or JSON lines: {exc}") from None
    return doc if isinstance(doc, list) else [doc]


def mns_batch(bodies: list[str], queue: str, region: str, account_id: str, encoded: bool) -> list[dict[str, Any]]:
    from localcloud.fc.runtime.triggers.mns import mns_event

    out = []
    now = time.time() * 1000
    for i, body in enumerate(bodies):
        sent = base64.b64encode(body.encode("utf-8")).decode("ascii")  # what the MNS SDK stores by default
        out.append(mns_event(f"{uuid.uuid4().hex[:16].upper()}-1-{i:08X}", sent, queue, region, account_id, now,
                             base64_decode=not encoded))
    return out


def http_event(method: str, path: str, query: list[str], headers: list[str], body: bytes,
               content_type: str | None, account_id: str) -> dict[str, Any]:
    from localcloud.fc.runtime.triggers.http import http_event as build
    from localcloud.server.wire import HttpRequest

    hdrs: dict[str, list[str]] = {"host": ["127.0.0.1:9000"], "user-agent": ["sgrule-local-generate-event"]}
    if content_type:
        hdrs["content-type"] = [content_type]
    if body:
        hdrs["content-length"] = [str(len(body))]
    for h in headers:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            raise EventError(f"--header expects 'Name: value', got {h!r}")
        hdrs.setdefault(name.strip().lower(), []).append(value.strip())
    pairs = []
    for q in query:
        k, sep, v = q.partition("=")
        if not sep:
            raise EventError(f"--query expects k=v, got {q!r}")
        pairs.append((k, v))
    if not path.startswith("/"):
        path = "/" + path
    request = HttpRequest(method.upper(), quote(path, safe="/%~!$&'()*+,;=:@"), urlencode(pairs), hdrs, body,
                          "127.0.0.1")
    return build(request, str(uuid.uuid4()), account_id, "127.0.0.1:9000")


def timer_event(name: str, payload: str, at: str | None) -> dict[str, Any]:
    from localcloud.fc.runtime.triggers.timer import timer_event as build

    when = datetime.now(timezone.utc)
    if at:
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(timezone.utc)
        except ValueError:
            raise EventError(f"--time {at!r} is not an ISO 8601 time") from None
    return json.loads(build(name, payload, when))


# --- command line -----------------------------------------------------------------------------------------

def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("generate-event", help="print a trigger's event envelope around a payload",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    mns = kinds.add_parser("mns", help="an MNS-through-EventBridge batch (a JSON array of CloudEvents)",
                           description="Each item of FILE (JSON, JSON array or JSON lines) and each --body "
                           "becomes one message. Output: the JSON array the eventbridge trigger hands the function.")
    mns.add_argument("file", nargs="?", metavar="FILE", help="items to send as message bodies; - for stdin")
    mns.add_argument("--body", action="append", default=[], metavar="TEXT", help="one message body (repeatable)")
    mns.add_argument("--queue", default="sgrule-changes", help="the queue name in subject (default: %(default)s)")
    mns.add_argument("--base64", action="store_true",
                     help="bodies as base64 (the trigger's IsBase64Decode is false)")
    http = kinds.add_parser("http", help="the FC 3.0 HTTP trigger event of one request",
                            description="The event an HTTP trigger hands the function for one request.")
    http.add_argument("--method", default="POST", help="the request's method (default: %(default)s)")
    http.add_argument("--path", default="/", help="rawPath, relative to the function's URL (default: /)")
    http.add_argument("--query", action="append", default=[], metavar="K=V",
                      help="a query parameter (repeatable)")
    http.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                      help="a request header (repeatable)")
    http.add_argument("--body", default=None, metavar="TEXT", help="the body, as text")
    http.add_argument("--body-file", default=None, metavar="FILE", help="the body, read as bytes; - for stdin")
    http.add_argument("--content-type", default="application/json",
                      help="decides whether the body is text or base64 (default: %(default)s)")
    timer = kinds.add_parser("timer", help="the timer trigger event",
                             description="The event a timer trigger hands the function.")
    timer.add_argument("--trigger-name", default="timer", help="triggerName (default: %(default)s)")
    timer.add_argument("--payload", default="", help="the trigger's payload text")
    timer.add_argument("--time", default=None, help="triggerTime, ISO 8601 (default: now)")
    for sp in (mns, http, timer):
        sp.add_argument("--region", default="cn-hangzhou", help="the region in the event (default: %(default)s)")
        sp.add_argument("--account-id", default=DEFAULT_ACCOUNT_ID,
                        help="the account in the event (default: localcloud's, %(default)s)")
        sp.add_argument("--compact", action="store_true", help="one line of JSON")
    return p


def run(args: argparse.Namespace) -> int:
    try:
        if args.kind == "mns":
            items: list[Any] = []
            if args.file:
                text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
                items.extend(read_items(text))
            bodies = [i if isinstance(i, str) else json.dumps(i, ensure_ascii=False) for i in items] + args.body
            if not bodies:
                raise EventError("nothing to wrap: give FILE or --body")
            doc: Any = mns_batch(bodies, args.queue, args.region, args.account_id, args.base64)
        elif args.kind == "http":
            if args.body_file:
                body = sys.stdin.buffer.read() if args.body_file == "-" else Path(args.body_file).read_bytes()
            else:
                body = (args.body or "").encode("utf-8")
            doc = http_event(args.method, args.path, args.query, args.header, body, args.content_type,
                             args.account_id)
        else:
            doc = timer_event(args.trigger_name, args.payload, args.time)
    except (OSError, EventError) as exc:
        print(f"generate-event: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) if args.compact
          else json.dumps(doc, ensure_ascii=False, indent=2))
    return 0

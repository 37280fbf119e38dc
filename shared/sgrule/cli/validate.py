"""``sgrule validate``: check rule-change events before they are sent, as bare events or as the queue carries them.

Input, per file: one JSON value, or JSON lines (one value a line). A value is a rule-change event, an
EventBridge event wrapping an MNS message (``data.messageBody`` holding the event as JSON text or base64 of
it: what the change queue's trigger hands the apply function), an FC HTTP trigger event whose body (text or
base64) holds rule-change events (what the ticket webhook is posted), or a JSON array of any of these. They
are opened by the functions' own code (``sgrule.contract.envelope``, ``sgrule.webhook.http``), so what
validates here is what the functions accept.

Output: one line per event, strict JSON (RFC 8259) whatever the input held::

    {"file", "index", "messageId", "id", "valid", "error", "errors"}

``index`` counts the events of the file from 0 (array elements, or JSON lines); ``messageId`` is the MNS
message id for a wrapped event (else null); ``errors`` lists every error of the event
(``{"code", "message", "field"}``, each code documented in the README), ``error`` is the first of them (the one
the apply function's ``rejected`` outcome would carry) or null. On a terminal a table instead (``--format``).

A file that cannot be read (missing, not UTF-8, not JSON: with line and column) is reported on stderr and the
other files are still checked. An empty file and ``[]`` both hold no events: said on stderr, not an error.
Exit status: 2 if any file could not be read, else 1 if any event is invalid, else 0.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .output import FORMATS, pick_format, table, use_colour


class Unreadable(ValueError):
    """The file cannot be read as JSON or JSON lines; the message says where and why."""


@dataclass
class Checked:
    """One event of one file and its errors."""

    file: str
    index: int
    message_id: str | None
    id: str | None
    errors: list[Any]  # SgruleError

    def to_json(self) -> dict[str, Any]:
        errors = [e.to_dict() for e in self.errors]
        return {"file": self.file, "index": self.index, "messageId": self.message_id, "id": self.id,
                "valid": not errors, "error": errors[0] if errors else None, "errors": errors}


@dataclass
class FileReport:
    path: str
    events: list[Checked] = field(default_factory=list)
    unreadable: str | None = None  # why, when the file could not be read


def read_documents(text: str) -> list[Any]:
    """The JSON values of ``text``: one JSON value, or JSON lines; [] when it is blank. Raises
    :class:`Unreadable` with the line and column of the first mistake."""
    from ..contract.safe import NotJson, loads

    if not text.strip():
        return []
    try:
        return [loads(text)]
    except NotJson as whole:
        lines = text.split("\n")  # JSON counts lines at \n only (a string may hold U+2028)
        filled = [n for n, line in enumerate(lines) if line.strip()]
        if len(filled) > 1 and _parses(lines[filled[0]]):  # it looks like JSON lines: judge it line by line
            docs = []
            for n in filled:
                try:
                    docs.append(loads(lines[n]))
                except NotJson as exc:
                    where = f"line {n + 1}" + (f" column {exc.column}" if exc.column is not None else "")
                    raise Unreadable(f"{where}: {exc.reason} (JSON lines: one JSON value a line)") from None
            return docs
        # JSON beyond what is read (a huge integer, deep nesting) has no line to point at
        where = f"line {whole.line} column {whole.column}: " if whole.line is not None else ""
        raise Unreadable(where + whole.reason) from None


def _parses(line: str) -> bool:
    from ..contract.safe import NotJson, loads

    try:
        loads(line)
    except NotJson:
        return False
    return True


def check_documents(path: str, docs: list[Any], policy: Any = None) -> Iterator[Checked]:
    """Every event in the documents, unwrapped by the functions' own code, with its errors (and, with a
    guardrails ``policy``, what the webhook's early check would deny)."""
    index = 0
    for doc in docs:
        for element in doc if isinstance(doc, list) else [doc]:
            if _is_http_event(element):  # what the webhook's HTTP trigger hands it: the body's events
                for raw, errors, message_id in _http_body(element):
                    yield _checked(path, index, raw, _guarded(raw, errors, policy), message_id)
                    index += 1
                continue
            raw, errors, message_id = _delivered(element)
            yield _checked(path, index, raw, _guarded(raw, errors, policy), message_id)
            index += 1


def _guarded(raw: Any, errors: list[Any], policy: Any) -> list[Any]:
    """A valid event's errors plus the guardrail that denies it without the live rule (``early``)."""
    if policy is None or errors:
        return errors
    from ..contract.event import parse_event
    from ..guardrails import denied_error, early

    verdict = early(policy, parse_event(raw))
    return [denied_error(verdict)] if verdict is not None else []


def _delivered(element: Any) -> tuple[Any, list[Any], str | None]:
    """(the event, its errors, the MNS message id) of one element, opened by the apply function's envelope code."""
    from ..contract.envelope import item
    from ..contract.event import event_errors

    delivered = item(element)
    if delivered is None:  # no known shape: judged as a bare event, which says what is wrong
        return element, event_errors(element), None
    if delivered.error is not None:
        return None, [delivered.error], delivered.message_id
    message_id = None if delivered.raw is element else delivered.message_id  # a bare event's id is no message id
    return delivered.raw, event_errors(delivered.raw), message_id


def _checked(path: str, index: int, raw: Any, errors: list[Any], message_id: str | None) -> Checked:
    from ..contract import safe

    ident = safe.optional(raw.get("id")) if isinstance(raw, dict) else None
    return Checked(path, index, safe.optional(message_id), ident, errors)


def _is_http_event(element: Any) -> bool:
    return isinstance(element, dict) and isinstance(element.get("requestContext"), dict) and "body" in element \
        and "specversion" not in element


def _http_body(event: dict[str, Any]) -> Iterator[tuple[Any, list[Any], str | None]]:
    """The rule-change events in the body of an FC HTTP trigger event (JSON text or base64), read by the
    webhook's own request code; a ticket payload is named as such (the sender's mapping builds its changes)."""
    from ..contract.errors import SgruleError
    from ..webhook.http import BadRequest, parse_event
    from ..webhook.tickets import is_native

    def bad(message: str) -> Iterator[tuple[Any, list[Any], str | None]]:
        yield None, [SgruleError("InvalidEvent.Malformed", message, field="body")], None

    try:
        docs = read_documents(parse_event(event).body.decode("utf-8"))
    except BadRequest as exc:
        yield from bad(f"The HTTP trigger event cannot be read: {exc.message}")
        return
    except (UnicodeDecodeError, Unreadable) as exc:
        yield from bad(f"The HTTP request's body is not JSON: {exc}")
        return
    for doc in docs:
        if not is_native(doc):
            yield from bad("The HTTP request's body is a ticket payload, not rule-change events: the webhook builds "
                           "its changes with the sender's mapping. Try it with `sgrule local invoke ticket_webhook "
                           "--event FILE --env SGRULE_WEBHOOK_SENDERS=...`, or validate the sgrule block's events.")
            continue
        for element in doc if isinstance(doc, list) else [doc]:
            yield _delivered(element)


def _read(path: str) -> str:
    if path == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is None:  # stdin replaced by a text stream (main() called from Python)
            return sys.stdin.read()
        data = buffer.read()
    else:
        data = Path(path).read_bytes()
    return data.decode("utf-8-sig")  # a byte-order mark, as some editors write, is not an error


def check_file(path: str, policy: Any = None) -> FileReport:
    report = FileReport(path)
    try:
        text = _read(path)
    except OSError as exc:
        report.unreadable = exc.strerror or str(exc)
        return report
    except UnicodeDecodeError as exc:
        report.unreadable = f"not UTF-8 text (byte offset {exc.start})"
        return report
    try:
        docs = read_documents(text)
    except Unreadable as exc:
        report.unreadable = f"not JSON: {exc}"
        return report
    report.events = list(check_documents(path, docs, policy))
    return report


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "validate", help="check rule-change events (bare, or as the change queue delivers them)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  sgrule validate events/rule-change/invalid.json\n"
               "  sgrule validate events/apply/mns-batch.json --format json | jq 'select(.valid | not)'\n"
               "  sgrule local generate-event mns changes.json | sgrule validate -")
    p.add_argument("files", nargs="*", metavar="FILE", help="files to read; - or nothing for stdin")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="output format (default: table on a terminal, json when piped)")
    p.add_argument("--guardrails", metavar="POLICY", default=None,
                   help="also judge each valid event by this guardrails policy, as the ticket webhook does "
                        "before the live rule is known (Forbidden.Guardrail); exit 2 if the policy is invalid")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    fmt = pick_format(args.format)
    policy = None
    if args.guardrails:
        from .guardrails import load_or_say

        policy = load_or_say(args.guardrails, "sgrule validate")
        if policy is None:
            return 2
    reports = []
    for path in args.files or ["-"]:
        report = check_file(path, policy)
        reports.append(report)
        if fmt == "json":  # streamed: a big file's results appear as they are known
            for checked in report.events:
                # strict JSON (RFC 8259), always: error texts are made safe by the contract (safe.text)
                print(json.dumps(checked.to_json(), ensure_ascii=False, allow_nan=False))
            _note(report)
    if fmt == "table":
        sys.stdout.write(render_table(reports, use_colour()))
    sys.stdout.flush()
    if any(r.unreadable for r in reports):
        return 2
    return 1 if any(c.errors for r in reports for c in r.events) else 0


def _note(report: FileReport) -> None:
    if report.unreadable:
        print(f"sgrule validate: cannot read {report.path}: {report.unreadable}. Fix the file (or its path); "
              "the other files were checked.", file=sys.stderr)
    elif not report.events:
        print(f"sgrule validate: {report.path}: no events", file=sys.stderr)


def render_table(reports: list[FileReport], colour: bool = False) -> str:
    rows: list[list[Any]] = []
    for r in reports:
        if r.unreadable:
            rows.append(["unreadable", r.path, "", "", r.unreadable])
        elif not r.events:
            rows.append(["empty", r.path, "", "", "no events"])
        for c in r.events:
            name = c.id if c.id is not None else (f"message {c.message_id}" if c.message_id else "")
            first, *more = c.errors or [None]
            rows.append(["invalid" if c.errors else "valid", r.path, c.index, name, _error_text(first)])
            rows.extend(["", "", "", "", _error_text(e)] for e in more)
    events = [c for r in reports for c in r.events]
    invalid = sum(1 for c in events if c.errors)
    unreadable = sum(1 for r in reports if r.unreadable)
    summary = (f"{len(events)} event(s) in {len(reports)} file(s): {len(events) - invalid} valid, "
               f"{invalid} invalid" + (f"; {unreadable} file(s) unreadable" if unreadable else ""))
    return table(["status", "file", "#", "id", "error"], rows, widths=(10, 40, 5, 32, None), status_column=0,
                 colour=colour) + "\n" + summary + "\n"


def _error_text(error: Any) -> str:
    if error is None:
        return ""
    return f"{error.code}" + (f" ({error.field})" if error.field else "") + f": {error.message}"

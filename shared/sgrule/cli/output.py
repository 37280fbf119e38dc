"""What the commands print: JSON when piped (or with ``--format json``), a readable table on a terminal.

The table is for people: every cell is display text (control characters escaped, so a value a sender wrote
cannot move the cursor or recolour the terminal), long cells are cut, and colour is used only on a terminal
without ``NO_COLOR``. Columns are measured in terminal columns, not characters: a Chinese (or any East Asian
wide) character takes two, a combining mark none, so a description written in Chinese keeps its column
aligned. Scripts read the JSON.
"""
from __future__ import annotations

import json
import os
import sys
import unicodedata
from collections import Counter
from typing import Any, Sequence, TextIO

from ..contract.safe import NotJson, loads, text

FORMATS = ("table", "json")
_COLOURS = {"valid": "32", "applied": "32", "unchanged": "32", "ok": "32", "accepted": "32",
            "invalid": "31", "rejected": "31", "failed": "31", "unreadable": "31", "missing": "31",
            "superseded": "33", "empty": "33"}


def pick_format(fmt: str | None, stream: TextIO | None = None) -> str:
    """The format asked for, else a table on a terminal and JSON when piped."""
    if fmt:
        return fmt
    stream = stream or sys.stdout
    try:
        return "table" if stream.isatty() else "json"
    except (AttributeError, ValueError):  # a closed or unusual stream: the safe choice
        return "json"


def use_colour(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    try:
        return stream.isatty() and not os.environ.get("NO_COLOR")
    except (AttributeError, ValueError):
        return False


def columns(value: str) -> int:
    """How many terminal columns ``value`` takes: East Asian wide and fullwidth characters (Chinese, Japanese,
    Korean, fullwidth forms) two, nonspacing marks and format characters none, the rest one (as terminals count)."""
    if value.isascii():
        return len(value)
    return sum(_columns(c) for c in value)


def _columns(char: str) -> int:
    if char.isascii():
        return 1
    if unicodedata.category(char) in ("Mn", "Me", "Cf"):  # nonspacing and enclosing marks, format characters
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def pad(value: str, width: int) -> str:
    """``value`` followed by spaces up to ``width`` terminal columns."""
    return value + " " * (width - columns(value))


def cell(value: Any, width: int | None = None) -> str:
    """``value`` as one line of display text, cut to ``width`` terminal columns with an ellipsis."""
    if value is None:
        return ""
    shown = text(value if isinstance(value, str) else str(value), 4096)
    if width is None or columns(shown) <= width:
        return shown
    room, used, end = max(1, width - 1), 0, 0
    for index, char in enumerate(shown):
        end = index
        used += _columns(char)
        if used > room:
            break
    return shown[:max(1, end)] + "…"


def paint(value: str, status: str, colour: bool) -> str:
    code = _COLOURS.get(status)
    return f"\x1b[{code}m{value}\x1b[0m" if colour and code else value


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, widths: Sequence[int | None] = (),
          status_column: int | None = None, colour: bool = False) -> str:
    """Aligned columns; the last column is never padded. ``widths`` caps columns (None: no cap)."""
    caps = list(widths) + [None] * (len(headers) - len(widths))
    cells = [[cell(v, caps[i]) for i, v in enumerate(row)] for row in rows]
    size = [max([columns(h)] + [columns(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str], status: str | None = None) -> str:
        parts = []
        for i, v in enumerate(values):
            padded = v if i == len(values) - 1 else pad(v, size[i])
            parts.append(paint(padded, status or "", colour) if i == status_column and v else padded)
        return "  ".join(parts).rstrip()

    out = [line([h.upper() for h in headers])]
    out += [line(r, r[status_column] if status_column is not None else None) for r in cells]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ function results (``local invoke``)


def render_result(doc: Any, colour: bool = False) -> str | None:
    """A function's return value as people read it, or None when it has no shape known here (then the
    caller prints JSON): outcome events (apply), an HTTP response (webhook), a normaliser report, counts."""
    if isinstance(doc, list) and doc and all(_is_outcome(o) for o in doc):
        return render_outcomes(doc, colour)
    if isinstance(doc, dict):
        if "statusCode" in doc and "body" in doc:
            return _render_http(doc, colour)
        if "scanId" in doc and "counts" in doc and "changes" in doc:
            from .normalise import render

            return render(doc, "table", color=colour)
        if doc and all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in doc.items()):
            return table(["what", "count"], sorted(doc.items()))
    return None


def _is_outcome(o: Any) -> bool:
    return (isinstance(o, dict) and isinstance(o.get("data"), dict) and "status" in o["data"]
            and str(o.get("type", "")).startswith("sgrule.egress.modify."))


def render_outcomes(outcomes: list[dict[str, Any]], colour: bool = False) -> str:
    """One row per outcome event (change, status, group/rule, error), then the counts per status."""
    rows = []
    for o in outcomes:
        d = o["data"]
        err = d.get("error") if isinstance(d.get("error"), dict) else None
        where = "/".join(str(x) for x in (d.get("securityGroupId"), d.get("securityGroupRuleId")) if x)
        rows.append([d.get("status"), d.get("changeId"), where,
                     f"{err.get('code')}: {err.get('message')}" if err else ""])
    counts = Counter(str(d["data"].get("status")) for d in outcomes)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return (table(["status", "change", "rule", "error"], rows, widths=(11, 32, 40, None), status_column=0,
                  colour=colour)
            + f"\n{len(outcomes)} change(s): {summary}\n")


def _render_http(doc: dict[str, Any], colour: bool) -> str:
    status = doc.get("statusCode")
    body = doc.get("body")
    try:
        parsed = loads(body) if isinstance(body, str) and not doc.get("isBase64Encoded") else None
    except NotJson:
        parsed = None
    head = f"HTTP {status}"
    ok = isinstance(status, int) and 200 <= status < 300
    lines = [paint(head, "ok" if ok else "failed", colour)]
    if isinstance(parsed, dict):
        for change in parsed.get("accepted") or []:
            lines.append(f"  accepted  {cell(change, 80)}")
        if parsed.get("queue"):
            lines.append(f"  queue     {cell(parsed['queue'], 80)}")
        errors = parsed.get("errors") or []
        if errors:
            rows = [[e.get("index"), e.get("code"), e.get("field"), e.get("message")] for e in errors
                    if isinstance(e, dict)]
            lines.append("")
            lines.append(table(["index", "code", "field", "message"], rows, widths=(5, 40, 32, None)).rstrip())
        rest = {k: v for k, v in parsed.items() if k not in ("accepted", "queue", "errors")}
        for key, value in rest.items():
            lines.append(f"  {cell(key, 20)}  {cell(json.dumps(value, ensure_ascii=False), 100)}")
    elif body:
        lines.append(f"  {cell(body, 200)}")
    return "\n".join(lines) + "\n"

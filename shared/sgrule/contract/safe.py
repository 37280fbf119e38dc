"""Making a sender's raw values safe to copy into an outcome, a log line or an error message.

A value that failed validation can be anything JSON allows: a lone surrogate (``"\\ud800"`` is legal JSON
text but no UTF-8 encoder takes it), control characters, megabytes. Copied as it is, it can make the
outcome unencodable or too long for EventBridge, and every redelivery of the batch fails the same way.
So every raw value passes through :func:`text` first: valid Unicode, control characters escaped, at most
``limit`` characters -- a cut value ends with a marker carrying the SHA-256 of the whole, so it can still be
matched to its source.

Reading is the other half: every door reads the JSON a sender wrote through :func:`loads`, which turns
everything Python's own reader would raise on hostile text -- an integer longer than Python converts
(``ValueError``, not a ``JSONDecodeError``), nesting deeper than its recursion limit (``RecursionError``),
bytes that are not UTF-8 -- into one :class:`NotJson` with a reason a sender can act on, and stops
nesting at :data:`MAX_DEPTH` so that nothing after the door recurses out of stack on what got through.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def digest(value: str) -> str:
    """SHA-256 (hex) of any Python string, lone surrogates included."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def text(value: Any, limit: int = 256) -> str:
    """``value`` as safe display text of at most ``limit`` characters (``limit`` >= 80)."""
    raw = value if isinstance(value, str) else repr(value)
    clean = _SURROGATE.sub("\ufffd", raw)
    clean = _CONTROL.sub(lambda m: _ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), clean)
    if len(clean) <= limit:
        return clean
    marker = f"…[{len(raw)} chars, sha256:{digest(raw)[:16]}]"
    return clean[:limit - len(marker)] + marker


def optional(value: Any, limit: int = 256) -> str | None:
    """:func:`text` of a string; None for anything else (a non-string id is no id)."""
    return text(value, limit) if isinstance(value, str) else None


def is_clean(value: str) -> bool:
    """No lone surrogates and no control characters (what CloudEvents allows in a String)."""
    return not _SURROGATE.search(value) and not _CONTROL.search(value)


MAX_DEPTH = 100  # arrays/objects inside each other; what a sender writes nests a few levels
MAX_INT_DIGITS = 4300  # Python's own default limit (sys.get_int_max_str_digits), stated once for every door


class NotJson(ValueError):
    """Text a door does not take as JSON. ``reason`` says why; ``line``/``column`` where, when known."""

    def __init__(self, reason: str, line: int | None = None, column: int | None = None) -> None:
        self.reason, self.line, self.column = reason, line, column
        super().__init__(reason if line is None else f"{reason} (line {line}, column {column})")


def _int(digits: str) -> int:
    count = len(digits) - digits.startswith("-")
    if count > MAX_INT_DIGITS:
        raise NotJson(f"an integer of {count} digits (at most {MAX_INT_DIGITS})")
    return int(digits)


def _constant(name: str) -> Any:
    raise NotJson(f"{name} is not a JSON number")


def _finite(digits: str) -> float:
    number = float(digits)
    if not math.isfinite(number):
        raise NotJson(f"the number {digits[:20]}{'…' if len(digits) > 20 else ''} is out of range")
    return number


def loads(text: str | bytes | bytearray, *, strict: bool = False) -> Any:
    """JSON a sender wrote -> Python values, or :class:`NotJson` (never another exception).

    Refused always: syntax errors (with line and column), bytes that are not UTF-8, an integer of more than
    :data:`MAX_INT_DIGITS` digits, nesting deeper than :data:`MAX_DEPTH`. ``strict`` refuses as well what
    RFC 8259 leaves out and Python takes: ``NaN``/``Infinity``, numbers beyond a double, lone surrogates."""
    try:
        if strict:
            value = json.loads(text, parse_int=_int, parse_constant=_constant, parse_float=_finite)
        else:
            value = json.loads(text, parse_int=_int)
    except NotJson:
        raise
    except json.JSONDecodeError as exc:
        raise NotJson(exc.msg, exc.lineno, exc.colno) from None
    except RecursionError:
        raise NotJson(f"nested more than {MAX_DEPTH} levels deep") from None
    except UnicodeDecodeError as exc:
        raise NotJson(f"not UTF-8 text (byte offset {exc.start})") from None
    except ValueError as exc:  # anything else the reader refuses; its message is all there is
        raise NotJson(str(exc)) from None
    if isinstance(value, (dict, list)) and _too_deep(value):
        raise NotJson(f"nested more than {MAX_DEPTH} levels deep")
    if strict and _has_surrogate(value):
        raise NotJson("a string holds a lone surrogate (\\ud800-\\udfff)")
    return value


def _too_deep(value: dict[str, Any] | list[Any]) -> bool:
    level: list[Any] = [value]
    for _ in range(MAX_DEPTH):
        inner: list[Any] = []
        for v in level:
            for child in (v.values() if isinstance(v, dict) else v):
                if isinstance(child, (dict, list)):
                    inner.append(child)
        if not inner:
            return False
        level = inner
    return True


def _has_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if _SURROGATE.search(v):
                return True
        elif isinstance(v, dict):
            stack.extend(v)
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False

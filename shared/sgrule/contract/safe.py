"""Making a sender's raw values safe to copy into an outcome, a log line or an error message.

A value that failed validation can be anything JSON allows: a lone surrogate (``"\\ud800"`` is legal JSON
text but no UTF-8 encoder takes it), control characters, megabytes. Copied as it is, it can make the
outcome unencodable or too long for EventBridge, and every redelivery of the batch fails the same way.
So every raw value passes through :func:`text` first: valid Unicode, control characters escaped, at most
``limit`` characters -- a cut value ends with a marker carrying the SHA-256 of the whole, so it can still be
matched to its source.
"""
from __future__ import annotations

import hashlib
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

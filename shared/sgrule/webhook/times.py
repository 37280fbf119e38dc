"""Times as ticket systems write them, read the same way on every Python version (before 3.11,
``datetime.fromisoformat`` takes neither ``Z`` nor ``+0000`` nor nanoseconds)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any


def rfc3339(value: Any) -> str | None:
    """A ticket system's time as RFC 3339 UTC with microseconds: ISO 8601 with an offset (``+0000`` and
    ``2026-01-02 03:04:05 +0000`` too), or epoch seconds / milliseconds. None if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:  # a huge integer overflows even the division; no epoch time is that large
            seconds = value / 1000 if abs(value) >= 1e11 else value  # Jira's `timestamp` is in ms
            moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            return None
    elif isinstance(value, str):
        moment = parse_iso8601(value)
        if moment is None:
            return None
    else:
        return None
    try:
        utc = moment.astimezone(timezone.utc)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        return None
    if not 1970 <= utc.year <= 9998:
        return None
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_ISO = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:[.,]([0-9]{1,12}))?"
                  r" ?(?:([Zz])|([+-])([0-9]{2}):?([0-9]{2}))$")


def parse_iso8601(text: str) -> datetime | None:
    """ISO 8601 date-time with an offset, the forms ticket systems send (any fraction length, ``Z``,
    ``+00:00`` or ``+0000``, ``T`` or a space) -- the same on every Python version. None otherwise."""
    m = _ISO.match(text.strip()) if len(text) <= 64 else None
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micros = int((m.group(7) or "0")[:6].ljust(6, "0"))
    try:
        offset = timedelta(0) if m.group(8) else \
            (1 if m.group(9) == "+" else -1) * timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        return datetime(year, month, day, hour, minute, second, micros, tzinfo=timezone(offset))
    except (ValueError, OverflowError):
        return None

"""The JSON a client sends, read the way a service answers it: anything unreadable is a ``ValueError``.

Python's own reader raises ``ValueError`` for most bad text (an integer longer than it converts included),
but ``RecursionError`` for deep nesting; and a document nested just short of its limit still breaks any
code that walks it afterwards (matching, re-encoding). So a request body nested more than ``MAX_DEPTH``
levels is refused at the door, as a malformed body, like any other.
"""
from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 100


def loads(text: str | bytes | bytearray) -> Any:
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    level = [value]
    for _ in range(MAX_DEPTH):
        level = [c for v in level if isinstance(v, (dict, list))
                 for c in (v.values() if isinstance(v, dict) else v) if isinstance(c, (dict, list))]
        if not level:
            return value
    raise ValueError(f"nested more than {MAX_DEPTH} levels deep")

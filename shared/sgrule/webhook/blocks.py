"""Finding the ``sgrule`` blocks in a ticket's text: where people write the changes they ask for.

Three spellings, whichever the ticket system's editor produces:

- a Markdown fenced code block (GitHub, PagerDuty notes, Zendesk, plain text)::

      ```sgrule
      {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-bp1payments01", ...}
      ```

- Jira wiki markup: ``{code:sgrule} ... {code}``;
- an Atlassian Document Format document (Jira's REST v3 shape): a ``codeBlock`` node whose language is
  ``sgrule``.

Scans are linear in the text (no backtracking regex over it), so a hostile body costs no more than its size.
"""
from __future__ import annotations

import re
from typing import Any

LABEL = "sgrule"
MAX_ADF_NODES = 20000  # a larger document is not searched further (bodies are <= 256 KB anyway)
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*sgrule[ \t]*$", re.I)
_WIKI_OPEN = re.compile(r"\{code:(?:language=)?sgrule(?:\|[^{}\n]*)?\}", re.I)
_WIKI_CLOSE = "{code}"


def find_blocks(value: Any) -> list[str]:
    """The text of every sgrule block in ``value`` (a string, or an Atlassian document), in order."""
    if isinstance(value, str):
        return [text for _, text in sorted(_fenced(value) + _wiki(value))]
    if isinstance(value, dict):
        return _adf(value)
    return []


def _fenced(text: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    fence: str | None = None
    start = 0
    lines: list[str] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        if fence is None:
            m = _FENCE_OPEN.match(bare)
            if m:
                fence, start, lines = m.group(1), pos, []
        elif _closes(bare, fence):
            found.append((start, "".join(lines)))
            fence = None
        else:
            lines.append(line)
        pos += len(line)
    if fence is not None:  # CommonMark: an unclosed fence runs to the end of the document
        found.append((start, "".join(lines)))
    return found


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    indent = len(line) - len(line.lstrip(" "))
    return indent <= 3 and len(stripped) >= len(fence) and set(stripped) == {fence[0]}


def _wiki(text: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    pos = 0
    while True:
        m = _WIKI_OPEN.search(text, pos)
        if m is None:
            return found
        end = text.find(_WIKI_CLOSE, m.end())
        if end < 0:
            found.append((m.start(), text[m.end():]))
            return found
        found.append((m.start(), text[m.end():end]))
        pos = end + len(_WIKI_CLOSE)


def _adf(doc: dict[str, Any]) -> list[str]:
    found: list[str] = []
    stack: list[Any] = [doc]
    seen = 0
    while stack and seen < MAX_ADF_NODES:
        node = stack.pop()
        seen += 1
        if not isinstance(node, dict):
            continue
        content = node.get("content")
        children = content if isinstance(content, list) else []
        attrs = node.get("attrs")
        language = attrs.get("language") if isinstance(attrs, dict) else None
        if node.get("type") == "codeBlock" and isinstance(language, str) and language.lower() == LABEL:
            found.append("".join(c["text"] for c in children
                                 if isinstance(c, dict) and isinstance(c.get("text"), str)))
            continue
        stack.extend(reversed(children))  # depth-first, document order
    return found

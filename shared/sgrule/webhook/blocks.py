"""Finding the ``sgrule`` blocks in a ticket's text: where people write the changes they ask for.

Three spellings, whichever the ticket system's editor produces:

- a Markdown fenced code block (GitHub, PagerDuty notes, Zendesk, plain text)::

      ```sgrule
      {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-bp1payments01", ...}
      ```

- Jira wiki markup: ``{code:sgrule} ... {code}``;
- an Atlassian Document Format document (Jira's REST v3 shape): a ``codeBlock`` node whose language is
  ``sgrule``.

**Only what a reader sees is a change.** A block is ignored when a reader of the rendered ticket would not
see it as a block of its own: inside an HTML comment (``<!-- -->``), inside another code block (an example
quoted in a ````` ````text ````` fence or a ``{code:java}``), inside a quote (``>`` lines, ``{quote}``,
an ADF ``blockquote``), inside ``{noformat}``, or inside something collapsed (``<details>``, an ADF
``expand``/``nestedExpand``). The Markdown and the wiki readings each mark what they hide, and a block
found by one must not start inside anything the other hides (a Jira description is wiki markup, a GitHub
issue Markdown; a block must be visible in either reading).

Scans are linear in the text (no backtracking regex over it), so a hostile body costs no more than its size.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from typing import Any

LABEL = "sgrule"
MAX_ADF_NODES = 20000  # a larger document is not searched further (bodies are <= 256 KB anyway)
# ADF nodes whose content a reader does not see as part of the page: collapsed, quoted, or macros.
ADF_HIDDEN = frozenset({"expand", "nestedExpand", "blockquote", "extension", "bodiedExtension", "inlineExtension"})
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_QUOTE = re.compile(r"^ {0,3}>")
_DETAILS_OPEN = re.compile(r"<details[\s>]", re.I)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.I)
_WIKI = re.compile(r"\{(code|noformat|quote)(?::([^{}\n]*))?\}", re.I)

Span = tuple[int, int]  # [start, end) character offsets


def find_blocks(value: Any) -> list[str]:
    """The text of every visible sgrule block in ``value`` (a string, or an Atlassian document), in order."""
    if isinstance(value, str):
        return _text_blocks(value)
    if isinstance(value, dict):
        return _adf(value)
    return []


def _text_blocks(text: str) -> list[str]:
    md_blocks, md_hidden = _markdown(text)
    wiki_blocks, wiki_hidden = _wiki(text)
    found = [(start, body) for start, body in md_blocks if not _inside(start, wiki_hidden)]
    found += [(start, body) for start, body in wiki_blocks if not _inside(start, md_hidden)]
    return [body for _, body in sorted(found)]


def _inside(offset: int, spans: list[Span]) -> bool:
    """Whether ``offset`` lies in one of ``spans`` (sorted by start, not overlapping)."""
    i = bisect_right(spans, (offset, float("inf"))) - 1
    return i >= 0 and spans[i][0] <= offset < spans[i][1]


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


# --------------------------------------------------------------------------------------------- Markdown

def _markdown(text: str) -> tuple[list[tuple[int, str]], list[Span]]:
    """Visible sgrule fences (offset, content), and the spans a Markdown reader does not see as text:
    every fence's content, HTML comments, quote lines, ``<details>`` sections."""
    blocks: list[tuple[int, str]] = []
    hidden: list[Span] = []
    fence: tuple[str, int, bool] | None = None  # (marker, start offset, is ours)
    lines: list[str] = []
    comment_from: int | None = None
    details_from: int | None = None
    details_depth = 0
    pos = 0
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        start, pos = pos, pos + len(line)
        if fence is not None:
            if _closes(bare, fence[0]):
                if fence[2]:
                    blocks.append((fence[1], "".join(lines)))
                hidden.append((fence[1], pos))
                fence = None
            else:
                lines.append(line)
            continue
        if comment_from is not None:
            end = bare.find("-->")
            if end < 0:
                continue
            hidden.append((comment_from, start + end + 3))
            comment_from = None
            bare, start = bare[end + 3:], start + end + 3  # the rest of the line may hold more
        if details_depth:
            opened = len(_DETAILS_OPEN.findall(bare + " "))
            closed = len(_DETAILS_CLOSE.findall(bare))
            details_depth = max(0, details_depth + opened - closed)
            if not details_depth:
                hidden.append((details_from or 0, pos))
            continue
        if _QUOTE.match(bare):
            hidden.append((start, pos))
            continue
        m = _FENCE.match(bare)
        if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
            fence, lines = (m.group(1), start, m.group(2).strip().lower() == LABEL), []
            continue
        comment_from = _comments(bare, start, hidden)
        if comment_from is None and _DETAILS_OPEN.search(bare + " "):
            details_from = start
            details_depth = max(0, len(_DETAILS_OPEN.findall(bare + " ")) - len(_DETAILS_CLOSE.findall(bare)))
            hidden.append((start, pos))
    if fence is not None:  # CommonMark: an unclosed fence runs to the end of the document
        if fence[2]:
            blocks.append((fence[1], "".join(lines)))
        hidden.append((fence[1], pos))
    for open_from in (comment_from, details_from if details_depth else None):
        if open_from is not None:  # unclosed: hides the rest
            hidden.append((open_from, pos))
    return blocks, _merge(hidden)


def _comments(line: str, offset: int, hidden: list[Span]) -> int | None:
    """Record the HTML comments closed within ``line``; the offset of one left open, else None."""
    at = 0
    while True:
        begin = line.find("<!--", at)
        if begin < 0:
            return None
        end = line.find("-->", begin + 4)
        if end < 0:
            return offset + begin
        hidden.append((offset + begin, offset + end + 3))
        at = end + 3


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    indent = len(line) - len(line.lstrip(" "))
    return indent <= 3 and len(stripped) >= len(fence) and set(stripped) == {fence[0]}


# --------------------------------------------------------------------------------------------- Jira wiki

def _wiki(text: str) -> tuple[list[tuple[int, str]], list[Span]]:
    """Visible ``{code:sgrule}`` blocks, and the spans a wiki reader does not see as text: every
    ``{code}`` block, ``{noformat}`` and ``{quote}`` sections."""
    blocks: list[tuple[int, str]] = []
    hidden: list[Span] = []
    pos = 0
    while True:
        m = _WIKI.search(text, pos)
        if m is None:
            return blocks, hidden
        macro = m.group(1).lower()
        closing = "{" + macro + "}"
        end = _find_ci(text, closing, m.end())
        stop = len(text) if end < 0 else end + len(closing)
        if macro == "code" and _language(m.group(2)) == LABEL:
            blocks.append((m.start(), text[m.end():len(text) if end < 0 else end]))
        hidden.append((m.start(), stop))
        pos = stop


def _find_ci(text: str, needle: str, start: int) -> int:
    m = re.compile(re.escape(needle), re.I).search(text, start)
    return m.start() if m else -1


def _language(params: str | None) -> str | None:
    """``{code:sgrule|title=x}`` and ``{code:language=sgrule}`` name the language; ``{code}`` none."""
    if not params:
        return None
    for i, part in enumerate(params.split("|")):
        key, eq, value = part.partition("=")
        if eq and key.strip().lower() == "language":
            return value.strip().lower()
        if not eq and i == 0:
            return key.strip().lower()
    return None


# --------------------------------------------------------------------------------------------- ADF

def _adf(doc: dict[str, Any]) -> list[str]:
    found: list[str] = []
    stack: list[Any] = [doc]
    seen = 0
    while stack and seen < MAX_ADF_NODES:
        node = stack.pop()
        seen += 1
        if not isinstance(node, dict) or node.get("type") in ADF_HIDDEN:
            continue
        content = node.get("content")
        children = content if isinstance(content, list) else []
        attrs = node.get("attrs")
        language = attrs.get("language") if isinstance(attrs, dict) else None
        if node.get("type") == "codeBlock":
            if isinstance(language, str) and language.lower() == LABEL:
                found.append("".join(c["text"] for c in children
                                     if isinstance(c, dict) and isinstance(c.get("text"), str)))
            continue
        stack.extend(reversed(children))  # depth-first, document order
    return found

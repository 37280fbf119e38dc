"""The policy's steps: small pure functions from a description (and its rule) to a description.

Each returns the new text; the ticket step also says whether a ticket reference is missing. None of them
knows about the others: the order (and running the steps until nothing changes) is ``sgrule.normalise.policy``.
"""
from __future__ import annotations

import re
import unicodedata
from string import Formatter
from typing import Any

from ..contract.rule import DESTINATIONS, RULE_FIELDS

# Controls that stand for a gap between words: they become a space, not nothing ("a\tb" -> "a b").
_SPACING_CONTROLS = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x1f\x85")
_WHITESPACE = re.compile(r"\s+")
# Names a default-description template may use: every rule field, plus {destination}.
TEMPLATE_FIELDS = frozenset(RULE_FIELDS) | {"destination", "SecurityGroupId", "SecurityGroupRuleId", "RegionId"}


def strip_control(text: str, format_characters: bool = True) -> str:
    """Drop control characters (Unicode Cc: C0, DEL, C1) and lone surrogates; tabs and line breaks become
    spaces. With ``format_characters``, also the invisible format characters (Cf: zero-width spaces, BOM,
    bidirectional overrides that make text read differently than it is stored)."""
    if text.isprintable():  # no control, format, surrogate or separator character but the space: the usual case
        return text
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in _SPACING_CONTROLS:
            out.append(" ")
        elif cat == "Cc" or cat == "Cs" or (format_characters and cat == "Cf"):
            continue
        else:
            out.append(ch)
    return "".join(out)


def nfc(text: str) -> str:
    """Unicode normalisation form C: one spelling for the same text (e + U+0301 -> é)."""
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def whitespace(text: str) -> str:
    """Trim both ends and collapse every run of whitespace (any Unicode space) to one ASCII space."""
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text  # printable: the ASCII space is its only whitespace, and it is neither doubled nor at an end
    return _WHITESPACE.sub(" ", text).strip()


def replace(text: str, rules: list[tuple[re.Pattern[str], str]]) -> str:
    """Each regular-expression replacement in order (Python ``re.sub`` syntax: ``\\1``, ``\\g<name>``)."""
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def require_ticket(text: str, pattern: re.Pattern[str], missing: str, marker: str | None,
                   position: str) -> tuple[str, bool]:
    """(new text, whether the description lacks a ticket reference). ``missing="marker"`` adds the marker
    (once: a description that already carries it is left alone); ``"report"`` only reports."""
    if pattern.search(text):
        return text, False
    if missing != "marker" or not marker:
        return text, True
    if position == "prefix":
        if text.startswith(marker):
            return text, True
        return (f"{marker} {text}" if text else marker), True
    if text.endswith(marker):
        return text, True
    return (f"{text} {marker}" if text else marker), True


def destination(rule: dict[str, Any]) -> str:
    """The rule's destination, whichever kind it is (CIDR block, security group, prefix list)."""
    return next((str(rule[name]) for name in DESTINATIONS if rule.get(name) not in (None, "")), "")


def template_fields(template: str) -> list[str]:
    """The placeholder names in a ``str.format`` template; ValueError if it is malformed."""
    names = []
    for _, name, spec, conversion in Formatter().parse(template):
        if name is None:
            continue
        if name == "" or spec or conversion:
            raise ValueError("placeholders are plain names in braces, such as {IpProtocol}")
        names.append(name)
    return names


def default_description(text: str, rule: dict[str, Any], template: str) -> str:
    """An empty description becomes the template filled from the rule; any other text is kept."""
    if text:
        return text
    values = {name: "" if rule.get(name) is None else str(rule[name]) for name in TEMPLATE_FIELDS}
    values["destination"] = destination(rule)
    return whitespace(template.format_map(values))  # an absent field leaves no double space


def limit(text: str, max_length: int, ellipsis: str) -> str:
    """At most ``max_length`` characters: cut at the last word boundary that fits, then ``ellipsis``."""
    if len(text) <= max_length:
        return text
    room = max_length - len(ellipsis)
    head = text[:room]
    if not text[room].isspace():  # the cut falls inside a word: go back to the space before it
        space = max((i for i, ch in enumerate(head) if ch.isspace()), default=-1)
        if space > 0:
            head = head[:space]
    head = head.rstrip()
    return head + ellipsis

"""From a request body to rule-change events: native events as they are, or a ticket's sgrule blocks.

A **native** body is a rule-change event or a JSON array of them (the contract every door shares). Any
other JSON object is a **ticket payload**: the sender's mapping (JMESPath, defaults per ticket system
below) finds the ticket key, its update time, its description and its latest comment.

**Who may ask**: each place a block comes from (``native``, ``comment``, ``description``) is put to the
caller's ``judge`` with its author as the payload names them (:data:`AUTHORS`); the sgrule blocks of the
latest comment win if it is authorized, else the description's if it is. A refused place is never parsed,
so a refused comment (even an empty or broken block) cannot suppress an authorized description. Nothing
authorized where blocks were found raises :class:`NotAuthorized`. Each block holds a JSON object of
``data`` fields or an array of them, and each becomes one event:

- ``id``: ``<ticket key>/<digest>``, the digest over the sender, the ticket key and the block's item
  (canonical JSON), so a retried or re-sent ticket never makes a second change;
- ``source``: ``ticketing/<sender>``; ``correlationid``: the ticket key;
- ``time``: the ticket's update time (the handler keeps the first one seen per change, see
  :mod:`.memory`).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..contract import safe
from ..contract.event import EVENT_TYPE
from .blocks import find_blocks
from .config import Mapping, Sender
from .times import rfc3339

MAX_KEY_CHARS = 128
_KEY = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$")  # printable ASCII, no edge spaces

# Where each ticket system puts what we need (JMESPath); a sender's mapping overrides field by field.
DEFAULT_MAPPINGS: dict[str, Mapping] = {
    # Jira Cloud issue / comment webhooks: {timestamp, webhookEvent, issue{key, fields{...}}, comment{...}}
    "jira": Mapping.model_construct(
        key="issue.key", updated="issue.fields.updated || timestamp", description="issue.fields.description",
        comment="comment.body || issue.fields.comment.comments[-1].body"),
    # GitHub `issues` and `issue_comment` events
    "github": Mapping.model_construct(
        key="join('#', [repository.full_name, to_string(issue.number)])", updated="issue.updated_at",
        description="issue.body", comment="comment.body"),
    # PagerDuty v3: incident events (no description) and incident.annotated notes
    "pagerduty": Mapping.model_construct(
        key="event.data.incident.id || event.data.id", updated="event.occurred_at", description=None,
        comment="event.data.content"),
    # Zendesk ticket events: {detail{id, description, updated_at}, event{comment{body}}}
    "zendesk": Mapping.model_construct(
        key="to_string(detail.id)", updated="detail.updated_at", description="detail.description",
        comment="event.comment.body"),
}


# Who wrote each place, per ticket system: JMESPath for (id, name, roles). Ids become strings; roles are the
# strings of the list (GitHub's author_association, PagerDuty's agent type, Zendesk staff or end-user).
AUTHORS: dict[str, dict[str, tuple[str, str | None, str]]] = {
    # Jira: the description's author is the user whose action sent the webhook; a comment's is its author.
    "jira": {"description": ("user.accountId", "user.displayName", "`[]`"),
             "comment": ("comment.author.accountId", "comment.author.displayName", "`[]`")},
    "github": {"description": ("issue.user.id", "issue.user.login", "[issue.author_association]"),
               "comment": ("comment.user.id", "comment.user.login", "[comment.author_association]")},
    "pagerduty": {"comment": ("event.agent.id", "event.agent.summary", "[event.agent.type]")},
    "zendesk": {"description": ("detail.requester_id", None, "`[]`"),
                "comment": ("event.comment.author.id", "event.comment.author.name",
                            "[event.comment.author.is_staff && 'staff' || 'end-user']")},
}
NOBODY: dict[str, Any] = {"id": None, "name": None, "roles": []}
# (from, author) -> authorized; ``from`` is "native", "comment" or "description".
Judge = Callable[[str, dict[str, Any]], bool]


class BodyError(Exception):
    """The body cannot become changes; ``errors`` are the response's entries."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "invalid body")
        self.errors = errors


class NotAuthorized(Exception):
    """Blocks were found, but none in a place the sender's policy authorizes (``refused``: those places)."""

    def __init__(self, refused: list[str]) -> None:
        super().__init__(", ".join(refused))
        self.refused = refused


@dataclass
class Extracted:
    events: list[dict[str, Any]]  # raw rule-change events, in request order
    native: bool
    ticket: str | None = None     # the ticket key (ticket payloads)
    note: str | None = None       # why nothing was found, for the response
    where: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # places whose blocks were not authorized


def error(code: str, message: str, field: str | None = None, index: int | None = None) -> dict[str, Any]:
    return {"index": index, "code": code, "message": message, "field": field}


def is_native(doc: Any) -> bool:
    return isinstance(doc, list) or (isinstance(doc, dict) and "specversion" in doc)


def extract(doc: Any, sender: Sender, judge: Judge) -> Extracted:
    if is_native(doc):
        events = doc if isinstance(doc, list) else [doc]
        if not events:
            raise BodyError([error("InvalidEvent.Malformed", "The array holds no rule-change event.")])
        if not judge("native", dict(NOBODY)):
            raise NotAuthorized(["native"])
        return Extracted(events=events, native=True)
    if not isinstance(doc, dict):
        raise BodyError([error("InvalidEvent.Malformed", "The body must be a rule-change event, an array of "
                                                         "them, or a ticket payload (a JSON object).")])
    mapping = _mapping(sender)
    if mapping is None:
        raise BodyError([error("InvalidEvent.Malformed",
                               f"Sender {sender.name!r} has no ticket mapping: send rule-change events "
                               "(an object with specversion, or an array), or configure its mapping.")])
    return _ticket(doc, sender, mapping, judge)


def _mapping(sender: Sender) -> Mapping | None:
    base = DEFAULT_MAPPINGS.get(sender.scheme)
    own = sender.mapping
    if own is None:
        return base
    merged = {k: (getattr(own, k) if getattr(own, k) is not None else getattr(base, k, None))
              for k in ("key", "updated", "description", "comment")}
    return Mapping.model_construct(**merged)


_compiled: dict[str, Any] = {}


def _search(expr: str | None, doc: Any) -> Any:
    if not expr:
        return None
    import jmespath  # a ticket payload needs it; native bodies never do
    from jmespath.exceptions import JMESPathError

    compiled = _compiled.get(expr)
    if compiled is None:
        compiled = _compiled[expr] = jmespath.compile(expr)
    try:
        return compiled.search(doc)
    except (JMESPathError, TypeError, ValueError, RecursionError):
        return None  # a payload of another shape: the value is simply not there


def author(scheme: str, origin: str, doc: Any) -> dict[str, Any]:
    """Who wrote ``origin`` (comment or description) of a ticket payload: ``{"id", "name", "roles"}``."""
    paths = AUTHORS.get(scheme, {}).get(origin)
    if paths is None:
        return dict(NOBODY)
    ident, name, roles = (_search(p, doc) for p in paths)
    return {"id": _text(ident), "name": name if isinstance(name, str) else None,
            "roles": [r for r in roles if isinstance(r, str)] if isinstance(roles, list) else []}


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _ticket(doc: dict[str, Any], sender: Sender, mapping: Mapping, judge: Judge) -> Extracted:
    found = {"comment": find_blocks(_search(mapping.comment, doc)),
             "description": find_blocks(_search(mapping.description, doc))}
    if not any(found.values()):
        return Extracted(events=[], native=False, note="no sgrule block in the description or the latest comment")
    refused: list[str] = []
    chosen: str | None = None
    for origin in ("comment", "description"):  # the latest comment wins, if it may ask
        if not found[origin]:
            continue
        if judge(origin, author(sender.scheme, origin, doc)):
            chosen = origin
            break
        refused.append(origin)
    if chosen is None:
        raise NotAuthorized(refused)
    where_name = "latest comment" if chosen == "comment" else "description"
    blocks = [(where_name, b) for b in found[chosen]]
    key = _key(_search(mapping.key, doc))
    updated = rfc3339(_search(mapping.updated, doc))
    if updated is None:
        raise BodyError([error("InvalidEvent.InvalidAttribute",
                               "The ticket's update time is missing or not a date-time with an offset "
                               "(check the sender's mapping.updated).", "time")])
    items: list[Any] = []
    errors: list[dict[str, Any]] = []
    for n, (where, text) in enumerate(blocks):
        try:
            value = loads(text)
        except ValueError as exc:
            errors.append(error("InvalidEvent.Malformed", f"sgrule block {n + 1} (in the {where}) is not JSON: "
                                                          f"{exc}", f"sgrule[{n}]"))
            continue
        items.extend(value if isinstance(value, list) else [value])
    if errors:
        raise BodyError(errors)
    for n, item in enumerate(items):
        if isinstance(item, dict) and "ClientToken" in item:  # identity is ours: see change_id_for
            errors.append(error("InvalidEvent.InvalidAttribute", "A ticket's change may not set ClientToken: "
                                "sgrule derives it from the sender, the ticket and the change. Remove it.",
                                "data.ClientToken", n))
    if errors:
        raise BodyError(errors)
    events: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:
        change_id = change_id_for(sender.name, key, item)
        if change_id in seen:  # the same request twice in one ticket is one change
            continue
        seen.add(change_id)
        events.append({"specversion": "1.0", "id": change_id, "source": f"ticketing/{sender.name}",
                       "type": EVENT_TYPE, "time": updated, "correlationid": key, "data": item})
    return Extracted(events=events, native=False, ticket=key, where=[where_name], refused=refused)


def _key(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BodyError([error("InvalidEvent.InvalidAttribute", "The ticket key is missing (check the sender's "
                                                                "mapping.key).", "correlationid")])
    key = str(value)
    if len(key) > MAX_KEY_CHARS or not _KEY.match(key):
        raise BodyError([error("InvalidEvent.InvalidAttribute", f"The ticket key must be 1-{MAX_KEY_CHARS} "
                                                                "printable ASCII characters.", "correlationid")])
    return key


def change_id_for(sender: str, key: str, item: Any) -> str:
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.sha256(f"{sender}\x1f{key}\x1f{canonical}".encode()).hexdigest()
    return f"{key}/{digest[:24]}"


def loads(text: str | bytes) -> Any:
    """Strict JSON (no NaN/Infinity, no overflowing numbers, no lone surrogates, no huge integers or deep
    nesting); :class:`~sgrule.contract.safe.NotJson` (a ValueError) otherwise."""
    return safe.loads(text, strict=True)

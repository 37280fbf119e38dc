"""An outcome as a Jira comment: ``POST /rest/api/3/issue/{key}/comment``, basic auth (email + API token),
the body in Atlassian Document Format.

Jira has no idempotency key for comments, so "posted twice is harmless" is ours: each comment names its
outcome id (and carries it as the comment property ``sgrule``), and a post that may already have happened
(a redelivery after a lost reply or a crash) first looks for that id among the issue's newest comments.
"""
from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

from ..contract.safe import NotJson, loads
from .config import Target
from .post import Poster

RECENT = 100  # newest comments searched for an earlier post of the same outcome

_SYMBOL = {"applied": "applied", "unchanged": "unchanged (already as asked)", "rejected": "rejected",
           "superseded": "superseded by a newer change", "failed": "failed"}


def _text(text: str, *marks: str) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = [{"type": m} for m in marks]
    return node


def _para(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": [n for n in nodes if n["text"]]}


def _item(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"type": "listItem", "content": [_para(*nodes)]}


def _show(value: Any) -> str:
    return "(none)" if value is None else str(value)


def comment_body(outcome: dict[str, Any]) -> dict[str, Any]:
    """The ADF document for one outcome: status, rule, ECS request id, error, the guardrails that did not
    allow the change (the one that denied it, audit ones that would have), what changed, outcome id."""
    d = outcome.get("data") or {}
    status = str(d.get("status") or outcome.get("type", "").rsplit(".", 1)[-1] or "unknown")
    items = [_item(_text("Rule: "), _text(f"{_show(d.get('securityGroupId'))}/{_show(d.get('securityGroupRuleId'))}",
                                                "code"), _text(f" in {_show(d.get('regionId'))}"))]
    if d.get("requestId"):
        items.append(_item(_text("ECS request id: "), _text(str(d["requestId"]), "code")))
    error = d.get("error")
    if isinstance(error, dict):
        items.append(_item(_text("Error: "), _text(_show(error.get("code")), "code"),
                           _text(f" {error.get('message') or ''}".rstrip())))
    for note in d.get("guardrails") or []:
        if isinstance(note, dict):
            how = "denied by" if note.get("action") == "deny" else "audit (allowed, recorded):"
            items.append(_item(_text(f"Guardrail {how} "), _text(_show(note.get("name")), "code"),
                               _text(f" {note.get('message') or ''}".rstrip())))
    before, after = d.get("before"), d.get("after")
    if isinstance(before, dict) and isinstance(after, dict):
        changed = [f"{k}: {_show(before.get(k))} -> {_show(after.get(k))}" for k in sorted(after)
                   if before.get(k) != after.get(k)]
        if changed:
            items.append(_item(_text("Changed: " + "; ".join(changed))))
    return {"type": "doc", "version": 1, "content": [
        _para(_text("sgrule", "strong"), _text(": change "), _text(_show(d.get("changeId")), "code"),
              _text(" is "), _text(_SYMBOL.get(status, status), "strong"), _text(".")),
        {"type": "bulletList", "content": items},
        _para(_text("Outcome "), _text(str(outcome.get("id")), "code"))]}


def _texts(node: Any) -> list[str]:
    found: list[str] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            if isinstance(n.get("text"), str):
                found.append(n["text"])
            content = n.get("content")
            if isinstance(content, list):
                stack.extend(content)
        elif isinstance(n, list):
            stack.extend(n)
    return found


class JiraComments:
    def __init__(self, target: Target) -> None:
        self.base = target.url
        credentials = f"{target.user}:{target.token.get_secret_value() if target.token else ''}"
        self._auth = "Basic " + base64.b64encode(credentials.encode()).decode()

    def _url(self, key: str, query: str = "") -> str:
        return f"{self.base}/rest/api/3/issue/{quote(key, safe='')}/comment" + (f"?{query}" if query else "")

    def already_posted(self, key: str, outcome_id: str, poster: Poster) -> bool:
        reply = poster.send("GET", self._url(key, f"orderBy=-created&maxResults={RECENT}"),
                            headers={"Authorization": self._auth, "Accept": "application/json"})
        assert reply is not None  # without done_already, a reply or an exception
        try:
            comments = loads(reply.body).get("comments") or []
        except (NotJson, AttributeError):
            return False
        return any(outcome_id in _texts(c.get("body")) for c in comments if isinstance(c, dict))

    def post(self, key: str, outcome: dict[str, Any], poster: Poster, maybe_posted: bool = False) -> bool:
        """Comment the outcome on ``key``; False if an earlier attempt's comment was found instead.
        ``maybe_posted``: an earlier delivery may have posted it (look first)."""
        outcome_id = str(outcome.get("id"))
        if maybe_posted and self.already_posted(key, outcome_id, poster):
            return False
        d = outcome.get("data") or {}
        payload = {"body": comment_body(outcome),
                   "properties": [{"key": "sgrule", "value": {"outcomeId": outcome.get("id"),
                                                              "changeId": d.get("changeId"),
                                                              "status": d.get("status")}}]}
        reply = poster.send("POST", self._url(key), json.dumps(payload).encode(),
                            {"Authorization": self._auth, "Content-Type": "application/json",
                             "Accept": "application/json", "Idempotency-Key": outcome_id},
                            done_already=lambda: self.already_posted(key, outcome_id, poster))
        return reply is not None

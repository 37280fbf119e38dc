"""Local Jira Cloud REST API v3, comments slice: ``POST`` and ``GET /rest/api/3/issue/{issueIdOrKey}/comment``.

Behaviour kept from Jira Cloud's documentation: basic auth with an account's email and API token (401
otherwise), JSON only (415), the comment body in Atlassian Document Format (a ``doc``, version 1; text
nodes non-empty) or 400, 404 for an issue that does not exist (or is not visible), 201 with the comment
(``id``, ``self``, ``author``, ``body``, ``created``, ``updated``, ``properties`` when given), and the
comment list paged by ``startAt`` / ``maxResults`` and ordered by ``orderBy`` (``created``, ``-created``).
Jira has no idempotency key for comments: a second POST is a second comment, as in the real service.
"""
from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, unquote

from localcloud import wirejson
from localcloud.server.http import Server, json_reply
from localcloud.server.wire import Dropped, HttpRequest, HttpResponse

_COMMENT_PATH = re.compile(r"^/rest/api/(?:3|latest)/issue/([^/]+)/comment/?$")
_NOT_VISIBLE = "Issue does not exist or you do not have permission to see it."


@dataclass
class Fault:
    status: int              # 0: drop the connection without a reply
    times: int = 1
    retry_after: str | None = None
    after_effect: bool = False  # make the comment, then fail the reply (a lost response)
    method: str = "POST"


def _errors(status: int, messages: list[str], errors: dict[str, str] | None = None,
            headers: dict[str, str] | None = None) -> HttpResponse:
    reply = json_reply(status, {"errorMessages": messages, "errors": errors or {}})
    reply.headers.update(headers or {})
    return reply


class JiraState:
    """Issues, their comments, accounts, faults and the request log. Thread-safe."""

    def __init__(self, users: dict[str, str] | None = None, issues: list[str] | tuple[str, ...] = ()) -> None:
        self._lock = threading.Lock()
        self.users = dict(users or {})
        self.issues: dict[str, dict[str, Any]] = {}
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(10000)
        self.base_url = "http://127.0.0.1"
        for key in issues:
            self.add_issue(key)

    def add_issue(self, key: str) -> str:
        with self._lock:
            issue_id = str(next(self._ids))
            self.issues[key] = {"id": issue_id, "key": key, "comments": []}
            return issue_id

    def comments(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            issue = self._issue(key)
            return json.loads(json.dumps(issue["comments"])) if issue else []

    def _issue(self, key_or_id: str) -> dict[str, Any] | None:
        if key_or_id in self.issues:
            return self.issues[key_or_id]
        return next((i for i in self.issues.values() if i["id"] == key_or_id), None)

    # ------------------------------------------------------------------------------------------ HTTP

    def handle(self, request: HttpRequest) -> HttpResponse:
        with self._lock:
            self.requests.append({"method": request.method, "path": request.path, "query": request.raw_query,
                                  "headers": {k: v[0] for k, v in request.headers.items()}})
            fault = self._take_fault(request.method)
        if fault is not None and not fault.after_effect:
            return self._fail(fault)
        reply = self._route(request)
        if fault is not None:
            return self._fail(fault)
        return reply

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    @staticmethod
    def _fail(fault: Fault) -> HttpResponse:
        if fault.status == 0:
            raise Dropped()
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        return _errors(fault.status, ["Injected failure."], headers=headers)

    def _route(self, request: HttpRequest) -> HttpResponse:
        m = _COMMENT_PATH.match(request.path)
        if m is None:
            return _errors(404, ["No such endpoint in this local Jira."])
        account = self._authenticate(request.header("authorization"))
        if account is None:
            return _errors(401, ["You are not authenticated. Authentication required to perform this operation."])
        key = unquote(m.group(1))
        if request.method == "POST":
            return self._add_comment(key, account, request)
        if request.method == "GET":
            return self._get_comments(key, request.raw_query)
        return _errors(405, [f"Method {request.method} is not allowed here."])

    def _authenticate(self, header: str | None) -> str | None:
        if not header or not header.startswith("Basic "):
            return None
        try:
            email, _, token = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, ValueError):
            return None
        return email if email in self.users and self.users[email] == token else None

    def _add_comment(self, key: str, account: str, request: HttpRequest) -> HttpResponse:
        ctype = (request.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return _errors(415, ["Unsupported media type: use application/json."])
        try:
            payload = wirejson.loads(request.body)
        except ValueError:
            return _errors(400, ["Unexpected character in the request body: not JSON."])
        body = payload.get("body") if isinstance(payload, dict) else None
        if not _valid_adf(body):
            return _errors(400, ["INVALID_INPUT"], {"comment": "Comment body is not valid Atlassian Document Format."})
        properties = payload.get("properties")
        if properties is not None and not (isinstance(properties, list) and all(
                isinstance(p, dict) and isinstance(p.get("key"), str) for p in properties)):
            return _errors(400, [], {"properties": "Properties must be a list of {key, value}."})
        with self._lock:
            issue = self._issue(key)
            if issue is None:
                return _errors(404, [_NOT_VISIBLE])
            moment = datetime.now(timezone.utc)
            now = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"  # Jira's form
            comment_id = str(next(self._ids))
            author = {"accountId": f"acct-{account}", "emailAddress": account, "displayName": account,
                      "active": True}
            comment = {"self": f"{self.base_url}/rest/api/3/issue/{issue['id']}/comment/{comment_id}",
                       "id": comment_id, "author": author, "body": body, "updateAuthor": author,
                       "created": now, "updated": now, "jsdPublic": True}
            if properties:
                comment["properties"] = properties
            issue["comments"].append(comment)
        return json_reply(201, comment)

    def _get_comments(self, key: str, raw_query: str) -> HttpResponse:
        query = {k: v[-1] for k, v in parse_qs(raw_query).items()}
        try:
            start = int(query.get("startAt", "0"))
            size = int(query.get("maxResults", "5000"))
        except ValueError:
            return _errors(400, ["startAt and maxResults must be integers."])
        order = query.get("orderBy", "created")
        if order not in ("created", "+created", "-created"):
            return _errors(400, [f"orderBy {order!r} is not supported: created, +created or -created."])
        with self._lock:
            issue = self._issue(key)
            if issue is None:
                return _errors(404, [_NOT_VISIBLE])
            comments = list(issue["comments"])
        if order == "-created":
            comments.reverse()
        page = comments[max(0, start):max(0, start) + max(0, size)]
        return json_reply(200, {"startAt": start, "maxResults": size, "total": len(comments), "comments": page})


def _valid_adf(doc: Any) -> bool:
    """A ``doc`` node, version 1, whose nodes all have a type and whose text nodes have text."""
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1 \
            or not isinstance(doc.get("content"), list):
        return False
    stack = list(doc["content"])
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            return False
        if node["type"] == "text" and not (isinstance(node.get("text"), str) and node["text"]):
            return False
        marks = node.get("marks", [])
        if not isinstance(marks, list) or not all(isinstance(m, dict) and isinstance(m.get("type"), str)
                                                  for m in marks):
            return False
        content = node.get("content", [])
        if not isinstance(content, list):
            return False
        stack.extend(content)
    return True


class LocalJira(JiraState):
    """:class:`JiraState` served over HTTP on 127.0.0.1 (port 0: any free port) in a background thread."""

    def __init__(self, users: dict[str, str] | None = None, issues: list[str] | tuple[str, ...] = (),
                 port: int = 0) -> None:
        super().__init__(users, issues)
        self._server = Server(("127.0.0.1", port), self.handle)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.base_url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="local-jira", daemon=True)

    def fail(self, status: int, times: int = 1, retry_after: str | None = None, after_effect: bool = False,
             method: str = "POST") -> None:
        """The next ``times`` requests of ``method`` fail with ``status`` (0: the connection drops)."""
        with self._lock:
            self.faults.append(Fault(status, times, retry_after, after_effect, method))

    def start(self) -> LocalJira:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.close_all_connections()
        self._server.server_close()

    def __enter__(self) -> LocalJira:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

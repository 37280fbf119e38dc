"""localcloud.jira: the comments slice of Jira Cloud's REST API v3, over HTTP (stdlib client)."""
from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any, Iterator

import pytest

from localcloud.jira import LocalJira

AUTH = "Basic " + base64.b64encode(b"bot@example.com:api-token").decode()
DOC = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}]}


@pytest.fixture
def jira() -> Iterator[LocalJira]:
    with LocalJira(users={"bot@example.com": "api-token"}, issues=["SEC-1"]) as server:
        yield server


def call(jira: LocalJira, method: str, path: str, body: Any = None, auth: str | None = AUTH,
         ctype: str = "application/json") -> tuple[int, Any, dict[str, str]]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(jira.url + path, data=data, method=method)
    if auth:
        req.add_header("Authorization", auth)
    if data is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def test_add_and_list_comments(jira: LocalJira) -> None:
    status, first, _ = call(jira, "POST", "/rest/api/3/issue/SEC-1/comment", {"body": DOC})
    assert status == 201 and first["body"] == DOC and first["author"]["emailAddress"] == "bot@example.com"
    assert first["self"].startswith(jira.url) and first["created"].endswith("+0000")
    call(jira, "POST", "/rest/api/3/issue/SEC-1/comment", {"body": DOC})  # no idempotency: a second comment
    status, page, _ = call(jira, "GET", "/rest/api/3/issue/SEC-1/comment?orderBy=-created&maxResults=1")
    assert status == 200 and page["total"] == 2 and page["maxResults"] == 1
    assert [c["id"] for c in page["comments"]] == [jira.comments("SEC-1")[1]["id"]]
    issue_id = first["self"].split("/issue/")[1].split("/")[0]
    assert call(jira, "GET", f"/rest/api/3/issue/{issue_id}/comment")[1]["total"] == 2  # by id too


@pytest.mark.parametrize("auth", [None, "Basic " + base64.b64encode(b"bot@example.com:wrong").decode(), "Bearer x"])
def test_authentication(jira: LocalJira, auth: str | None) -> None:
    status, body, _ = call(jira, "POST", "/rest/api/3/issue/SEC-1/comment", {"body": DOC}, auth=auth)
    assert status == 401 and body["errorMessages"]


@pytest.mark.parametrize("payload", [{"body": "plain text"}, {"body": {**DOC, "version": 2}},
                                     {"body": {"type": "doc", "version": 1, "content": [{"type": "text", "text": ""}]}},
                                     {}, [DOC]])
def test_comment_body_must_be_adf(jira: LocalJira, payload: Any) -> None:
    status, body, _ = call(jira, "POST", "/rest/api/3/issue/SEC-1/comment", payload)
    assert status == 400 and jira.comments("SEC-1") == []


@pytest.mark.parametrize("raw", [b"{not json", b'{"body": ' + b"1" * 5000 + b"}", b"[" * 5000 + b"]" * 5000])
def test_a_body_that_is_not_json_is_400(jira: LocalJira, raw: bytes) -> None:
    status, body, _ = call(jira, "POST", "/rest/api/3/issue/SEC-1/comment", raw)
    assert status == 400 and body["errorMessages"] and jira.comments("SEC-1") == []


def test_unknown_issue_and_media_type(jira: LocalJira) -> None:
    assert call(jira, "POST", "/rest/api/3/issue/NOPE-1/comment", {"body": DOC})[0] == 404
    assert call(jira, "POST", "/rest/api/3/issue/SEC-1/comment", b"x", ctype="text/plain")[0] == 415


def test_faults(jira: LocalJira) -> None:
    jira.fail(429, retry_after="3")
    status, _, headers = call(jira, "POST", "/rest/api/3/issue/SEC-1/comment", {"body": DOC})
    assert status == 429 and headers["Retry-After"] == "3" and jira.comments("SEC-1") == []
    jira.fail(500, after_effect=True)
    assert call(jira, "POST", "/rest/api/3/issue/SEC-1/comment", {"body": DOC})[0] == 500
    assert len(jira.comments("SEC-1")) == 1  # the effect happened; only the reply failed
    assert call(jira, "POST", "/rest/api/3/issue/SEC-1/comment", {"body": DOC})[0] == 201


def test_localcloud_jira_never_imports_sgrule() -> None:
    import ast
    from pathlib import Path

    for path in (Path(__file__).resolve().parents[2] / "localcloud" / "jira").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "sgrule" for n in names), path

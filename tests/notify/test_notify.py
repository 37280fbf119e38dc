"""Outcomes back to their tickets, against a local Jira (REST API v3 comments) and a callback receiver."""
from __future__ import annotations

import json
import time
from typing import Any, Callable

import pytest
from notifykit import CALLBACK_SECRET, JIRA_TOKEN, JIRA_USER, Receiver
from standardwebhooks import Webhook

from localcloud.jira import LocalJira
from sgrule.contract.errors import SgruleError
from sgrule.contract.outcome import build
from sgrule.notify.handler import RetryLater
from sgrule.notify.jira import comment_body


def outcome(status: str = "applied", *, sender: str = "jira", key: str | None = "SEC-1042", change: str = "c1",
            request_id: str | None = "ECS-REQ-7F3A", error: SgruleError | None = None,
            guardrails: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An outcome as the apply function publishes it (the contract's own builder)."""
    return build(status=status, source="sgrule/apply", change_source=f"ticketing/{sender}",
                 change_id=f"{key}/{change}", region_id="cn-hangzhou", security_group_id="sg-bp1payments01",
                 rule_id="sgr-bp1https01", client_token="tok", request_id=request_id,
                 before={"DestCidrIp": "10.20.0.0/16"}, after={"DestCidrIp": "10.21.0.0/16"}, error=error,
                 attempts=1, correlation_id=key, guardrails=guardrails)


def text_of(comment: dict[str, Any]) -> str:
    out: list[str] = []
    stack = [comment["body"]]
    while stack:
        node = stack.pop(0)
        if isinstance(node, dict):
            out.append(node.get("text", ""))
            stack[:0] = node.get("content", [])
    return "".join(out)


def test_outcome_becomes_a_jira_comment_with_status_and_ecs_request_id(notify: Callable[..., Any],
                                                                       jira: LocalJira) -> None:
    o = outcome()
    assert notify(o)["posted"] == 1
    [comment] = jira.comments("SEC-1042")
    text = text_of(comment)
    assert "applied" in text and "ECS-REQ-7F3A" in text and o["id"] in text and "sg-bp1payments01" in text
    assert "DestCidrIp: 10.20.0.0/16 -> 10.21.0.0/16" in text
    assert comment["author"]["emailAddress"] == JIRA_USER
    assert comment["properties"] == [{"key": "sgrule", "value": {"outcomeId": o["id"], "changeId": "SEC-1042/c1",
                                                                 "status": "applied"}}]
    [post] = [r for r in jira.requests if r["method"] == "POST"]
    assert post["path"] == "/rest/api/3/issue/SEC-1042/comment"
    assert post["headers"]["idempotency-key"] == o["id"]


def test_rejected_outcome_shows_the_error_code(notify: Callable[..., Any], jira: LocalJira) -> None:
    err = SgruleError("InvalidParam.PortRange", "PortRange 0/443 is not valid.", field="data.PortRange")
    notify(outcome("rejected", request_id=None, error=err))
    text = text_of(jira.comments("SEC-1042")[0])
    assert "rejected" in text and "InvalidParam.PortRange" in text and "ECS request id" not in text


def test_a_guardrail_denial_names_the_guardrail_and_its_message(notify: Callable[..., Any], jira: LocalJira) -> None:
    from sgrule.guardrails import Verdict, denied_error

    denied = Verdict("no-public-accept", "deny", False, "accept to a public destination only on 80 and 443")
    audit = {"name": "watch-priority", "action": "audit", "message": "priorities above 5 are watched"}
    notify(outcome("rejected", request_id=None, error=denied_error(denied), guardrails=[denied.note(), audit]))
    text = text_of(jira.comments("SEC-1042")[0])
    assert "Forbidden.Guardrail" in text
    assert "Guardrail denied by no-public-accept accept to a public destination only on 80 and 443" in text
    assert "Guardrail audit (allowed, recorded): watch-priority priorities above 5 are watched" in text


def test_an_outcome_delivered_twice_is_commented_once(notify: Callable[..., Any], jira: LocalJira) -> None:
    o = outcome()
    assert notify([o, o])["duplicate"] == 1
    assert notify(o) == {"posted": 0, "found": 0, "duplicate": 1, "refused": 0, "skipped": 0, "retry": 0}
    assert len(jira.comments("SEC-1042")) == 1


def test_5xx_and_429_are_retried_honouring_retry_after(notify: Callable[..., Any], jira: LocalJira) -> None:
    jira.fail(503, times=1)
    jira.fail(429, times=1, retry_after="1")
    started = time.monotonic()
    assert notify(outcome())["posted"] == 1
    assert time.monotonic() - started >= 1.0  # the backoff alone is <= 20 ms here
    assert len(jira.comments("SEC-1042")) == 1
    assert [r["method"] for r in jira.requests].count("POST") == 3


def test_a_lost_reply_is_not_posted_again(notify: Callable[..., Any], jira: LocalJira) -> None:
    """The comment is made but the reply is a 502: before retrying, the issue's comments are searched."""
    jira.fail(502, after_effect=True)
    assert notify(outcome())["found"] == 1
    assert len(jira.comments("SEC-1042")) == 1
    assert [r["method"] for r in jira.requests] == ["POST", "GET"]


def test_dropped_connection_after_the_effect(notify: Callable[..., Any], jira: LocalJira) -> None:
    jira.fail(0, after_effect=True)
    assert notify(outcome())["found"] == 1
    assert len(jira.comments("SEC-1042")) == 1


def test_still_failing_raises_for_redelivery_and_the_redelivery_posts_once(notify: Callable[..., Any],
                                                                          jira: LocalJira) -> None:
    jira.fail(503, times=1000)
    o = outcome()
    with pytest.raises(RetryLater):
        notify([o, outcome(sender="nobody")], timeout=0.6)
    jira.faults.clear()
    assert notify(o)["posted"] == 1
    assert len(jira.comments("SEC-1042")) == 1


def test_a_crash_after_posting_is_found_on_redelivery(notify: Callable[..., Any], jira: LocalJira,
                                                      notify_env: dict[str, str]) -> None:
    """An instance posted the comment and died before recording it: its claim is left in progress (here:
    released, as an expired lease would be). The redelivery looks first and posts nothing."""
    from sgrule.notify import handler as runtime
    from sgrule.notify.post import Poster

    o = outcome()
    notify([])  # builds the instance
    inst = runtime.instance()
    [target] = inst.settings.targets_for("jira")
    key = f"{target.ident}\x1f{o['id']}"
    inst.store.claim(key, "post", "dead-instance", 30)
    inst.channel(target).post("SEC-1042", o, Poster(deadline=time.monotonic() + 5))
    inst.store.release(key, "dead-instance")
    assert notify(o)["found"] == 1
    assert len(jira.comments("SEC-1042")) == 1


@pytest.mark.parametrize("key,status", [("SEC-404", 404), ("SEC-1042", 401)])
def test_final_refusals_are_not_retried(notify: Callable[..., Any], jira: LocalJira, key: str, status: int,
                                        capfd: pytest.CaptureFixture[str]) -> None:
    if status == 401:
        jira.users[JIRA_USER] = "rotated-token"
    assert notify(outcome(key=key))["refused"] == 1
    assert notify(outcome(key=key))["duplicate"] == 1  # remembered: never posted again
    assert [r["method"] for r in jira.requests] == ["POST"]
    _, err = capfd.readouterr()
    assert f'"httpStatus": {status}' in err and JIRA_TOKEN not in err


def test_callback_receives_the_outcome_signed_with_standard_webhooks(notify: Callable[..., Any],
                                                                     receiver: Receiver) -> None:
    o = outcome(sender="pd", key="PGR0VU2")
    receiver.statuses = [500]
    assert notify(o)["posted"] == 1
    first, second = receiver.requests
    assert first["body"] == second["body"] and first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    received = Webhook(CALLBACK_SECRET).verify(second["body"], second["headers"])
    assert received == json.loads(json.dumps(o))
    assert second["headers"]["webhook-id"] == o["id"] == second["headers"]["idempotency-key"]
    assert notify(o)["duplicate"] == 1 and len(receiver.requests) == 2


def test_only_webhook_outcomes_with_a_target_and_a_wanted_status(notify: Callable[..., Any], jira: LocalJira,
                                                                 receiver: Receiver) -> None:
    normaliser = outcome()
    normaliser["data"]["changeSource"] = "sgrule/normaliser"
    summary = notify([normaliser, outcome(sender="unknown"), outcome("applied", sender="zd", key="SEC-7"),
                      outcome("rejected", sender="zd", key="SEC-7", change="c2", request_id=None)])
    assert summary["skipped"] == 3 and summary["posted"] == 1
    assert len(jira.comments("SEC-7")) == 1 and jira.comments("SEC-1042") == []


@pytest.mark.parametrize("shape", ["object", "array", "data-as-text"])
def test_event_shapes(notify: Callable[..., Any], jira: LocalJira, shape: str) -> None:
    o = outcome()
    event: Any = {"object": o, "array": [o], "data-as-text": {**o, "data": json.dumps(o["data"])}}[shape]
    assert notify(event)["posted"] == 1


@pytest.mark.parametrize("event", [None, 5, "text", [1, "x"], {"type": "other"}, {"type": "sgrule.egress.modify.applied"},
                                   b'[{"type": "sgrule.egress.modify.applied", "x": ' + b"1" * 5000 + b"}]",
                                   b"[" * 5000 + b"]" * 5000])
def test_events_that_hold_no_outcome_post_nothing(notify: Callable[..., Any], jira: LocalJira, event: Any) -> None:
    assert sum(notify(event).values()) == 0 and jira.requests == []


def test_comment_body_is_valid_adf_for_every_status() -> None:
    from localcloud.jira.server import _valid_adf

    for status in ("applied", "unchanged", "rejected", "superseded", "failed"):
        o = outcome(status, request_id=None)
        o["data"]["before"] = o["data"]["after"] = None
        assert _valid_adf(comment_body(o))

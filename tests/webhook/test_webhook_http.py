"""The webhook's answers that need no queue: routing, method, size, media type, authentication, validation,
replays of final answers, configuration errors. Every answer is JSON of the documented shape."""
from __future__ import annotations

import base64
import json
from typing import Any, Callable

import pytest
from webhookkit import SECRETS, SENDERS, Answer, block, change, fc_context, http_event, jira_issue, sign

from sgrule.webhook import handler as runtime

DATA = {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-bp1payments01", "SecurityGroupRuleId": "sgr-bp1https01",
        "DestCidrIp": "10.21.0.0/16"}
ERROR_KEYS = {"index", "code", "message", "field"}


def errors_shape(answer: Answer) -> None:
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json["errors"] and all(set(e) == ERROR_KEYS for e in answer.json["errors"])
    assert "Traceback" not in answer.text


def test_unknown_sender_is_404(post: Callable[..., Answer]) -> None:
    a = post("jira", change(), path="/nobody")
    assert a.status == 404 and a.codes == ["Webhook.UnknownSender"]
    errors_shape(a)


def test_sender_is_the_last_path_segment(post: Callable[..., Answer]) -> None:
    a = post("jira", change(sender="jira", group="sg-other"), path="/hooks/jira")
    assert a.status == 400 and a.codes == ["Forbidden.SecurityGroupNotAllowed"]  # reached validation


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_only_post(post: Callable[..., Answer], method: str) -> None:
    a = post("jira", change(), method=method)
    assert a.status == 405 and a.headers["Allow"] == "POST" and a.codes == ["Webhook.MethodNotAllowed"]


@pytest.mark.parametrize("b64", [False, True])
def test_body_over_256_kb_is_413(post: Callable[..., Answer], b64: bool) -> None:
    body = json.dumps({"pad": "x" * (256 * 1024)}).encode()
    a = post("jira", body, b64=b64)
    assert a.status == 413 and a.codes == ["Webhook.PayloadTooLarge"]


def test_body_of_exactly_256_kb_is_not_413(post: Callable[..., Answer]) -> None:
    prefix, suffix = b'{"pad": "', b'"}'
    body = prefix + b"x" * (256 * 1024 - len(prefix) - len(suffix)) + suffix
    assert len(body) == 256 * 1024
    a = post("jira", body)
    assert a.status == 202 and a.json["accepted"] == []  # a Jira payload with no sgrule block


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", None])
def test_json_only(post: Callable[..., Answer], ctype: str | None) -> None:
    a = post("gh", change(sender="gh"), headers={"Content-Type": ctype})
    assert a.status == 415 and a.codes == ["Webhook.UnsupportedMediaType"]


def test_json_media_type_with_parameters_and_suffix(post: Callable[..., Answer]) -> None:
    for ctype in ("application/json; charset=utf-8", "application/cloudevents+json"):
        a = post("gh", change(sender="gh", group="sg-x"), headers={"Content-Type": ctype})
        assert a.status == 400, a  # past the media type check, refused by the allow-list


@pytest.mark.parametrize("name", SENDERS)
def test_unauthenticated_is_401_and_says_nothing_more(post: Callable[..., Answer], name: str) -> None:
    wrong = ("whsec_" + base64.b64encode(b"not-the-secret-0123456789abcdef").decode()
             if name == "std" else "not-the-secret-0123456789")
    a = post(name, change(sender=name), secret=wrong)
    assert a.status == 401 and a.json == {"errors": [{"index": None, "code": "Webhook.Unauthorized",
                                                      "message": "The request could not be authenticated.",
                                                      "field": None}]}


def test_not_json_is_400_and_the_answer_is_replayed(post: Callable[..., Answer]) -> None:
    a = post("jira", b"{not json", delivery="dlv-notjson")
    assert a.status == 400 and a.codes == ["InvalidEvent.Malformed"]
    errors_shape(a)
    again = post("jira", b"{not json", delivery="dlv-notjson")
    assert again.status == 400 and again.json == a.json and again.headers.get("Sgrule-Replayed") == "true"


HUGE, DEEP = "1" * 5000, "[" * 5000 + "]" * 5000  # beyond Python's integer conversion limit; beyond any nesting


@pytest.mark.parametrize("bad, why", [(HUGE, "an integer of 5000 digits"), (DEEP, "nested more than 100 levels")])
def test_a_body_beyond_the_json_reader_is_400_malformed(post: Callable[..., Answer], webhook: Any, bad: str,
                                                        why: str) -> None:
    a = post("std", f'{{"specversion": "1.0", "data": {{"Priority": {bad}}}}}'.encode())
    assert a.status == 400 and a.codes == ["InvalidEvent.Malformed"]
    assert why in a.json["errors"][0]["message"] and "set_int_max_str_digits" not in a.text
    errors_shape(a)
    # the FC event around the body, when it is what cannot be read, is no HTTP trigger event
    event = f'{{"requestContext": {{"http": {{"method": "POST", "path": "/std"}}}}, "x": {bad}}}'.encode()
    a = Answer(webhook.handler(event, fc_context()))
    assert a.status == 400 and a.codes == ["Webhook.BadRequest"]


def test_one_invalid_change_in_five_names_its_index_and_code(post: Callable[..., Answer]) -> None:
    events = [change(i, sender="std") for i in range(5)]
    events[3]["data"]["PortRange"] = "0/443"
    a = post("std", events)
    assert a.status == 400
    assert a.json["errors"] == [{"index": 3, "code": "InvalidParam.PortRange", "message": a.json["errors"][0]["message"],
                                 "field": "data.PortRange"}]


def test_every_failing_change_is_named(post: Callable[..., Answer]) -> None:
    events = [change(i, sender="std") for i in range(4)]
    events[0]["source"] = "ticketing/jira"  # speaks for another sender
    events[1]["data"]["SecurityGroupId"] = "sg-outside01"  # outside the allow-list
    events[2]["data"]["Policy"] = "maybe"
    a = post("std", events)
    assert a.status == 400
    assert [(e["index"], e["code"], e["field"]) for e in a.json["errors"]] == [
        (0, "InvalidEvent.InvalidAttribute", "source"),
        (1, "Forbidden.SecurityGroupNotAllowed", "data.SecurityGroupId"),
        (2, "InvalidPolicy.Malformed", "data.Policy")]


def test_the_senders_own_allow_list_narrows_the_global_one(monkeypatch: pytest.MonkeyPatch,
                                                          webhook_env: dict[str, str]) -> None:
    from webhookkit import load_function, senders_config

    monkeypatch.setenv("SGRULE_WEBHOOK_SENDERS", json.dumps(senders_config(std={"allowedSecurityGroups":
                                                                                 ["sg-bp1database*"]})))
    runtime.reset()
    fn = load_function("ticket_webhook")
    body = json.dumps([change(0, sender="std")]).encode()
    a = Answer(fn.handler(http_event("/std", body, sign("std", body)), fc_context()))
    assert a.status == 400 and a.codes == ["Forbidden.SecurityGroupNotAllowed"]


def test_same_id_twice_with_different_content(post: Callable[..., Answer]) -> None:
    one, two = change(1, sender="std"), change(2, sender="std")
    two["id"] = one["id"]
    a = post("std", [one, two])
    assert [(e["index"], e["code"]) for e in a.json["errors"]] == [(1, "IdempotentParameterMismatch")]


def test_more_than_100_changes_is_413(post: Callable[..., Answer]) -> None:
    a = post("std", [change(i, sender="std") for i in range(101)])
    assert a.status == 413 and a.codes == ["Webhook.TooManyChanges"]


def test_ticket_without_a_block_is_accepted_with_nothing_to_do(post: Callable[..., Answer]) -> None:
    a = post("jira", jira_issue(description="no change requested here"))
    assert a.status == 202 and a.json["accepted"] == [] and "no sgrule block" in a.json["note"]


def test_ticket_block_errors(post: Callable[..., Answer]) -> None:
    a = post("jira", jira_issue(description=block({**DATA, "PortRange": "99999/1"})))
    assert a.status == 400 and a.json["errors"][0]["index"] == 0 and a.codes == ["InvalidParam.PortRange"]
    a = post("jira", jira_issue(description="```sgrule\n{oops}\n```"))
    assert a.status == 400 and a.json["errors"][0]["field"] == "sgrule[0]"


@pytest.mark.parametrize("name", ["std", "zd"])
def test_same_delivery_id_with_another_body_is_refused(post: Callable[..., Answer], name: str) -> None:
    """Schemes that sign their delivery id key the replay guard on it."""
    first = post(name, b"[]", delivery=f"dlv-reused-{name}")
    assert first.status == 400
    other = post(name, b"[1]", delivery=f"dlv-reused-{name}")
    assert other.status == 400 and other.codes == ["IdempotentParameterMismatch"]


@pytest.mark.parametrize("name", ["gh", "jira", "pd", "sn"])
def test_schemes_signing_no_delivery_id_key_replays_on_the_body(post: Callable[..., Answer], name: str) -> None:
    """A captured request re-sent with a fresh delivery id is the same delivery: the first answer, once."""
    body = [change(sender=name, group="sg-outside01")]  # refused (400): a final answer, no queue needed
    first = post(name, body, delivery=f"dlv-first-{name}", headers={"X-ServiceNow-Request-Id": "first"})
    again = post(name, body, delivery=f"dlv-other-{name}", headers={"X-ServiceNow-Request-Id": "other"})
    assert first.status == 400 and again.json == first.json and again.headers.get("Sgrule-Replayed") == "true"
    # The same id with another body is another delivery (the id is not signed: it proves nothing).
    other = post(name, [change(1, sender=name, group="sg-outside01")], delivery=f"dlv-first-{name}")
    assert other.status == 400 and other.headers.get("Sgrule-Replayed") is None


@pytest.mark.parametrize("event", [b"", b"not json", b"[]", b'{"rawPath": "/jira"}', b'"text"',
                                   json.dumps({"requestContext": {"http": {"method": "POST", "path": "/jira"}},
                                               "body": 5}).encode(),
                                   json.dumps({"requestContext": {"http": {"method": "POST", "path": "/jira"}},
                                               "body": "!!", "isBase64Encoded": True}).encode()])
def test_not_an_http_trigger_event(webhook: Any, event: bytes) -> None:
    a = Answer(webhook.handler(event, fc_context()))
    assert a.status == 400 and a.codes == ["Webhook.BadRequest"]


def test_misconfiguration_is_503_and_never_leaks_a_secret(monkeypatch: pytest.MonkeyPatch,
                                                         webhook_env: dict[str, str],
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    from webhookkit import load_function

    secret = "a-perfectly-good-secret-12345"
    monkeypatch.setenv("SGRULE_WEBHOOK_SENDERS", json.dumps([{"name": "jira", "scheme": "jira",
                                                              "secrets": [secret], "mapping": {"key": "[oops"}},
                                                             {"name": "x", "scheme": "nope", "secrets": [secret]}]))
    runtime.reset()
    fn = load_function("ticket_webhook")
    fn.initialize(fc_context())
    body = b"{}"
    a = Answer(fn.handler(http_event("/jira", body, sign("jira", body, secret=secret)), fc_context()))
    assert a.status == 503 and a.codes == ["Webhook.Misconfigured"]
    out, err = capfd.readouterr()
    assert secret not in out + err + a.text
    assert "webhook_senders" in err  # the log says where the problem is


def test_logs_never_carry_signatures_or_secrets(post: Callable[..., Answer], capfd: pytest.CaptureFixture[str]) -> None:
    body = json.dumps(change(sender="gh")).encode()
    headers = sign("gh", body, secret="wrong-secret-0123456789")
    post("gh", body, secret="wrong-secret-0123456789")
    post("gh", body)
    out, err = capfd.readouterr()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line.get("reason") == "signature mismatch" for line in lines)
    for secret in [*SECRETS["gh"], "wrong-secret-0123456789", headers["X-Hub-Signature-256"][7:]]:
        assert secret not in out + err


def test_a_change_too_big_for_a_queue_message_is_named(post: Callable[..., Answer]) -> None:
    events = [change(i, sender="std") for i in range(2)]
    events[1]["note"] = "x" * 70000  # a valid CloudEvents extension attribute, but past an MNS message
    a = post("std", events)
    assert a.status == 400 and [(e["index"], e["code"]) for e in a.json["errors"]] == [(1, "Webhook.ChangeTooLarge")]


def test_checks_run_in_the_documented_order(post: Callable[..., Answer], monkeypatch: pytest.MonkeyPatch,
                                           webhook_env: dict[str, str]) -> None:
    """README: size, sender, method, media type, signature, replay, body, authorize, count, validation.
    Each request fails two neighbouring checks and gets the earlier one's answer."""
    huge = json.dumps({"pad": "x" * (256 * 1024)}).encode()
    assert post("jira", huge, path="/nobody").codes == ["Webhook.PayloadTooLarge"]
    assert post("jira", change(), path="/nobody", method="GET").codes == ["Webhook.UnknownSender"]
    assert post("jira", change(), method="GET", headers={"Content-Type": "text/plain"}).codes == [
        "Webhook.MethodNotAllowed"]
    assert post("jira", b"{", headers={"Content-Type": "text/plain"}, secret="wrong-secret-0123456789x").codes \
        == ["Webhook.UnsupportedMediaType"]
    assert post("jira", b"{", secret="wrong-secret-0123456789x").codes == ["Webhook.Unauthorized"]
    first = post("jira", b"{", delivery="dlv-order")
    assert first.codes == ["InvalidEvent.Malformed"]
    # Senders without authorize: a ticket's invalid block is refused as unauthorized, not as invalid.
    from webhookkit import load_function, senders_config

    monkeypatch.setenv("SGRULE_WEBHOOK_SENDERS", json.dumps(senders_config(jira={"authorize": None})))
    runtime.reset()
    fn = load_function("ticket_webhook")
    body = json.dumps(jira_issue(description=block({**DATA, "PortRange": "99999/1"}))).encode()
    a = Answer(fn.handler(http_event("/jira", body, sign("jira", body)), fc_context()))
    assert a.status == 403 and a.codes == ["Webhook.NotAuthorized"]
    many = json.dumps([change(i, sender="jira", group="sg-outside01") for i in range(101)]).encode()
    a = Answer(fn.handler(http_event("/jira", many, sign("jira", many)), fc_context()))
    assert a.status == 413 and a.codes == ["Webhook.TooManyChanges"]

"""The ticket webhook attacked as an outsider would: real signed requests over HTTP (127.0.0.1) to the HTTP
trigger of template.yml run by localcloud, the change queue read back with the MNS SDK.

A valid signature proves which ticket *system* sent a request, never that a *person* with authority asked:
each attack below is something a commenter, an outsider or a replaying eavesdropper could do.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK = "sgrule-ticket-webhook"
pytestmark = pytest.mark.slow


def _secret(name: str) -> str:  # long and random-looking, as the webhook demands
    return hashlib.sha256(f"attack-tests/{name}".encode()).hexdigest()[:48]


JIRA_AUTH = ('block.from == "native" || (block.from == "description" '
             '&& payload.issue.fields.status.name == "Approved")')
GITHUB_AUTH = ('block.author.roles.exists(r, r in ["OWNER", "MEMBER"]) '
               '&& payload.issue.labels.exists(l, l.name == "sgrule-approved")')
SENDERS = [
    {"name": "jira", "scheme": "jira", "secrets": [_secret("jira")], "authorize": JIRA_AUTH, "projects": ["SEC-*"]},
    {"name": "jira-open", "scheme": "jira", "secrets": [_secret("jira-open")]},  # no authorize
    {"name": "jira-broken", "scheme": "jira", "secrets": [_secret("jira-broken")],
     "authorize": 'block.from == "description" &&'},
    {"name": "github", "scheme": "github", "secrets": [_secret("github")], "authorize": GITHUB_AUTH},
]
SECRET = {s["name"]: s["secrets"][0] for s in SENDERS}
DATA = {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-bp1payments01", "SecurityGroupRuleId": "sgr-bp1https01",
        "DestCidrIp": "10.21.0.0/16"}
OPEN = {**DATA, "DestCidrIp": "0.0.0.0/0"}
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def app(localcloud_app_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from localcloud.template import load_template

    tmp = tmp_path_factory.mktemp("attacks")
    params = {"CodeBucket": "local", "AllowedSecurityGroups": "sg-bp1*", "RedisUrl": f"sqlite:///{tmp}/idem.sqlite3",
              "WebhookSenders": json.dumps(SENDERS)}
    template = load_template(ROOT / "template.yml", params)
    del template.resources["ChangeTrigger"]  # nobody consumes the queue: what reached it can be read back
    return localcloud_app_factory(template, state=None, env={"SGRULE_RETRY_BASE_MS": "10",
                                                            "SGRULE_RETRY_CAP_MS": "50"})


@pytest.fixture
def queue(app: Any) -> Iterator[Any]:
    """Drain the change queue before the test; the test reads what its requests enqueued."""
    q = app.mns_account().get_queue("sgrule-changes")
    drain(q)
    yield q


def drain(queue: Any) -> list[dict[str, Any]]:
    from mns.mns_exception import MNSServerException

    out: list[dict[str, Any]] = []
    while True:
        try:
            messages = queue.batch_receive_message(16)
        except MNSServerException as exc:
            assert exc.type == "MessageNotExist"
            return out
        for m in messages:
            out.append(json.loads(m.message_body))
            queue.delete_message(m.receipt_handle)


def post(app: Any, sender: str, body: bytes | dict[str, Any] | list[Any], *, delivery: str | None = None,
         headers: dict[str, str] | None = None, secret: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """What Jira / GitHub send: the body signed with the sender's secret, a fresh delivery id."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    mac = "sha256=" + hmac.new((secret or SECRET[sender]).encode(), raw, hashlib.sha256).hexdigest()
    delivery = delivery or f"dlv-attack-{next(_ids)}"
    scheme = "github" if sender == "github" else "jira"
    signed = ({"X-Hub-Signature-256": mac, "X-GitHub-Delivery": delivery, "X-GitHub-Event": "issue_comment"}
              if scheme == "github" else {"X-Hub-Signature": mac, "X-Atlassian-Webhook-Identifier": delivery})
    req = urllib.request.Request(app.http_url(WEBHOOK) + "/" + sender, data=raw, method="POST",
                                 headers={"Content-Type": "application/json", **signed, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def sgrule(data: dict[str, Any]) -> str:
    return "Please apply:\n```sgrule\n" + json.dumps(data, indent=2) + "\n```\n"


def jira(key: str = "SEC-1042", description: str = "", status: str = "In Progress",
         comment: str | None = None, commenter: str = "557058:0b5d1c5e-outsider") -> dict[str, Any]:
    doc: dict[str, Any] = {"timestamp": 1795770900000, "webhookEvent": "jira:issue_updated",
                           "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Ana Lima"},
                           "issue": {"id": "10042", "key": key, "fields": {
                               "summary": "Vendor egress", "description": description,
                               "status": {"name": status}, "updated": "2026-11-27T09:15:00.000+0000"}}}
    if comment is not None:
        doc["webhookEvent"] = "comment_created"
        doc["comment"] = {"id": str(next(_ids)), "body": comment, "updated": "2026-11-27T09:16:00.000+0000",
                          "author": {"accountId": commenter, "displayName": "Anyone"}}
    return doc


def github(comment: str, association: str, labels: tuple[str, ...] = ("sgrule-approved",),
           number: int = 42) -> dict[str, Any]:
    return {"action": "created",
            "issue": {"number": number, "body": "Tracking the vendor change.", "updated_at": "2026-11-27T12:29:59Z",
                      "labels": [{"name": n} for n in labels], "user": {"login": "ana", "id": 583231},
                      "author_association": "MEMBER"},
            "comment": {"id": next(_ids), "body": comment, "updated_at": "2026-11-27T12:29:59Z",
                        "user": {"login": "mallory", "id": 999}, "author_association": association},
            "repository": {"full_name": "acme/infra"}, "sender": {"login": "mallory", "id": 999}}


def native(sender: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"AUTO-{next(_ids)}", "source": f"ticketing/{sender}",
            "type": "sgrule.egress.modify", "time": "2026-11-27T12:30:00Z", "data": data, **extra}


# ------------------------------------------------------------------------------------ who may ask

def test_anyones_comment_opening_the_rule_is_refused_403_and_nothing_enqueued(app: Any, queue: Any) -> None:
    status, body, _ = post(app, "jira", jira(comment=sgrule(OPEN)))
    assert status == 403 and [e["code"] for e in body["errors"]] == ["Webhook.NotAuthorized"]
    assert drain(queue) == []


def test_an_approved_description_is_accepted(app: Any, queue: Any) -> None:
    status, body, _ = post(app, "jira", jira(description=sgrule(DATA), status="Approved"))
    assert status == 202, body
    assert [m["data"]["DestCidrIp"] for m in drain(queue)] == ["10.21.0.0/16"]


def test_a_description_of_an_unapproved_issue_is_refused(app: Any, queue: Any) -> None:
    status, body, _ = post(app, "jira", jira(key="SEC-7", description=sgrule(DATA), status="In Progress"))
    assert status == 403 and drain(queue) == []


@pytest.mark.parametrize("comment", ["```sgrule\n```", "```sgrule\n{not json\n```", sgrule(OPEN)])
def test_a_refused_comment_cannot_suppress_an_authorized_description(app: Any, queue: Any, comment: str) -> None:
    data = {**DATA, "Description": f"vendor {next(_ids)}"}
    status, body, _ = post(app, "jira", jira(key="SEC-8", description=sgrule(data), status="Approved",
                                             comment=comment))
    assert status == 202 and body["notAuthorized"] == ["comment"], body
    assert [m["data"] for m in drain(queue)] == [data]


def test_without_authorize_only_native_events_are_accepted(app: Any, queue: Any) -> None:
    status, body, _ = post(app, "jira-open", jira(description=sgrule(DATA), status="Approved"))
    assert status == 403 and body["errors"][0]["code"] == "Webhook.NotAuthorized"
    assert drain(queue) == []
    event = native("jira-open", DATA)
    status, body, _ = post(app, "jira-open", event)
    assert status == 202 and [m["id"] for m in drain(queue)] == [event["id"]]


def test_a_github_outsiders_comment_is_refused_and_a_members_accepted(app: Any, queue: Any) -> None:
    status, _, _ = post(app, "github", github(sgrule(OPEN), "NONE"))
    assert status == 403 and drain(queue) == []
    status, _, _ = post(app, "github", github(sgrule(DATA), "MEMBER", labels=()))  # not approved
    assert status == 403 and drain(queue) == []
    status, body, _ = post(app, "github", github(sgrule(DATA), "MEMBER"))
    assert status == 202, body
    assert [m["data"]["DestCidrIp"] for m in drain(queue)] == ["10.21.0.0/16"]


def test_an_authorize_that_does_not_compile_refuses_everything_503(app: Any, queue: Any) -> None:
    for body in (jira(description=sgrule(DATA), status="Approved"), native("jira-broken", DATA)):
        status, answer, headers = post(app, "jira-broken", body)
        assert status == 503 and answer["errors"][0]["code"] == "Webhook.Misconfigured"
        assert int(headers["Retry-After"]) > 0
    assert drain(queue) == []


# ------------------------------------------------------------------------------ only what readers see

def _adf_expand(data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Nothing to change."}]},
        {"type": "expand", "attrs": {"title": "old notes"}, "content": [
            {"type": "codeBlock", "attrs": {"language": "sgrule"}, "content": [{"type": "text", "text": json.dumps(data)}]}]}]}


@pytest.mark.parametrize("description", [
    "Nothing to change.\n<!--\n" + sgrule(OPEN) + "-->\n",
    "For example:\n````text\n" + sgrule(OPEN) + "````\n",
    "{noformat}\n{code:sgrule}" + json.dumps(OPEN) + "{code}\n{noformat}",
    _adf_expand(OPEN),
], ids=["html-comment", "text-fence", "noformat", "adf-expand"])
def test_a_block_readers_never_see_is_not_a_change(app: Any, queue: Any, description: Any) -> None:
    status, body, _ = post(app, "jira", jira(key="SEC-9", description=description, status="Approved"))
    assert status == 202 and body["accepted"] == [] and "no sgrule block" in body["note"], body
    assert drain(queue) == []


# ------------------------------------------------------------------------------------- identity is ours

def test_a_ticket_block_may_not_set_client_token(app: Any, queue: Any) -> None:
    status, body, _ = post(app, "jira", jira(key="SEC-11", status="Approved",
                                             description=sgrule({**DATA, "ClientToken": "my-own-token-1"})))
    assert status == 400 and [(e["code"], e["field"]) for e in body["errors"]] == [
        ("InvalidEvent.InvalidAttribute", "data.ClientToken")]
    assert drain(queue) == []


def test_no_sender_can_name_a_token_sgrule_derives(app: Any, queue: Any) -> None:
    """Another ticket's change gets ClientToken sgrule-<digest of its source and id>: anyone can compute it,
    so no event may carry a token of that form (it would make that change end IdempotentParameterMismatch)."""
    from sgrule.contract.outcome import client_token

    status, body, _ = post(app, "jira", jira(key="SEC-12", status="Approved", description=sgrule(DATA)))
    [victim] = body["accepted"]
    stolen = client_token("ticketing/jira", victim)
    for token in (stolen, stolen.upper()):
        status, body, _ = post(app, "jira-open", native("jira-open", {**DATA, "ClientToken": token}))
        assert status == 400 and [(e["code"], e["field"]) for e in body["errors"]] == [
            ("InvalidParam.InvalidModifyRuleRequest", "data.ClientToken")]
    assert [m["id"] for m in drain(queue)] == [victim]


# ------------------------------------------------------------------------------------- replays and time

def test_a_captured_request_resent_with_a_new_delivery_id_is_a_replay(app: Any, queue: Any) -> None:
    event = native("jira", DATA)
    first = post(app, "jira", event, delivery="dlv-captured")
    again = post(app, "jira", event, delivery="dlv-forged-new-id")
    assert first[0] == 202 and again[:2] == first[:2] and again[2].get("Sgrule-Replayed") == "true"
    assert [m["id"] for m in drain(queue)] == [event["id"]]


@pytest.mark.parametrize("when", ["9998-12-31T23:59:59Z", "2099-01-01T00:00:00Z"])
def test_a_change_time_far_ahead_of_the_clock_is_refused(app: Any, queue: Any, when: str) -> None:
    status, body, _ = post(app, "jira", native("jira", DATA, time=when))
    assert status == 400 and [(e["code"], e["field"]) for e in body["errors"]] == [
        ("InvalidEvent.InvalidAttribute", "time")]
    ticket = jira(key="SEC-13", description=sgrule(DATA), status="Approved")
    ticket["issue"]["fields"]["updated"] = when.replace("Z", ".000+0000")
    status, body, _ = post(app, "jira", ticket)
    assert status == 400 and body["errors"][0]["field"] == "time"
    assert drain(queue) == []


def test_a_native_event_may_name_only_its_senders_projects_as_correlationid(app: Any, queue: Any) -> None:
    own, foreign = native("jira", DATA, correlationid="SEC-77"), native("jira", DATA, correlationid="HR-1")
    status, body, _ = post(app, "jira", [own, foreign])
    assert status == 202 and body["correlationDropped"] == [foreign["id"]]
    queued = {m["id"]: m for m in drain(queue)}
    assert queued[own["id"]]["correlationid"] == "SEC-77" and "correlationid" not in queued[foreign["id"]]


# ------------------------------------------------------------------------------ config that cannot lie

def test_a_huge_ticket_timestamp_is_a_400_not_a_500(app: Any, queue: Any) -> None:
    ticket = jira(key="SEC-14", description=sgrule(DATA), status="Approved")
    del ticket["issue"]["fields"]["updated"]  # Jira's mapping falls back to the webhook's timestamp
    ticket["timestamp"] = 10 ** 400  # beyond any float: dividing it overflows
    status, body, _ = post(app, "jira", ticket)
    assert status == 400 and body["errors"][0]["field"] == "time", body
    assert drain(queue) == []


@pytest.fixture
def hung_store() -> Iterator[str]:
    """A Redis URL whose server accepts connections and never answers (a hung Tair/Redis)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for s in held:
        s.close()
    server.close()


def test_a_hung_store_is_answered_503_within_the_budget_with_retry_after(
        localcloud_app_factory: Any, hung_store: str) -> None:
    import time

    budget_ms = 1000
    params = {"CodeBucket": "local", "AllowedSecurityGroups": "sg-bp1*", "RedisUrl": hung_store,
              "WebhookSenders": json.dumps(SENDERS)}
    hung = localcloud_app_factory(ROOT / "template.yml", params, state=None,
                                  env={"SGRULE_WEBHOOK_BUDGET_MS": str(budget_ms)})
    post(hung, "jira", native("jira", DATA))  # a cold start is not what is measured
    started = time.monotonic()
    status, body, headers = post(hung, "jira", native("jira", DATA))
    elapsed = time.monotonic() - started
    assert status == 503 and body["errors"][0]["code"] == "Webhook.StoreUnavailable"
    assert int(headers["Retry-After"]) > 0
    # The store's timeouts fit in the budget (the old 5 s socket timeout answered after the sender gave up).
    assert elapsed < budget_ms / 1000 + 1.0, elapsed


def test_two_senders_sharing_a_secret_are_refused_at_start(localcloud_app_factory: Any,
                                                          tmp_path: Path) -> None:
    """A body refused at /jira (outside its allow-list) must not be accepted via /jira2 with the same secret:
    the configuration is refused, every request answered 503 until the operator gives each its own."""
    shared = [{"name": "jira", "scheme": "jira", "secrets": [SECRET["jira"]], "authorize": JIRA_AUTH,
               "allowedSecurityGroups": ["sg-bp1database*"]},
              {"name": "jira2", "scheme": "jira", "secrets": [SECRET["jira"]], "authorize": JIRA_AUTH}]
    params = {"CodeBucket": "local", "AllowedSecurityGroups": "sg-bp1*",
              "RedisUrl": f"sqlite:///{tmp_path}/idem.sqlite3", "WebhookSenders": json.dumps(shared)}
    bad = localcloud_app_factory(ROOT / "template.yml", params, state=None)
    for name in ("jira", "jira2"):
        status, body, headers = post(bad, name, native(name, DATA), secret=SECRET["jira"])
        assert status == 503 and body["errors"][0]["code"] == "Webhook.Misconfigured"
        assert int(headers["Retry-After"]) > 0


# ------------------------------------------------------------------------ localcloud's own door (127.0.0.1)

def _control(app: Any, method: str, route: str, *, host: str | None = None, content_type: str | None = None,
             body: bytes = b"") -> tuple[int, Any]:
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(app.endpoint)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    headers = {"Content-Length": str(len(body))}
    if host is not None:
        headers["Host"] = host
    if content_type is not None:
        headers["Content-Type"] = content_type
    conn.request(method, f"/_emulator/{route}", body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, json.loads(data) if data else None


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:80", "10.0.0.5:8080", ""])
def test_the_control_api_refuses_any_host_but_this_machine(app: Any, host: str) -> None:
    """DNS rebinding: a page on attacker.example resolved to 127.0.0.1 sends its own Host."""
    assert _control(app, "GET", "health", host=host)[0] == 403
    assert _control(app, "POST", "reset", host=host, content_type="application/json")[0] == 403


def test_the_control_api_answers_localhost_names(app: Any) -> None:
    port = app.endpoint.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
        assert _control(app, "GET", "health", host=host)[0] == 200


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None])
def test_control_api_writes_need_a_json_body(app: Any, ctype: str | None) -> None:
    """What a cross-site form or fetch without preflight can send is refused before it does anything."""
    status, _ = _control(app, "PUT", "state", content_type=ctype, body=b'{"ecs": {}}')
    assert status == 415
    assert _control(app, "POST", "reset", content_type=ctype)[0] == 415


def test_secrets_are_masked_unless_asked_for(app: Any) -> None:
    status, info = _control(app, "GET", "app")
    assert status == 200 and info["accessKeySecret"] == "******" and info["accessKeyId"]
    assert _control(app, "GET", "app?secrets=true")[1]["accessKeySecret"] == app.access_key_secret
    from alibabacloud_fc20230330 import models as fc_models

    fn = app.fc_client().get_function(WEBHOOK, fc_models.GetFunctionRequest()).body
    env = fn.environment_variables
    assert env["SGRULE_WEBHOOK_SENDERS"] == "******" and SECRET["jira"] not in json.dumps(fn.to_map())
    assert env["SGRULE_WEBHOOK_BUDGET_MS"] == "4000"  # the rest stays readable

"""The ticket doors on the local platform (template.yml run by localcloud, functions in worker processes):

- a signed Jira webhook -> HTTP trigger -> change queue -> apply -> outcome bus -> notify rule -> a comment on
  the local Jira naming the change's status and the ECS request id;
- 500 concurrent signed requests through the HTTP trigger (threads): every accepted change on the queue
  exactly once, replays included.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

from localcloud.jira import LocalJira

ROOT = Path(__file__).resolve().parents[2]
SECRET, NEXT = "jira-webhook-secret-0123456789", "jira-webhook-rotated-0123456789"
JIRA_USER, JIRA_TOKEN = "sgrule-bot@example.com", "jira-api-token-0123456789"
WEBHOOK = "sgrule-ticket-webhook"
pytestmark = pytest.mark.slow


AUTHORIZE = 'block.from == "native" || (block.from == "description" && payload.issue.fields.status.name == "Approved")'


def params(tmp: Path, jira_url: str) -> dict[str, str]:
    return {"CodeBucket": "local", "AllowedSecurityGroups": "sg-bp1*", "RedisUrl": f"sqlite:///{tmp}/idem.sqlite3",
            "BatchSize": "4", "BatchWindowSeconds": "1",
            "WebhookSenders": json.dumps([{"name": "jira", "scheme": "jira", "secrets": [SECRET, NEXT],
                                            "authorize": AUTHORIZE}]),
            "NotifyTargets": json.dumps([{"sender": "jira", "kind": "jira", "url": jira_url, "user": JIRA_USER,
                                          "token": JIRA_TOKEN}])}


OPTIONS = {"env": {"SGRULE_RETRY_BASE_MS": "10", "SGRULE_RETRY_CAP_MS": "50", "SGRULE_MAX_DELIVERIES": "2"},
           "retry_base_s": 0.05}


@pytest.fixture(scope="module")
def jira() -> Iterator[LocalJira]:
    with LocalJira(users={JIRA_USER: JIRA_TOKEN}, issues=["SEC-1042"]) as server:
        yield server


def post(url: str, body: bytes, delivery: str, secret: str = SECRET) -> tuple[int, dict[str, Any]]:
    """What Jira Cloud sends: the body, X-Hub-Signature: sha256=<hex>, X-Atlassian-Webhook-Identifier."""
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Hub-Signature": signature,
        "X-Atlassian-Webhook-Identifier": delivery, "User-Agent": "Atlassian Webhook HTTP Client"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def jira_issue(key: str, data: dict[str, Any], updated: str) -> bytes:
    block = "Please open the vendor range:\n```sgrule\n" + json.dumps(data, indent=2) + "\n```"
    return json.dumps({"timestamp": 1795770900000, "webhookEvent": "jira:issue_updated",
                       "issue": {"id": "10042", "key": key, "fields": {"summary": "Vendor egress", "status": {"name": "Approved"},
                                                                       "description": block, "updated": updated}},
                       "user": {"displayName": "Ana"}}).encode()


def comment_text(comment: dict[str, Any]) -> str:
    out, stack = [], [comment["body"]]
    while stack:
        node = stack.pop(0)
        out.append(node.get("text", ""))
        stack[:0] = node.get("content", [])
    return "".join(out)


def test_signed_jira_webhook_ends_as_a_comment_with_status_and_ecs_request_id(
        localcloud_app_factory: Any, jira: LocalJira, tmp_path: Path) -> None:
    state = json.loads((ROOT / "events" / "apply" / "state.json").read_text())
    app = localcloud_app_factory(ROOT / "template.yml", params(tmp_path, jira.url), state=state, **OPTIONS)
    data = {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-bp1payments01", "SecurityGroupRuleId": "sgr-bp1https01",
            "DestCidrIp": "10.21.0.0/16"}
    status, answer = post(app.http_url(WEBHOOK) + "/jira", jira_issue("SEC-1042", data, "2026-11-27T09:15:00.000+0000"),
                          "dlv-e2e-1")
    assert status == 202, answer
    [change_id] = answer["accepted"]
    [comment] = app.wait_for(lambda: jira.comments("SEC-1042"), timeout=90)
    text = comment_text(comment)
    # The status and the ECS request id, as the apply function's outcome and ECS's own call log have them.
    [outcome] = [e["event"] for e in app.events(bus="sgrule-outcomes") if e["event"]["Data"]["changeId"] == change_id]
    [modify] = [c for c in app.calls(action="ModifySecurityGroupEgressRule") if c["status"] == 200]
    assert outcome["Data"]["status"] == "applied" and outcome["Data"]["requestId"] == modify["requestId"]
    assert "applied" in text and modify["requestId"] in text and change_id in text
    assert comment["author"]["emailAddress"] == JIRA_USER
    # The same delivery again: the first answer; the ticket sent again after an edit: nothing new.
    assert post(app.http_url(WEBHOOK) + "/jira", jira_issue("SEC-1042", data, "2026-11-27T09:15:00.000+0000"),
                "dlv-e2e-1") == (202, answer)
    status, again = post(app.http_url(WEBHOOK) + "/jira", jira_issue("SEC-1042", data, "2026-11-28T08:00:00.000+0000"),
                         "dlv-e2e-2", secret=NEXT)
    assert status == 202 and again["alreadyQueued"] == [change_id]
    app.wait_idle()
    assert len(jira.comments("SEC-1042")) == 1
    assert not [r for r in app.invocations(function=WEBHOOK) if r["errorType"]]


def test_500_concurrent_signed_requests_each_accepted_change_on_the_queue_once(
        localcloud_app_factory: Any, jira: LocalJira, tmp_path: Path) -> None:
    from mns.mns_exception import MNSServerException

    from localcloud.template import load_template

    template = load_template(ROOT / "template.yml", params(tmp_path, jira.url))
    del template.resources["ChangeTrigger"]  # nobody consumes the queue: what is on it can be counted
    app = localcloud_app_factory(template, state=None, max_instances=4, **OPTIONS)
    url = app.http_url(WEBHOOK) + "/jira"
    n_fresh, n_replays = 400, 100

    def change(i: int) -> bytes:
        return json.dumps({"specversion": "1.0", "id": f"LOAD-{i}", "source": "ticketing/jira",
                           "type": "sgrule.egress.modify", "time": "2026-11-27T12:00:00Z",
                           "data": {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-bp1payments01",
                                    "SecurityGroupRuleId": "sgr-bp1https01",
                                    "Description": f"load {i}"}}).encode()

    # 400 deliveries, then 100 of them again (a sender retrying), all at once.
    requests = [(change(i), f"dlv-load-{i}") for i in range(n_fresh)] + \
               [(change(i), f"dlv-load-{i}") for i in range(0, n_fresh, n_fresh // n_replays)]
    results: list[tuple[int, dict[str, Any]] | None] = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def run(k: int) -> None:
        start.wait()
        results[k] = post(url, *requests[k])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert all(r is not None for r in results)
    fresh, replays = results[:n_fresh], results[n_fresh:]
    assert all(r[0] == 202 for r in fresh if r), Counter(r[0] for r in fresh if r)
    # A replay gets the first answer, or 503 while its first delivery is still in progress (retry -> replay).
    for k, r in enumerate(replays):
        i = int(requests[n_fresh + k][1].rsplit("-", 1)[1])
        assert r and (r == fresh[i] or r[0] == 503), r
    accepted = {cid for r in results if r and r[0] == 202 for cid in r[1]["accepted"]}
    assert accepted == {f"LOAD-{i}" for i in range(n_fresh)}
    queue = app.mns_account().get_queue("sgrule-changes")
    on_queue: Counter[str] = Counter()
    while True:
        try:
            messages = queue.batch_receive_message(16)
        except MNSServerException as exc:
            assert exc.type == "MessageNotExist"
            break
        on_queue.update(json.loads(m.message_body)["id"] for m in messages)
    assert set(on_queue) == accepted and set(on_queue.values()) == {1}, \
        f"duplicates: {[k for k, v in on_queue.items() if v > 1][:5]}"


def test_guardrails_over_http_a_ticket_denied_early_and_one_denied_by_apply_named_on_the_ticket(
        localcloud_app_factory: Any, jira: LocalJira, tmp_path: Path) -> None:
    """The example guardrails policy deployed with the template (GuardrailsFile): a ticket asking for SSH to a
    public address with `accept` is answered 400 by the webhook and nothing is queued; one that does not say
    its Policy needs the live rule, is queued, denied by apply (no Modify) and the comment names the guardrail."""
    state = json.loads((ROOT / "events" / "apply" / "state.json").read_text())
    app = localcloud_app_factory(ROOT / "template.yml", {**params(tmp_path, jira.url),
                                                         "GuardrailsFile": str(ROOT / "guardrails" / "example.yml")},
                                 state=state, **OPTIONS)
    url = app.http_url(WEBHOOK) + "/jira"
    data = {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-bp1payments01", "SecurityGroupRuleId": "sgr-bp1https01",
            "DestCidrIp": "203.0.113.0/24", "PortRange": "22/22"}
    status, answer = post(url, jira_issue("SEC-1042", {**data, "Policy": "accept"}, "2026-11-27T09:15:00.000+0000"),
                          "dlv-guard-1")
    assert status == 400 and [e["code"] for e in answer["errors"]] == ["Forbidden.Guardrail"]
    assert "'no-public-accept'" in answer["errors"][0]["message"]
    status, answer = post(url, jira_issue("SEC-1042", data, "2026-11-27T09:20:00.000+0000"), "dlv-guard-2")
    assert status == 202, answer
    [change_id] = answer["accepted"]
    [comment] = app.wait_for(lambda: [c for c in jira.comments("SEC-1042") if change_id in comment_text(c)],
                             timeout=90)  # the issue is the module's: earlier tests commented on it too
    text = comment_text(comment)
    assert "rejected" in text and "Forbidden.Guardrail" in text and "no-public-accept" in text
    [outcome] = [e["event"] for e in app.events(bus="sgrule-outcomes")]
    assert outcome["Data"]["changeId"] == change_id and outcome["Data"]["guardrails"][0]["name"] == "no-public-accept"
    assert app.calls(action="ModifySecurityGroupEgressRule") == []
    app.wait_idle()
    assert not [r for r in app.invocations() if r["errorType"]]

"""The sender's side, written independently of sgrule.webhook: how each ticket system signs a request, and
the FC 3.0 HTTP trigger event that carries it. Tests sign here and verify there, so a shared mistake
would have to be made twice."""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from datetime import datetime, timezone
from typing import Any

import fckit
from standardwebhooks import Webhook

_ids = itertools.count(1)

# Secrets per sender: [current, next]; "next" is the rotated secret.
SECRETS: dict[str, list[str]] = {
    "std": ["whsec_" + base64.b64encode(b"standard-secret-0123456789abcdef").decode(),
            "whsec_" + base64.b64encode(b"standard-rotated-0123456789abcd").decode()],
    "gh": ["github-secret-0123456789", "github-rotated-0123456789"],
    "jira": ["jira-secret-0123456789ab", "jira-rotated-0123456789ab"],
    "pd": ["pagerduty-secret-01234567", "pagerduty-rotated-0123456"],
    "zd": ["zendesk-secret-0123456789", "zendesk-rotated-012345678"],
    "sn": ["servicenow-token-0123456789", "servicenow-rotated-012345678"],
}
SCHEME = {"std": "standard", "gh": "github", "jira": "jira", "pd": "pagerduty", "zd": "zendesk", "sn": "token"}
SENDERS = tuple(SCHEME)


def senders_config(**extra: dict[str, Any]) -> list[dict[str, Any]]:
    """SGRULE_WEBHOOK_SENDERS for every scheme, each authorizing every place (``authorize: true``: these
    tests are about other steps); ``extra[name]`` adds or replaces fields of that sender."""
    return [{"name": n, "scheme": SCHEME[n], "secrets": SECRETS[n], "authorize": "true", **extra.get(n, {})}
            for n in SENDERS]


def hexmac(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def sign(sender: str, body: bytes, *, secret: str | None = None, delivery: str | None = None,
         at: float | None = None) -> dict[str, str]:
    """The headers ``sender`` (a name in SENDERS) sends with ``body``: its signature under ``secret``
    (default: the current one), its delivery id, and its timestamp ``at`` (default: now)."""
    secret = secret if secret is not None else SECRETS[sender][0]
    delivery = delivery or f"dlv-{next(_ids)}-{time.monotonic_ns()}"
    at = time.time() if at is None else at
    headers = {"Content-Type": "application/json"}
    scheme = SCHEME[sender]
    if scheme == "standard":
        moment = datetime.fromtimestamp(int(at), tz=timezone.utc)
        try:
            signature = Webhook(secret).sign(delivery, moment, body.decode())
        except UnicodeDecodeError:  # the package signs text; the specification signs the bytes
            key = base64.b64decode(secret[len("whsec_"):])
            mac = hmac.new(key, f"{delivery}.{int(at)}.".encode() + body, hashlib.sha256).digest()
            signature = "v1," + base64.b64encode(mac).decode()
        headers.update({"webhook-id": delivery, "webhook-timestamp": str(int(at)), "webhook-signature": signature})
    elif scheme == "github":
        headers.update({"X-Hub-Signature-256": "sha256=" + hexmac(secret, body), "X-GitHub-Delivery": delivery,
                        "X-GitHub-Event": "issues"})
    elif scheme == "jira":
        headers.update({"X-Hub-Signature": "sha256=" + hexmac(secret, body),
                        "X-Atlassian-Webhook-Identifier": delivery})
    elif scheme == "pagerduty":
        headers.update({"X-PagerDuty-Signature": "v1=" + hexmac(secret, body), "X-Webhook-Id": delivery})
    elif scheme == "zendesk":
        stamp = datetime.fromtimestamp(at, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        mac = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
        headers.update({"X-Zendesk-Webhook-Signature": base64.b64encode(mac).decode(),
                        "X-Zendesk-Webhook-Signature-Timestamp": stamp, "X-Zendesk-Webhook-Id": delivery})
    else:
        headers.update({"Authorization": f"Bearer {secret}"})
    return headers


def http_event(path: str, body: bytes | str, headers: dict[str, str], method: str = "POST",
               b64: bool = False) -> bytes:
    """The FC 3.0 HTTP trigger event, as bytes (what the handler receives)."""
    raw = body if isinstance(body, bytes) else body.encode()
    event = {
        "version": "v1", "rawPath": path,
        "body": base64.b64encode(raw).decode() if b64 else raw.decode("utf-8", "surrogateescape"),
        "isBase64Encoded": b64, "headers": headers, "queryParameters": {},
        "requestContext": {"accountId": "1234567890123456", "domainName": "webhook.cn-hangzhou.fcapp.run",
                           "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.45", "userAgent": "tests"},
                           "requestId": f"1-http-{next(_ids)}", "time": "2026-11-27T12:30:01Z",
                           "timeEpoch": str(int(time.time() * 1000))},
    }
    return json.dumps(event).encode()


def fc_context(timeout: float = 10) -> Any:
    return fckit.fc_context("ticket_webhook", timeout)


def change(i: int = 0, *, sender: str = "std", group: str = "sg-bp1payments01", **data: Any) -> dict[str, Any]:
    """A valid native rule-change event from ``sender``."""
    fields = {"RegionId": "cn-hangzhou", "SecurityGroupId": group, "SecurityGroupRuleId": "sgr-bp1https01",
              "PortRange": "443/443", "DestCidrIp": f"10.{i % 250}.0.0/16", **data}
    return {"specversion": "1.0", "id": f"CHG-{i}-{next(_ids)}", "source": f"ticketing/{sender}",
            "type": "sgrule.egress.modify", "time": "2026-11-27T12:30:00Z", "data": fields}


def jira_issue(key: str = "SEC-1042", description: str = "", comment: str | None = None,
               updated: str = "2026-11-27T09:15:00.000+0000") -> dict[str, Any]:
    """A Jira Cloud issue webhook (jira:issue_updated, or comment_created with a comment)."""
    doc: dict[str, Any] = {"timestamp": 1795770900000, "webhookEvent": "jira:issue_updated",
                           "issue": {"id": "10042", "key": key, "fields": {
                               "summary": "Open 443 to the vendor", "description": description,
                               "updated": updated}},
                           "user": {"displayName": "Ana"}, "changelog": {"items": []}}
    if comment is not None:
        doc["webhookEvent"] = "comment_created"
        doc["comment"] = {"id": "20001", "body": comment, "created": updated, "updated": updated}
    return doc


def block(*items: dict[str, Any]) -> str:
    payload = items[0] if len(items) == 1 else list(items)
    return "Please apply:\n```sgrule\n" + json.dumps(payload, indent=2) + "\n```\nThanks"


load_function = fckit.load_function


class Answer:
    """A webhook response, decoded."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.status: int = raw["statusCode"]
        self.headers: dict[str, str] = raw["headers"]
        self.text: str = raw["body"]
        self.json: Any = json.loads(raw["body"])

    @property
    def codes(self) -> list[str]:
        return [e["code"] for e in self.json.get("errors", [])]

    def __repr__(self) -> str:
        return f"<{self.status} {self.text[:300]}>"

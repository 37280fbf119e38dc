"""events/http/: every sample is a real, correctly signed request of its ticket system (secrets in
events/http/senders.json) that the webhook accepts -- the timestamped ones at the time they were signed."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from webhookkit import Answer, fc_context

from sgrule.webhook.config import WebhookSettings
from sgrule.webhook.http import parse_event
from sgrule.webhook.schemes import Unauthorized, verify

HTTP = Path(__file__).resolve().parents[2] / "events" / "http"
SAMPLES = sorted(p.name for p in HTTP.glob("*.json") if p.name != "senders.json")
SIGNED_AT = 1795782600  # 2026-11-27T12:30:00Z
TIMESTAMPED = {"standard-native.json", "zendesk-comment.json"}


@pytest.fixture
def sample_senders(monkeypatch: pytest.MonkeyPatch, queued: Any) -> Any:
    monkeypatch.setenv("SGRULE_WEBHOOK_SENDERS", (HTTP / "senders.json").read_text())
    from sgrule.webhook import handler as runtime

    runtime.reset()
    return queued


def test_every_scheme_has_a_sample() -> None:
    schemes = {s.scheme for s in WebhookSettings(webhook_senders=json.loads((HTTP / "senders.json").read_text()))
               .webhook_senders}
    assert schemes == {"standard", "github", "jira", "pagerduty", "zendesk", "token"}
    assert len(SAMPLES) >= 6


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_verifies_with_its_senders_secret(name: str) -> None:
    settings = WebhookSettings(webhook_senders=json.loads((HTTP / "senders.json").read_text()))
    request = parse_event((HTTP / name).read_bytes())
    sender = settings.sender(request.sender_name)
    assert sender is not None
    verify(sender, request.headers, request.body, SIGNED_AT + 5)
    if sender.scheme != "token":  # a bearer token signs no body
        with pytest.raises(Unauthorized):
            verify(sender, request.headers, request.body + b" ", SIGNED_AT + 5)


@pytest.mark.parametrize("name", [n for n in SAMPLES if n not in TIMESTAMPED])
def test_sample_is_accepted_and_its_changes_queued(sample_senders: Callable[[], list[dict[str, Any]]],
                                                    webhook: Any, name: str) -> None:
    answer = Answer(webhook.handler((HTTP / name).read_bytes(), fc_context()))
    assert answer.status == 202, answer
    queued = sample_senders()
    assert [m["id"] for m in queued] == answer.json["accepted"] and len(queued) == 1
    assert queued[0]["data"]["SecurityGroupId"] == "sg-bp1payments01"


@pytest.mark.parametrize("name", sorted(TIMESTAMPED))
def test_timestamped_samples_are_stale_now(sample_senders: Any, webhook: Any, name: str) -> None:
    """They were signed at 2026-11-27T12:30:00Z; five minutes later they no longer verify (re-sign to replay)."""
    assert Answer(webhook.handler((HTTP / name).read_bytes(), fc_context())).status == 401

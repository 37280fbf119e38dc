"""Verification schemes against the sender's side (webhookkit) and published test vectors."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from pydantic import ValidationError
from webhookkit import SCHEME, SECRETS, SENDERS, sign

from sgrule.webhook.config import Sender, WebhookSettings
from sgrule.webhook.schemes import Unauthorized, verify

BODY = b'{"issue": {"key": "SEC-1"}}'
TIMED = ("std", "zd")  # schemes with a signed timestamp


def sender(name: str, **extra) -> Sender:
    return Sender(name=name, scheme=SCHEME[name], secrets=SECRETS[name], **extra)


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@pytest.mark.parametrize("name", SENDERS)
def test_valid_request_verifies_and_names_its_delivery(name: str) -> None:
    headers = sign(name, BODY, delivery="dlv-42")
    delivery = verify(sender(name), lower(headers), BODY, time.time())
    if SCHEME[name] == "token":  # no delivery id in the protocol: the body's digest
        assert delivery == "sha256:" + hashlib.sha256(BODY).hexdigest()
    else:
        assert delivery == "dlv-42"


@pytest.mark.parametrize("name", SENDERS)
def test_rotated_second_secret_verifies(name: str) -> None:
    headers = sign(name, BODY, secret=SECRETS[name][1])
    verify(sender(name), lower(headers), BODY, time.time())


SIGNING = tuple(n for n in SENDERS if SCHEME[n] != "token")  # a bearer token signs no body (ServiceNow)


@pytest.mark.parametrize("name", SIGNING)
def test_tampered_body_is_refused(name: str) -> None:
    headers = sign(name, BODY)
    with pytest.raises(Unauthorized, match="mismatch"):
        verify(sender(name), lower(headers), BODY.replace(b"SEC-1", b"SEC-2"), time.time())


@pytest.mark.parametrize("name", SENDERS)
def test_wrong_secret_is_refused(name: str) -> None:
    wrong = ("whsec_" + base64.b64encode(b"another-secret-0123456789abcdef!").decode()
             if SCHEME[name] == "standard" else "another-secret-0123456789")
    with pytest.raises(Unauthorized, match="mismatch"):
        verify(sender(name), lower(sign(name, BODY, secret=wrong)), BODY, time.time())


SIGNATURE_HEADER = {"std": "webhook-signature", "gh": "x-hub-signature-256", "jira": "x-hub-signature",
                    "pd": "x-pagerduty-signature", "zd": "x-zendesk-webhook-signature", "sn": "authorization"}
DELIVERY_HEADER = {"std": "webhook-id", "gh": "x-github-delivery", "jira": "x-atlassian-webhook-identifier",
                   "pd": "x-webhook-id", "zd": "x-zendesk-webhook-id"}


@pytest.mark.parametrize("name", SENDERS)
def test_missing_signature_header_is_refused(name: str) -> None:
    headers = lower(sign(name, BODY))
    del headers[SIGNATURE_HEADER[name]]
    with pytest.raises(Unauthorized, match="missing"):
        verify(sender(name), headers, BODY, time.time())


@pytest.mark.parametrize("name", [n for n in SENDERS if n in DELIVERY_HEADER])
def test_missing_delivery_id_is_refused(name: str) -> None:
    headers = lower(sign(name, BODY))
    del headers[DELIVERY_HEADER[name]]
    with pytest.raises(Unauthorized, match="missing"):
        verify(sender(name), headers, BODY, time.time())


MALFORMED = {
    "std": ["v1,not base64!", "v2,abcd", "garbage", "v1"],
    "gh": ["sha1=" + "0" * 40, "sha256=xyz", "sha256=" + "0" * 63, "0" * 64],
    "jira": ["sha256=" + "g" * 64, "sha512=" + "0" * 128, ""],
    "pd": ["v0=" + "0" * 64, "v1=abc", "v1=" + "0" * 64 + "0"],
    "zd": ["not base64!!", "é"],
    "sn": ["Basic dXNlcjpwYXNz", "Bearer", "Token abc"],
}


@pytest.mark.parametrize("name,value", [(n, v) for n in SENDERS for v in MALFORMED[n]])
def test_malformed_signature_header_is_refused(name: str, value: str) -> None:
    headers = lower(sign(name, BODY))
    headers[SIGNATURE_HEADER[name]] = value
    with pytest.raises(Unauthorized):
        verify(sender(name), headers, BODY, time.time())


@pytest.mark.parametrize("name", TIMED)
@pytest.mark.parametrize("offset", [-301, +301, -86400, +86400])
def test_stale_or_future_timestamp_is_refused(name: str, offset: int) -> None:
    now = time.time()
    headers = lower(sign(name, BODY, at=now + offset))
    with pytest.raises(Unauthorized, match="too old|future"):
        verify(sender(name), headers, BODY, now)


@pytest.mark.parametrize("name", TIMED)
def test_timestamp_within_tolerance_verifies_and_tolerance_is_per_sender(name: str) -> None:
    now = time.time()
    verify(sender(name), lower(sign(name, BODY, at=now - 290)), BODY, now)
    verify(sender(name), lower(sign(name, BODY, at=now + 290)), BODY, now)
    with pytest.raises(Unauthorized):
        verify(sender(name, tolerance_seconds=60), lower(sign(name, BODY, at=now - 120)), BODY, now)


@pytest.mark.parametrize("stamp", ["", "1e9", "-5", "12345678901234", "０１２"])
def test_malformed_standard_timestamp_is_refused(stamp: str) -> None:
    headers = lower(sign("std", BODY))
    headers["webhook-timestamp"] = stamp
    with pytest.raises(Unauthorized):
        verify(sender("std"), headers, BODY, time.time())


@pytest.mark.parametrize("stamp", ["yesterday", "2026-11-27T12:30:00", "2026-13-01T00:00:00Z", "1795782601"])
def test_malformed_zendesk_timestamp_is_refused(stamp: str) -> None:
    headers = lower(sign("zd", BODY))
    headers["x-zendesk-webhook-signature-timestamp"] = stamp
    with pytest.raises(Unauthorized):
        verify(sender("zd"), headers, BODY, time.time())


def test_zendesk_signature_covers_the_timestamp() -> None:
    now = time.time()
    headers = lower(sign("zd", BODY, at=now))
    other = lower(sign("zd", BODY, at=now - 10))
    headers["x-zendesk-webhook-signature-timestamp"] = other["x-zendesk-webhook-signature-timestamp"]
    with pytest.raises(Unauthorized, match="mismatch"):
        verify(sender("zd"), headers, BODY, now)


def test_standard_signature_covers_the_id() -> None:
    headers = lower(sign("std", BODY, delivery="msg_1"))
    headers["webhook-id"] = "msg_2"
    with pytest.raises(Unauthorized, match="mismatch"):
        verify(sender("std"), headers, BODY, time.time())


def test_pagerduty_header_with_one_signature_per_active_secret() -> None:
    """PagerDuty sends v1=<hex> for each of its secrets: any one of ours matching any one of them verifies."""
    theirs = hmac.new(b"a-secret-we-do-not-have-000", BODY, hashlib.sha256).hexdigest()
    ours = hmac.new(SECRETS["pd"][1].encode(), BODY, hashlib.sha256).hexdigest()
    headers = {"x-webhook-id": "d1", "x-pagerduty-signature": f"v1={theirs}, v1={ours}"}
    assert verify(sender("pd"), headers, BODY, time.time()) == "d1"
    headers["x-pagerduty-signature"] = f"v1={theirs}"
    with pytest.raises(Unauthorized):
        verify(sender("pd"), headers, BODY, time.time())


def test_standard_webhooks_published_vector() -> None:
    """The example of the Standard Webhooks specification (secret, id, timestamp, payload -> signature)."""
    s = Sender(name="std", scheme="standard", secrets=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
    body = b'{"test": 2432232314}'
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
               "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    assert verify(s, headers, body, 1614265330 + 10) == "msg_p5jXN8AQM9LWM0D4loKWxJek"
    with pytest.raises(Unauthorized):
        verify(s, headers, body + b" ", 1614265330)


def test_github_published_vector() -> None:
    """GitHub's documented example: secret "It's a Secret to Everybody", payload "Hello, World!"."""
    s = Sender(name="gh", scheme="github", secrets=["It's a Secret to Everybody"])
    headers = {"x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "x-hub-signature-256":
               "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}
    assert verify(s, headers, b"Hello, World!", 0) == "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def test_token_scheme_takes_a_configured_delivery_header() -> None:
    s = sender("sn", delivery_header="X-ServiceNow-Request-Id")
    headers = lower(sign("sn", BODY))
    headers["x-servicenow-request-id"] = "req-77"
    assert verify(s, headers, BODY, 0) == "req-77"
    del headers["x-servicenow-request-id"]
    with pytest.raises(Unauthorized):
        verify(s, headers, BODY, 0)


@pytest.mark.parametrize("delivery", ["has space", "x" * 257, "naïve", "tab\there"])
def test_delivery_id_must_be_printable_ascii(delivery: str) -> None:
    headers = lower(sign("gh", BODY))
    headers["x-github-delivery"] = delivery
    with pytest.raises(Unauthorized, match="malformed"):
        verify(sender("gh"), headers, BODY, 0)


def test_huge_signature_header_is_refused_before_any_work() -> None:
    headers = lower(sign("std", BODY))
    headers["webhook-signature"] = "v1,AAAA " * 2000
    with pytest.raises(Unauthorized, match="too long"):
        verify(sender("std"), headers, BODY, time.time())


# ------------------------------------------------------------------------------------------ configuration

@pytest.mark.parametrize("secrets", [["short"], ["whsec_notbase64!"], [" padded-secret-0123456789 "], []])
def test_weak_or_malformed_secrets_are_refused_without_echoing_them(secrets: list[str]) -> None:
    scheme = "standard" if secrets and secrets[0].startswith("whsec_") else "jira"
    with pytest.raises(ValidationError) as info:
        Sender(name="x", scheme=scheme, secrets=secrets)
    for secret in secrets:
        assert secret.strip() not in str(info.value)


def test_settings_from_the_environment_mask_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from webhookkit import senders_config

    monkeypatch.setenv("SGRULE_WEBHOOK_SENDERS", json.dumps(senders_config(jira={"allowedSecurityGroups": ["sg-a*"]})))
    s = WebhookSettings()
    assert [x.name for x in s.webhook_senders] == list(SENDERS)
    assert s.sender("jira").allowed_security_groups == ["sg-a*"]
    text = repr(s) + str(s.model_dump())
    for pair in SECRETS.values():
        for secret in pair:
            assert secret not in text


def test_duplicate_sender_names_and_bad_mapping_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setenv("SGRULE_WEBHOOK_SENDERS", json.dumps([
        {"name": "a", "scheme": "jira", "secrets": [SECRETS["jira"][0]]},
        {"name": "a", "scheme": "github", "secrets": [SECRETS["gh"][0]]}]))
    with pytest.raises(ValidationError, match="unique"):
        WebhookSettings()
    with pytest.raises(ValidationError, match="JMESPath"):
        Sender(name="a", scheme="jira", secrets=[SECRETS["jira"][0]], mapping={"key": "issue.[key"})


# ------------------------------------------------------------------------------ secrets that cannot lie

def _senders(*secrets: tuple[str, str, str]) -> list[dict[str, str | list[str]]]:
    return [{"name": n, "scheme": scheme, "secrets": [s]} for n, scheme, s in secrets]


def test_two_senders_sharing_a_secret_are_refused_naming_them_not_the_secret() -> None:
    from sgrule.webhook.config import describe_error

    shared = SECRETS["jira"][0]
    with pytest.raises(ValidationError) as info:
        WebhookSettings(webhook_senders=_senders(("jira", "jira", shared), ("gh", "github", SECRETS["gh"][0]),
                                                 ("jira2", "jira", shared)))
    text = describe_error(info.value)
    assert "'jira' and 'jira2' share a secret" in text and shared not in text


@pytest.mark.parametrize("scheme, secret", [
    ("jira", "aaaaaaaaaaaaaaaa"), ("github", "abcdefghijklmnopqrstuvwxyz"), ("pagerduty", "password12345678"),
    ("token", "abababababababababababab"), ("zendesk", "1212121212121212121212"),
    ("standard", "whsec_" + base64.b64encode(b"\0" * 32).decode()),
    ("standard", "whsec_" + base64.b64encode(b"abcdefghijklmnopqrstuvwxyz").decode()),
])
def test_a_secret_without_enough_randomness_is_refused(scheme: str, secret: str) -> None:
    from sgrule.webhook.config import describe_error

    with pytest.raises(ValidationError) as info:
        WebhookSettings(webhook_senders=_senders(("s", scheme, secret)))
    assert "not random enough" in describe_error(info.value) and secret not in describe_error(info.value)


@pytest.mark.parametrize("secret", ["3f9c1e7a0b5d2c8e4f6a1b3c5d7e9f0a", "sample-jira-webhook-secret-0001",
                                    "k7Hq-2ZpX9vR_mWc4TfL"])
def test_random_enough_secrets_are_accepted(secret: str) -> None:
    assert WebhookSettings(webhook_senders=_senders(("s", "jira", secret))).webhook_senders[0].name == "s"

"""The notify function's settings: the common ones plus where each sender's outcomes go
(``SGRULE_NOTIFY_TARGETS``, JSON)::

    [{"sender": "jira", "kind": "jira", "url": "https://acme.atlassian.net",
      "user": "sgrule-bot@acme.com", "token": "<Jira API token>"},
     {"sender": "pd", "kind": "callback", "url": "https://hooks.acme.com/sgrule", "secret": "whsec_..."}]

Kept apart from the webhook's senders on purpose: the webhook never holds a ticket system's API token, and
this function never holds a webhook's verification secret. Secrets are :class:`pydantic.SecretStr`.
"""
from __future__ import annotations

import hashlib
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel

from ..runtime.config import CommonSettings, is_standard_webhooks_secret


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True, alias_generator=to_camel,
                              populate_by_name=True)

    sender: str = Field(description="The webhook sender whose changes' outcomes go here (changeSource "
                                    "ticketing/<sender>).")
    kind: Literal["jira", "callback"]
    url: str = Field(description="jira: the site (https://<site>.atlassian.net); callback: the URL to POST to.")
    user: str | None = Field(None, description="jira: the account's email.")
    token: SecretStr | None = Field(None, description="jira: the account's API token.")
    secret: SecretStr | None = Field(None, description="callback: Standard Webhooks secret (whsec_...).")
    statuses: list[str] = Field(default_factory=list, description="Only these outcome statuses (empty: all).")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("url must be an http(s) URL")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _credentials(self) -> Target:
        if self.kind == "jira" and (not self.user or self.token is None or not self.token.get_secret_value()):
            raise ValueError(f"target for {self.sender!r}: a jira target needs user and token")
        if self.kind == "callback":
            raw = self.secret.get_secret_value() if self.secret else ""
            if not is_standard_webhooks_secret(raw):
                raise ValueError(f"target for {self.sender!r}: a callback needs secret 'whsec_' + base64 "
                                 "of at least 16 random bytes")
        return self

    @property
    def ident(self) -> str:
        """Stable name of this target in the store (not secret)."""
        return hashlib.sha256(f"{self.sender}\x1f{self.kind}\x1f{self.url}".encode()).hexdigest()[:16]

    def wants(self, status: str) -> bool:
        return not self.statuses or status in self.statuses


class NotifySettings(CommonSettings):
    notify_targets: list[Target] = Field(default_factory=list)
    notify_timeout_ms: int = Field(10000, ge=100, le=60000)  # per HTTP request to a ticket system

    def targets_for(self, sender: str) -> list[Target]:
        return [t for t in self.notify_targets if t.sender == sender]

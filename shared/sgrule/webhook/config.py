"""The ticket webhook's settings: the common ones plus its senders (``SGRULE_WEBHOOK_SENDERS``, JSON).

A sender is one ticket system calling ``POST <function URL>/<name>``::

    [{"name": "jira", "scheme": "jira", "secrets": ["<current>", "<next>"],
      "allowedSecurityGroups": ["sg-bp1*"], "mapping": {"key": "issue.key"}}]

Secrets are :class:`pydantic.SecretStr` (masked in reprs, logs and validation errors); give two while
rotating one. ``mapping`` names the payload fields (JMESPath) that hold the ticket key, its update time,
its description and its latest comment; the scheme's ticket system has defaults (:mod:`.tickets`).
"""
from __future__ import annotations

import fnmatch
import hashlib
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel

from ..runtime.config import (MIN_SECRET_BITS, CommonSettings, is_standard_webhooks_secret, secret_bits,
                              standard_webhooks_key)

Scheme = Literal["standard", "github", "jira", "pagerduty", "zendesk", "token"]
SCHEMES: tuple[str, ...] = ("standard", "github", "jira", "pagerduty", "zendesk", "token")
MIN_SECRET_CHARS = 16  # shorter shared secrets are guessable; every scheme's docs ask for long random ones
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class _Camel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True,
                              alias_generator=to_camel, populate_by_name=True)


class Mapping(_Camel):
    """JMESPath expressions over a ticket payload; an unset one keeps the scheme's default."""

    key: str | None = None          # the ticket key (becomes the change's correlationid)
    updated: str | None = None      # the ticket's update time (RFC 3339 / ISO 8601, or epoch s or ms)
    description: str | None = None  # text (or an Atlassian document) searched for sgrule blocks
    comment: str | None = None      # the latest comment; its blocks win over the description's

    @model_validator(mode="after")
    def _compiles(self) -> Mapping:
        exprs = {k: v for k, v in self.__dict__.items() if v is not None}
        if exprs:
            import jmespath  # only when a sender configures a mapping
            from jmespath.exceptions import JMESPathError

            for name, expr in exprs.items():
                try:
                    jmespath.compile(expr)
                except JMESPathError as exc:
                    raise ValueError(f"mapping.{name} is not a JMESPath expression: {exc}") from None
        return self


class Sender(_Camel):
    name: str = Field(description="Path segment of the sender's URL: POST <function URL>/<name>.")
    scheme: Scheme
    secrets: list[SecretStr] = Field(min_length=1, max_length=5,
                                     description="Every secret that verifies; two while rotating.")
    mapping: Mapping | None = None
    allowed_regions: list[str] = Field(default_factory=list,
                                       description="Globs narrowing SGRULE_ALLOWED_REGIONS for this sender.")
    allowed_security_groups: list[str] = Field(
        default_factory=list, description="Globs narrowing SGRULE_ALLOWED_SECURITY_GROUPS for this sender.")
    tolerance_seconds: float = Field(300, gt=0, le=3600,
                                     description="Schemes with a signed timestamp: how old or new it may be.")
    delivery_header: str | None = Field(None, description="Header carrying the delivery id (token scheme; "
                                                          "default: a digest of the body).")
    projects: list[str] = Field(default_factory=list, max_length=100,
                                description="Globs of the ticket keys this sender speaks for (SEC-*, "
                                            "acme/infra#*): a native event's correlationid outside them is "
                                            "dropped, so outcomes are only posted where the sender may.")
    authorize: str | None = Field(None, min_length=1, max_length=4096,
                                  description="CEL over payload, headers, sender and block: true accepts the "
                                              "block's changes. Unset: only native rule-change events.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("name must be 1-64 of a-z, 0-9, '-', '_' (it is the URL path segment)")
        return v

    @field_validator("delivery_header")
    @classmethod
    def _header(cls, v: str | None) -> str | None:
        if v is not None and not _HEADER.match(v):
            raise ValueError("deliveryHeader must be a header name")
        return v.lower() if v else v

    @model_validator(mode="after")
    def _secrets(self) -> Sender:
        # Checked here so a bad secret fails at start-up, not on the first request. Messages never quote one.
        for i, secret in enumerate(self.secrets):
            raw = secret.get_secret_value()
            if self.scheme == "standard":
                if not is_standard_webhooks_secret(raw):
                    raise ValueError(f"secrets[{i}] of sender {self.name!r}: a Standard Webhooks secret is "
                                     "'whsec_' followed by base64 of at least 16 random bytes")
            elif len(raw) < MIN_SECRET_CHARS or raw != raw.strip():
                raise ValueError(f"secrets[{i}] of sender {self.name!r}: at least {MIN_SECRET_CHARS} characters, "
                                 "no surrounding whitespace")
            key = standard_webhooks_key(raw) if self.scheme == "standard" else raw.encode("utf-8", "replace")
            if secret_bits(key or b"") < MIN_SECRET_BITS:
                raise ValueError(f"secrets[{i}] of sender {self.name!r} is not random enough (repeated or "
                                 "sequential characters, or too few different ones): generate one, e.g. "
                                 "`openssl rand -hex 32`")
        return self

    @property
    def signs_delivery(self) -> bool:
        """Whether the scheme signs a delivery id or time; if not, a replay can carry any id it likes."""
        return self.scheme in ("standard", "zendesk")

    def owns(self, ticket: str) -> bool:
        return any(fnmatch.fnmatchcase(ticket, p) for p in self.projects)

    def allows(self, region: str, group: str) -> bool:
        """The sender's own narrowing of the allow-list (empty: no narrowing)."""
        return ((not self.allowed_regions or any(fnmatch.fnmatchcase(region, p) for p in self.allowed_regions))
                and (not self.allowed_security_groups
                     or any(fnmatch.fnmatchcase(group, p) for p in self.allowed_security_groups)))


class WebhookSettings(CommonSettings):
    webhook_senders: list[Sender] = Field(default_factory=list)
    # Answer within the sender's patience (PagerDuty waits 5 s): enqueueing stops retrying after this.
    webhook_budget_ms: int = Field(4000, ge=100, le=60000)
    # How long a ticket's change is remembered (with the time it was first seen), so a ticket re-sent after
    # any later edit never enqueues it again; keep it longer than tickets stay open.
    webhook_change_ttl_s: float = Field(90 * 24 * 3600, gt=0)
    # A change's `time` may be at most this far ahead of the webhook's clock (a far-future time would make
    # every later change to its fields `superseded` for as long as the watermark lives).
    webhook_max_skew_s: float = Field(300, ge=0, le=86400)
    # The apply function's guardrails policy, judged early on the changes' own fields (README, Guardrails).
    guardrails_file: str | None = None

    @field_validator("webhook_senders")
    @classmethod
    def _unique(cls, senders: list[Sender]) -> list[Sender]:
        names = [s.name for s in senders]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sender names must be unique: {dupes}")
        # A secret verifies at every sender holding it: a body one sender's allow-list or policy refuses would
        # be accepted at the other's URL. Compared by digest; the message names senders, never a secret.
        owner: dict[bytes, str] = {}
        for sender in senders:
            for secret in sender.secrets:
                digest = hashlib.sha256(secret.get_secret_value().encode("utf-8", "replace")).digest()
                other = owner.setdefault(digest, sender.name)
                if other != sender.name:
                    raise ValueError(f"senders {other!r} and {sender.name!r} share a secret: give each sender "
                                     "its own, or a request refused at one would be accepted at the other")
        return senders

    def sender(self, name: str) -> Sender | None:
        return next((s for s in self.webhook_senders if s.name == name), None)


def describe_error(exc: Exception) -> str:
    """A settings error for the log without any value that was given (a secret may be among them)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            items: list[Any] = errors(include_url=False, include_input=False, include_context=False)
            return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in items)
        except TypeError:
            pass
    return type(exc).__name__

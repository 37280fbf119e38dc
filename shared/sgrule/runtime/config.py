"""Configuration every function shares, from the environment (pydantic-settings).

FC sets the standard ``ALIBABA_CLOUD_*`` credentials from the function's role; everything of sgrule's own
is ``SGRULE_*``. Each function's settings subclass :class:`CommonSettings` in its own subpackage
(``sgrule.apply.config`` ...). The README lists every variable.
"""
from __future__ import annotations

import base64
import binascii
import fnmatch
import math
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing_extensions import Annotated


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SGRULE_", extra="ignore", frozen=True)

    # Credentials: the standard names (no prefix); secrets never appear in logs or reprs.
    access_key_id: str | None = Field(None, validation_alias=AliasChoices("ALIBABA_CLOUD_ACCESS_KEY_ID"))
    access_key_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ALIBABA_CLOUD_ACCESS_KEY_SECRET"))
    security_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ALIBABA_CLOUD_SECURITY_TOKEN"))

    # The function's own region (FC sets FC_REGION): where the outcome bus and the queue are.
    region: str = Field("cn-hangzhou", validation_alias=AliasChoices("SGRULE_REGION", "FC_REGION",
                                                                      "ALIBABA_CLOUD_REGION"))
    # Where the APIs are. Unset ECS endpoint: the SDK's own endpoint for the event's region.
    ecs_endpoint: str | None = None
    eventbridge_endpoint: str | None = None
    mns_endpoint: str | None = None  # http(s)://<account>.mns.<region>.aliyuncs.com; required to enqueue
    fc_endpoint: str | None = None  # unset: <account>.<region>.fc.aliyuncs.com
    outcome_bus: str | None = None  # unset: outcomes are only returned and logged
    change_queue: str = "sgrule-changes"  # the MNS queue every door puts rule changes on

    # Idempotency store: sqlite:///path (default: a file under the temp dir) or redis://host:port/db.
    idempotency_url: str | None = None
    idempotency_namespace: str = Field("sgrule", min_length=1)  # key prefix (Redis) / scope (SQLite)
    completed_ttl_s: float = Field(7 * 24 * 3600, gt=0)

    # Policy guard: comma-separated regions and security-group ids or globs a change may touch. Unset or
    # empty allows nothing (an allow-list that fails open would not be one); "*" allows everything.
    allowed_regions: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allowed_security_groups: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Retries of SDK calls and the time budget of an invocation.
    retry_base_ms: float = Field(100, gt=0)
    retry_cap_ms: float = Field(5000, gt=0)
    max_attempts: int = Field(8, ge=1)  # per call (the time budget may stop earlier)
    time_reserve_ms: float = Field(1500, ge=0)  # left for recording and publishing before the FC timeout
    default_timeout_s: float = Field(60, gt=0)  # budget when the context gives no deadline
    connect_timeout_ms: int = 3000
    read_timeout_ms: int = 10000

    _split = field_validator("allowed_regions", "allowed_security_groups", mode="before")(_csv)

    def allows(self, region: str, group: str) -> bool:
        return (any(fnmatch.fnmatchcase(region, p) for p in self.allowed_regions)
                and any(fnmatch.fnmatchcase(group, p) for p in self.allowed_security_groups))


class EcsCallerSettings(CommonSettings):
    """The settings of a function that calls ECS: the common ones plus the fleet's ECS call budget."""

    # Shared through the idempotency store: API=CALLS[/SECONDS] items (REGION:API=... for one region), e.g.
    # "ModifySecurityGroupEgressRule=40,DescribeSecurityGroupAttribute=80". Empty: no budget.
    ecs_rate: str = ""

    @field_validator("ecs_rate")
    @classmethod
    def _check_ecs_rate(cls, value: str) -> str:
        from ..store.budget import parse_rates

        parse_rates(value)  # a BudgetConfigError (a ValueError) names the bad item and what to write
        return value.strip()


def endpoint_parts(url: str) -> tuple[str, str]:
    """``http://127.0.0.1:8080`` -> (``http``, ``127.0.0.1:8080``); a bare host means HTTPS."""
    if "://" not in url:
        return "https", url
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


MIN_SECRET_BITS = 48  # estimated; a random 16-byte key scores about 56, `openssl rand -hex 32` about 200


def secret_bits(secret: bytes) -> float:
    """A cautious estimate of a secret's randomness in bits: its characters' entropy (Shannon, over the
    secret itself) times the number of steps that are neither a repeat nor a neighbour of the previous
    character. ``aaaaaaaaaaaaaaaa`` and ``abcdefghijklmnop`` score about 0, ``password12345678`` 31."""
    if not secret:
        return 0.0
    n = len(secret)
    entropy = -sum(c / n * math.log2(c / n) for c in Counter(secret).values())
    steps = 1 + sum(1 for a, b in zip(secret, secret[1:]) if abs(b - a) > 1)
    return steps * entropy


def standard_webhooks_key(raw: str) -> bytes | None:
    """The key bytes of a ``whsec_`` secret, or None if it is not one."""
    if not raw.startswith("whsec_"):
        return None
    text = raw[len("whsec_"):]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def is_standard_webhooks_secret(raw: str) -> bool:
    """A Standard Webhooks signing secret: ``whsec_`` and the base64 of at least 16 random bytes (for the
    webhook's ``standard`` senders and notify's callbacks alike)."""
    key = standard_webhooks_key(raw)
    return key is not None and len(key) >= 16

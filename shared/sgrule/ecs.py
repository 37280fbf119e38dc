"""ECS through the official SDK: the client, reading a group's egress rules, the Modify call, retries.

The ECS SDK retries nothing by default, so retrying is ours: Throttling*, ServiceUnavailable, 5xx and
network errors are transient and retried with full-jitter exponential backoff, bounded by the time the
invocation has left; any other 4xx is final. Every retry of a Modify carries the same ClientToken.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from .config import Settings, endpoint_parts
from .errors import SgruleError
from .rule import RULE_FIELDS, canonical

if TYPE_CHECKING:
    from alibabacloud_ecs20140526.client import Client

T = TypeVar("T")
ECS_VERSION = "2014-05-26"
_TRANSIENT_CODES = ("Throttling", "ServiceUnavailable", "InternalError", "RequestTimeout")


def make_client(settings: Settings, region_id: str = "cn-hangzhou") -> Client:
    """One client per instance: safe to share across threads (FACTS.md)."""
    from .sdk import lazy_models

    lazy_models("alibabacloud_ecs20140526")
    from alibabacloud_ecs20140526.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    config = _config(settings, Config, region_id)
    if settings.ecs_endpoint:
        config.protocol, config.endpoint = endpoint_parts(settings.ecs_endpoint)
    return Client(config)


def _config(settings: Settings, config_cls: Any, region_id: str) -> Any:
    if settings.access_key_id and settings.access_key_secret:
        config = config_cls(
            access_key_id=settings.access_key_id,
            access_key_secret=settings.access_key_secret.get_secret_value(),
            security_token=settings.security_token.get_secret_value() if settings.security_token else None,
        )
    else:  # the SDK's default chain (env, profile, RAM role); with tea-openapi 0.4 it must be explicit
        from alibabacloud_credentials.client import Client as CredentialClient

        config = config_cls(credential=CredentialClient())
    config.region_id = region_id
    config.connect_timeout = settings.connect_timeout_ms
    config.read_timeout = settings.read_timeout_ms
    return config


class Transient(Exception):
    """A failure worth retrying (throttling, 5xx, network). ``error`` says which."""

    def __init__(self, error: SgruleError) -> None:
        super().__init__(str(error))
        self.error = error


def classify(exc: Exception) -> Exception:
    """SDK exception -> :class:`Transient` or a final :class:`SgruleError` (source ``ecs``)."""
    from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
    from darabonba.exceptions import UnretryableException

    if isinstance(exc, (ClientException, ServerException, ThrottlingException)):
        code = str(exc.code)
        message = (exc.data or {}).get("Message") if isinstance(exc.data, dict) else None
        err = SgruleError(code, message or str(exc.message), http_status=exc.status_code, source="ecs")
        status = exc.status_code or 0
        if isinstance(exc, (ServerException, ThrottlingException)) or status >= 500 or status == 429 \
                or code.startswith(_TRANSIENT_CODES):
            return Transient(err)
        return err
    if isinstance(exc, UnretryableException):  # no response: connection refused, reset, timeout
        inner = getattr(exc, "inner_exception", None) or exc
        return Transient(SgruleError("ServiceUnavailable", f"network error: {type(inner).__name__}: {inner}",
                                     http_status=503, source="runtime"))
    return exc


@dataclass
class Retrier:
    """Full-jitter exponential backoff bounded by a deadline (time.monotonic seconds)."""

    deadline: float
    base_s: float = 0.1
    cap_s: float = 5.0
    max_attempts: int = 8
    rng: random.Random = field(default_factory=random.Random)

    read_timeout_ms: int = 10000
    connect_timeout_ms: int = 3000

    def runtime(self) -> Any:
        """Per-call SDK timeouts that end no later than the deadline (the client defaults are 5 s / 10 s)."""
        from darabonba.runtime import RuntimeOptions

        left_ms = int((self.deadline - time.monotonic()) * 1000)
        return RuntimeOptions(read_timeout=max(100, min(self.read_timeout_ms, left_ms)),
                              connect_timeout=max(100, min(self.connect_timeout_ms, left_ms)))

    def call(self, fn: Callable[[Any], T], on_attempt: Callable[[], None] | None = None) -> T:
        """Run ``fn(runtime_options)`` until it succeeds or fails finally; raise :class:`Transient` when
        out of tries or time. No attempt starts past the deadline."""
        attempt = 0
        while True:
            if time.monotonic() >= self.deadline:
                raise Transient(SgruleError("Runtime.RetriesExhausted", f"out of time after {attempt} attempt(s)",
                                            http_status=503, source="runtime"))
            attempt += 1
            if on_attempt:
                on_attempt()
            try:
                return fn(self.runtime())
            except Exception as exc:  # noqa: BLE001 - classified right below
                result = classify(exc)
                if not isinstance(result, Transient):
                    raise result from None
                delay = self.rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))
                if attempt >= self.max_attempts or time.monotonic() + delay >= self.deadline:
                    raise result from None
                time.sleep(delay)


def describe_egress(client: Client, region_id: str, group_id: str, retrier: Retrier) -> dict[str, dict[str, Any]]:
    """Every egress rule of a group, all pages: rule id -> canonical fields under API names."""
    from alibabacloud_ecs20140526.models import DescribeSecurityGroupAttributeRequest

    rules: dict[str, dict[str, Any]] = {}
    token: str | None = None
    while True:
        request = DescribeSecurityGroupAttributeRequest(region_id=region_id, security_group_id=group_id,
                                                        direction="egress", max_results=1000, next_token=token)
        body = retrier.call(lambda rt: client.describe_security_group_attribute_with_options(request, rt).body)
        for perm in (body.permissions.permission if body.permissions else None) or []:
            live = perm.to_map()
            if str(live.get("Direction", "egress")).lower() != "egress":
                continue
            rules[live["SecurityGroupRuleId"]] = live_fields(live)
        token = body.next_token
        if not token:
            return rules


def live_fields(perm: dict[str, Any]) -> dict[str, Any]:
    """A Describe permission -> the rule's fields, canonical, empty ones left out."""
    out = {}
    for name in RULE_FIELDS:
        value = canonical(name, perm.get(name))
        if value is not None:
            out[name] = value
    return out


def modify(client: Client, params: dict[str, str], runtime: Any) -> str:
    """One ModifySecurityGroupEgressRule call (``runtime``: SDK RuntimeOptions); returns the RequestId."""
    from alibabacloud_ecs20140526.models import ModifySecurityGroupEgressRuleRequest

    request = ModifySecurityGroupEgressRuleRequest().from_map(params)
    return client.modify_security_group_egress_rule_with_options(request, runtime).body.request_id

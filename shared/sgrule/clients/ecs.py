"""ECS through the official SDK: the client, listing groups, reading a group's egress rules, the Modify call.

Calls go through a :class:`~sgrule.clients.retry.Retrier` (the SDK retries nothing by default); every retry
of a Modify carries the same ClientToken.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Iterator

from ..contract.rule import RULE_FIELDS, canonical
from ..runtime.config import CommonSettings, endpoint_parts
from .base import first_request_alone, sdk_config
from .retry import Retrier

if TYPE_CHECKING:
    from alibabacloud_ecs20140526.client import Client

ECS_VERSION = "2014-05-26"


def make_client(settings: CommonSettings, region_id: str = "cn-hangzhou") -> Client:
    """One client per instance and region: safe to share across threads."""
    from ..runtime.sdk import lazy_models

    lazy_models("alibabacloud_ecs20140526")
    from alibabacloud_ecs20140526.client import Client

    config = sdk_config(settings, region_id)
    if settings.ecs_endpoint:
        config.protocol, config.endpoint = endpoint_parts(settings.ecs_endpoint)
    return Client(config)


class RegionalClients:
    """One official ECS client per region, made on first use (a change names its region; clients are
    thread-safe, making one is not). Called as ``clients(region)``."""

    def __init__(self, settings: CommonSettings) -> None:
        self._settings = settings
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()

    def __call__(self, region: str) -> Client:
        with self._lock:
            if region not in self._clients:
                self._clients[region] = make_client(self._settings, region)
            return self._clients[region]


def describe_egress(client: Client, region_id: str, group_id: str, retrier: Retrier,
                    attributes: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Every egress rule of a group, all pages: rule id -> canonical fields under API names. ``attributes``,
    if given, receives the group's own (``VpcId``) from the same response."""
    from alibabacloud_ecs20140526.models import DescribeSecurityGroupAttributeRequest

    rules: dict[str, dict[str, Any]] = {}
    token: str | None = None
    while True:
        request = DescribeSecurityGroupAttributeRequest(region_id=region_id, security_group_id=group_id,
                                                        direction="egress", max_results=1000, next_token=token)
        body = retrier.call(first_request_alone(  # the lambda runs at once, with this page's request
            client, retrier, lambda rt: client.describe_security_group_attribute_with_options(request, rt).body))  # noqa: B023
        if attributes is not None and body.vpc_id:
            attributes["VpcId"] = body.vpc_id
        for perm in (body.permissions.permission if body.permissions else None) or []:
            live = perm.to_map()
            if str(live.get("Direction", "egress")).lower() != "egress":
                continue
            rules[live["SecurityGroupRuleId"]] = live_fields(live)
        token = body.next_token
        if not token:
            return rules


def describe_groups(client: Client, region_id: str, retrier: Retrier,
                    page_size: int = 100) -> Iterator[list[tuple[str, str]]]:
    """The region's security groups, one page at a time (MaxResults/NextToken, up to 100 a page, the API's
    maximum): ``[(SecurityGroupId, SecurityGroupName), ...]`` per page, so callers can start on a page's
    groups while the next is read."""
    from alibabacloud_ecs20140526.models import DescribeSecurityGroupsRequest

    token: str | None = None
    while True:
        request = DescribeSecurityGroupsRequest(region_id=region_id, max_results=page_size, next_token=token)
        body = retrier.call(first_request_alone(  # the lambda runs at once, with this page's request
            client, retrier, lambda rt: client.describe_security_groups_with_options(request, rt).body))  # noqa: B023
        groups = (body.security_groups.security_group if body.security_groups else None) or []
        yield [(g.security_group_id, g.security_group_name or "") for g in groups]
        token = body.next_token
        if not token:
            return


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
    return modify_answer(client, params, runtime)[0]


def modify_answer(client: Client, params: dict[str, str], runtime: Any) -> tuple[str, bool]:
    """One Modify call: its RequestId, and whether ECS answered it as a ClientToken replay. A used token
    with the same parameters gets the same result as its first submission (RequestId included) and has no
    effect now, while every HTTP answer names its own request in ``x-acs-request-id``: the two differ."""
    from alibabacloud_ecs20140526.models import ModifySecurityGroupEgressRuleRequest

    request = ModifySecurityGroupEgressRuleRequest().from_map(params)
    response = client.modify_security_group_egress_rule_with_options(request, runtime)
    headers = {str(k).lower(): v for k, v in (response.headers or {}).items()}
    this_call = headers.get("x-acs-request-id")
    return response.body.request_id, bool(this_call) and this_call != response.body.request_id

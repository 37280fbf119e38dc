"""pytest plugin (entry point ``localcloud``): one emulator per test session, reset before every test.

Fixtures:
  ``localcloud``          -> :class:`LocalCloudHandle` (reset done): ``.endpoint``, ``.calls()``, ``.clear_calls()``,
                             ``.queues()``, ``.queue(name)``, ``.advance_clock(s)``, ``.mns_account()``,
                             ``.state()``, ``.load_state()``, ``.events()``, ``.clear_events()``, ``.create_bus()``,
                             ``.faults.inject(...)`` / ``.faults.clear()``, ``.set_ecs_quotas({...})``,
                             ``.sdk_config()``, ``.server``
  ``ecs_client``          -> official ``alibabacloud_ecs20140526.client.Client`` pointed at it
  ``eventbridge_client``  -> official ``alibabacloud_eventbridge20200401.client.Client`` pointed at it
  ``acs_client``          -> the classic SDK's ``aliyunsdkcore.client.AcsClient`` (signature 1.0), for ECS and
                             EventBridge (``localcloud.acs_client(secret)`` makes others)
  ``ecs_seed``            -> :class:`EcsSeed`: ``group()``, ``egress()``, ``prefix_list()`` through the SDK
  ``mns_account``         -> official ``mns.account.Account`` pointed at it (a new one per test: the SDK's
                             client holds one connection and is not thread-safe; ``localcloud.mns_account()``
                             makes one per thread)
  ``mns_queue``           -> an official ``mns.queue.Queue``, freshly created through the SDK (unique name)
  ``localcloud_server``   -> the session's in-process :class:`localcloud.server.LocalCloud`

The whole application from a ROS template (``localcloud.app.LocalApp``: queues, buses, rules, functions in
worker processes, triggers), started once per session and stopped (workers included) at its end:
  ``localcloud_app``          -> :class:`AppHandle` of ``template.yml`` in the rootdir, with the parameters of
                                 the ``localcloud_app_params`` fixture and the ``LocalApp`` options of
                                 ``localcloud_app_options`` (override both; default ``{}``)
  ``localcloud_app_factory``  -> ``start(template, params=None, state=None, **LocalApp options)`` -> :class:`AppHandle`

This module is imported by every pytest run in the environment, so it imports the SDKs lazily.
"""
from __future__ import annotations

import itertools
import os
from typing import Any, Iterator

import pytest

# alibabacloud_credentials reads this at import: never let a test probe the ECS metadata service.
os.environ.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")

from localcloud.control_client import ControlClient

REGION_ID = "cn-hangzhou"


class LocalCloudHandle(ControlClient):
    """What the ``localcloud`` fixture returns: the control client plus the in-process server."""

    def __init__(self, server: Any) -> None:
        super().__init__(server.endpoint)
        self.server = server

    def acs_client(self, access_key_secret: str | None = None, access_key_id: str | None = None) -> Any:
        """A classic-SDK ``aliyunsdkcore.client.AcsClient`` (RPC signature 1.0) aimed at this emulator for ECS
        and EventBridge, without the SDK's automatic retries (so call logs are exact)."""
        from aliyunsdkcore.client import AcsClient

        client = AcsClient(access_key_id or self.access_key_id, access_key_secret or self.access_key_secret,
                           self.region_id, port=self._port, auto_retry=False)
        for product in ("Ecs", "eventbridge"):
            client.add_endpoint(self.region_id, product, self._host)
        return client

    def mns_account(self, security_token: str = "") -> Any:
        """A new official ``mns.account.Account`` for this emulator. Each has one HTTP connection and is not
        thread-safe: give every thread its own."""
        from mns.account import Account

        return Account(self.endpoint, self.access_key_id, self.access_key_secret, security_token)


class EcsSeed:
    """Put ECS resources in place through the official SDK (so they exist exactly as a client made them)."""

    def __init__(self, client: Any, region_id: str = REGION_ID) -> None:
        from alibabacloud_ecs20140526 import models

        self.client = client
        self.region_id = region_id
        self._m = models

    def group(self, vpc_id: str = "vpc-1", name: str | None = None, description: str | None = None,
              **fields: Any) -> str:
        """CreateSecurityGroup; returns the new ``sg-...`` id."""
        req = self._m.CreateSecurityGroupRequest(region_id=self.region_id, vpc_id=vpc_id, security_group_name=name,
                                                 description=description, **fields)
        return self.client.create_security_group(req).body.security_group_id

    def egress(self, sg_id: str, **rule_fields: Any) -> str:
        """AuthorizeSecurityGroupEgress with one ``Permissions.1.*`` rule (defaults: TCP 443 to 10.0.0.0/8,
        accept, priority 1; override with SDK field names, e.g. ``port_range="80/80"``,
        ``dest_prefix_list_id=...``); returns the new rule's ``sgr-...`` id found via
        DescribeSecurityGroupAttribute."""
        fields: dict[str, Any] = {"ip_protocol": "TCP", "port_range": "443/443", "policy": "accept", "priority": "1"}
        if not any(k in rule_fields for k in ("dest_cidr_ip", "dest_group_id", "dest_prefix_list_id",
                                              "ipv_6dest_cidr_ip")):
            fields["dest_cidr_ip"] = "10.0.0.0/8"
        client_token = rule_fields.pop("client_token", None)
        fields.update(rule_fields)
        before = set(self.egress_rule_ids(sg_id))
        perm = self._m.AuthorizeSecurityGroupEgressRequestPermissions(**fields)
        self.client.authorize_security_group_egress(self._m.AuthorizeSecurityGroupEgressRequest(
            region_id=self.region_id, security_group_id=sg_id, permissions=[perm], client_token=client_token))
        new = [r for r in self.egress_rule_ids(sg_id) if r not in before]
        if len(new) != 1:
            raise AssertionError(f"expected exactly one new egress rule in {sg_id}, found {new}")
        return new[0]

    def egress_rule_ids(self, sg_id: str) -> list[str]:
        body = self.client.describe_security_group_attribute(self._m.DescribeSecurityGroupAttributeRequest(
            region_id=self.region_id, security_group_id=sg_id, direction="egress")).body
        perms = body.permissions.permission if body.permissions and body.permissions.permission else []
        return [p.security_group_rule_id for p in perms if p.security_group_rule_id]

    def prefix_list(self, name: str = "pl-localcloud", cidrs: tuple[str, ...] | list[str] = ("10.0.0.0/8",),
                    max_entries: int = 10, address_family: str = "IPv4", description: str | None = None) -> str:
        """CreatePrefixList; returns the ``pl-...`` id."""
        entries = [self._m.CreatePrefixListRequestEntry(cidr=c) for c in cidrs]
        req = self._m.CreatePrefixListRequest(region_id=self.region_id, prefix_list_name=name,
                                              address_family=address_family, max_entries=max_entries,
                                              entry=entries or None, description=description)
        return self.client.create_prefix_list(req).body.prefix_list_id


class AppHandle(ControlClient):
    """A running :class:`localcloud.app.LocalApp`: its control client plus SDK clients and waits."""

    def __init__(self, app: Any) -> None:
        super().__init__(app.endpoint)
        self.app = app
        self._clients: dict[str, Any] = {}

    @property
    def info(self) -> dict[str, Any]:
        return self.app.info()

    def http_url(self, function: str) -> str:
        return self.app.http[function].url

    def fc_client(self) -> Any:
        """Official ``alibabacloud_fc20230330`` client (one per handle)."""
        if "fc" not in self._clients:
            from alibabacloud_fc20230330.client import Client

            self._clients["fc"] = Client(self.sdk_config())
        return self._clients["fc"]

    def eventbridge_client(self) -> Any:
        if "eventbridge" not in self._clients:
            from alibabacloud_eventbridge20200401.client import Client

            self._clients["eventbridge"] = Client(self.sdk_config())
        return self._clients["eventbridge"]

    def mns_account(self) -> Any:
        """Official ``aliyun-mns-sdk`` ``Account`` for this emulator."""
        from mns.account import Account

        return Account(self.endpoint, self.access_key_id, self.access_key_secret)

    def invocations(self, function: str | None = None, trigger: str | None = None) -> list[dict[str, Any]]:
        query = {k: v for k, v in (("function", function), ("trigger", trigger)) if v}
        return self.request("GET", "invocations", query=query or None)["invocations"]

    def queue_messages(self, queue: str) -> list[dict[str, Any]]:
        [view] = self.request("GET", "queues", query={"name": queue})["queues"]
        return view["messages"]

    def fire(self, function: str, trigger: str | None = None) -> dict[str, Any]:
        return self.request("POST", f"triggers/{function}", query={"trigger": trigger} if trigger else None)

    def wait_idle(self, timeout: float = 30.0) -> None:
        if not self.app.wait_idle(timeout):
            raise AssertionError(f"the application did not become idle within {timeout} s")

    def wait_for(self, predicate: Any, timeout: float = 20.0, interval: float = 0.05) -> Any:
        """Poll ``predicate()`` until it returns something truthy (returned); fail after ``timeout``."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s (last value: {value!r})")
            time.sleep(interval)


@pytest.fixture(scope="session")
def localcloud_app_factory() -> Iterator[Any]:
    from localcloud.app import LocalApp

    started: list[Any] = []

    def start(template: Any, params: dict[str, str] | None = None, state: dict[str, Any] | None = None,
              **options: Any) -> AppHandle:
        app = LocalApp(template, params, state=state, **options)
        started.append(app)
        app.start()
        return AppHandle(app)

    yield start
    for app in reversed(started):
        app.stop()


@pytest.fixture(scope="session")
def localcloud_app_params() -> dict[str, str]:
    """Parameters for ``localcloud_app``'s template (override in a conftest)."""
    return {}


@pytest.fixture(scope="session")
def localcloud_app_options() -> dict[str, Any]:
    """Other ``LocalApp`` options for ``localcloud_app`` (``state``, ``env``, ``retry_base_s`` ...; override)."""
    return {}


@pytest.fixture(scope="session")
def localcloud_app(localcloud_app_factory: Any, localcloud_app_params: dict[str, str],
                   localcloud_app_options: dict[str, Any], pytestconfig: pytest.Config) -> AppHandle:
    template = pytestconfig.rootpath / "template.yml"
    return localcloud_app_factory(template, localcloud_app_params, **localcloud_app_options)


@pytest.fixture(scope="session")
def localcloud_server() -> Iterator[Any]:
    from localcloud.server import LocalCloud

    with LocalCloud() as server:
        yield server


@pytest.fixture
def localcloud(localcloud_server: Any) -> LocalCloudHandle:
    handle = LocalCloudHandle(localcloud_server)
    handle.reset()  # services, call log, faults and events
    return handle


@pytest.fixture(scope="session")
def _localcloud_sdk_clients(localcloud_server: Any) -> dict[str, Any]:
    return {}  # filled lazily: one client per product per session (clients are thread-safe, creation isn't free)


@pytest.fixture
def ecs_client(localcloud: LocalCloudHandle, _localcloud_sdk_clients: dict[str, Any]) -> Any:
    if "ecs" not in localcloud.server.services:
        pytest.skip("localcloud.ecs (the ECS emulator) is not available")
    if "ecs" not in _localcloud_sdk_clients:
        from alibabacloud_ecs20140526.client import Client

        _localcloud_sdk_clients["ecs"] = Client(localcloud.sdk_config())
    return _localcloud_sdk_clients["ecs"]


@pytest.fixture
def eventbridge_client(localcloud: LocalCloudHandle, _localcloud_sdk_clients: dict[str, Any]) -> Any:
    if "eventbridge" not in _localcloud_sdk_clients:
        from alibabacloud_eventbridge20200401.client import Client

        _localcloud_sdk_clients["eventbridge"] = Client(localcloud.sdk_config())
    return _localcloud_sdk_clients["eventbridge"]


@pytest.fixture
def acs_client(localcloud: LocalCloudHandle) -> Any:
    """The classic SDK's ``AcsClient`` (``aliyun-python-sdk-core``, signature 1.0) for ECS and EventBridge."""
    pytest.importorskip("aliyunsdkcore", reason="the classic SDK (aliyun-python-sdk-core) is not installed")
    return localcloud.acs_client()


@pytest.fixture
def ecs_seed(ecs_client: Any) -> EcsSeed:
    return EcsSeed(ecs_client)


_queue_numbers = itertools.count(1)


@pytest.fixture
def mns_account(localcloud: LocalCloudHandle) -> Any:
    """An official ``mns.account.Account`` for the session's localcloud (its key, host ``http://127.0.0.1:PORT``)."""
    return localcloud.mns_account()


@pytest.fixture
def mns_queue(mns_account: Any) -> Any:
    """A new, empty queue (default attributes), created through the SDK: ``mns.queue.Queue`` with the SDK's
    default base64 body encoding. ``.queue_name`` is unique per test."""
    from mns.queue import QueueMeta

    queue = mns_account.get_queue(f"test-queue-{os.getpid()}-{next(_queue_numbers)}")
    queue.create(QueueMeta())
    return queue

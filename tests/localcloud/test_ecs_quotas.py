"""ECS API rate quotas, seen through the official ECS SDK: per account, region and API, fixed windows, the
answer ECS gives (400 Throttling.User; x-acs-retry-after in ms only when the quota asks), the call log."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as ecs
from alibabacloud_ecs20140526.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException

from localcloud.control_client import ControlClient, ControlError
from localcloud.ecs.quotas import Quota, Quotas, parse_quota_args
from localcloud.server import LocalCloud

DESCRIBE = "DescribeSecurityGroups"


def describe(client: Any, region: str = "cn-hangzhou") -> Any:
    return client.describe_security_groups(ecs.DescribeSecurityGroupsRequest(region_id=region)).body


def test_no_quota_is_todays_behaviour(ecs_client: Any, localcloud: Any) -> None:
    assert localcloud.settings()["ecs"]["quotas"] == {}
    for _ in range(30):
        describe(ecs_client)
    assert {c["status"] for c in localcloud.calls(DESCRIBE)} == {200}


def test_over_the_quota_is_throttling_user_400_and_logged(ecs_client: Any, localcloud: Any) -> None:
    # An hour-long window: every call of this test falls in the first one.
    assert localcloud.set_ecs_quotas({DESCRIBE: "5/3600"}) == {
        DESCRIBE: {"calls": 5, "seconds": 3600.0, "retryAfter": False}}
    for _ in range(5):
        describe(ecs_client)
    for _ in range(3):
        with pytest.raises(ClientException) as info:
            describe(ecs_client)
        err = info.value
        assert not isinstance(err, ThrottlingException)  # no x-acs-retry-after: a plain ClientException
        assert (err.status_code, err.code) == (400, "Throttling.User")
        assert err.data["Message"] == "Request was denied due to user flow control."
    assert [(c["status"], c["code"]) for c in localcloud.calls(DESCRIBE)] == \
        [(200, None)] * 5 + [(400, "Throttling.User")] * 3
    # Per API and per region: another API, and the same API in another region, have their own counts.
    ecs_client.create_security_group(ecs.CreateSecurityGroupRequest(region_id="cn-hangzhou", vpc_id="vpc-1"))
    for _ in range(5):
        describe(ecs_client, "cn-shanghai")
    with pytest.raises(ClientException):
        describe(ecs_client, "cn-shanghai")


def test_quota_is_per_account() -> None:
    creds = {"AK-a": ("SK-a", "1111"), "AK-b": ("SK-b", "2222")}
    with LocalCloud(credentials=creds) as cloud:
        control = ControlClient(cloud.endpoint)
        control.set_ecs_quotas({DESCRIBE: "2/3600"})
        a = Client(control.sdk_config(access_key_id="AK-a", access_key_secret="SK-a"))
        b = Client(control.sdk_config(access_key_id="AK-b", access_key_secret="SK-b"))
        describe(a), describe(a)
        with pytest.raises(ClientException):
            describe(a)
        describe(b), describe(b)  # account 2222 has its own quota
        with pytest.raises(ClientException):
            describe(b)


def test_retry_after_header_is_milliseconds_to_the_next_window(ecs_client: Any, localcloud: Any) -> None:
    localcloud.set_ecs_quotas({DESCRIBE: {"calls": 1, "seconds": 3600, "retryAfter": True}})
    describe(ecs_client)
    with pytest.raises(ThrottlingException) as info:
        describe(ecs_client)
    assert (info.value.status_code, info.value.code) == (400, "Throttling.User")
    assert 3_500_000 < info.value.retry_after <= 3_600_000  # ms: the rest of the hour-long window


def test_throttled_in_window_t_allowed_in_t_plus_1(ecs_client: Any, localcloud: Any) -> None:
    localcloud.set_ecs_quotas({DESCRIBE: {"calls": 1, "seconds": 0.3, "retryAfter": True}})
    for _ in range(50):  # the second call of a window is refused; a call that starts a window is not
        try:
            describe(ecs_client)
        except ThrottlingException as exc:
            wait_ms = exc.retry_after
            break
    else:
        pytest.fail("never throttled with 1 call per 0.3 s")
    assert 0 < wait_ms <= 300
    time.sleep(wait_ms / 1000)
    describe(ecs_client)  # the next window: allowed again
    assert localcloud.calls(DESCRIBE)[-1]["status"] == 200


def test_reset_restores_start_up_quotas_and_bad_quotas_are_refused(ecs_client: Any, localcloud: Any) -> None:
    localcloud.set_ecs_quotas({DESCRIBE: 1})
    localcloud.reset()
    assert localcloud.settings()["ecs"]["quotas"] == {}
    for bad in ({DESCRIBE: 0}, {DESCRIBE: "1/0"}, {DESCRIBE: "x"}, {"not an action": 1}, {DESCRIBE: True},
                {DESCRIBE: {"calls": 1, "window": 2}}, [DESCRIBE]):
        with pytest.raises(ControlError, match="400"):
            localcloud.set_ecs_quotas(bad)  # type: ignore[arg-type]
    assert localcloud.settings()["ecs"]["quotas"] == {}


def test_windows_are_fixed_and_counted_per_key() -> None:
    now = [100.0]
    q = Quotas({"Modify": Quota(2, 1.0, retry_after=True)}, clock=lambda: now[0])
    assert [q.take("a", "r", "Modify") for _ in range(3)] == [(True, None), (True, None), (False, 1000)]
    now[0] += 0.75
    assert q.take("a", "r", "Modify") == (False, 250)  # still window 0
    assert q.take("a", "r2", "Modify") == (True, None)
    assert q.take("a", "r", "Other") == (True, None)  # no quota on it
    now[0] += 0.25  # window 1 starts
    assert [q.take("a", "r", "Modify") for _ in range(3)] == [(True, None), (True, None), (False, 1000)]


def test_quota_args() -> None:
    assert parse_quota_args(["ModifySecurityGroupEgressRule=40", "DescribeSecurityGroups=2400/60"]) == {
        "ModifySecurityGroupEgressRule": Quota(40, 1.0), "DescribeSecurityGroups": Quota(2400, 60.0)}
    for bad in ("Modify", "Modify=", "Modify=0", "Modify=-1", "modify=4", "Modify=4/"):
        with pytest.raises(ValueError):
            parse_quota_args([bad])


def test_cli_ecs_quota() -> None:
    env = dict(os.environ, ALIBABA_CLOUD_ECS_METADATA_DISABLED="true")
    bad = subprocess.run([sys.executable, "-m", "localcloud", "start", "--port", "0", "--ecs-quota", "Modify=fast"],
                         capture_output=True, text=True, env=env, timeout=30)
    assert bad.returncode == 2 and "CALLS" in bad.stderr and "Traceback" not in bad.stderr
    proc = subprocess.Popen([sys.executable, "-m", "localcloud", "start", "--port", "0", "--ecs-quota",
                             f"{DESCRIBE}=1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        control = ControlClient(json.loads(proc.stdout.readline())["endpoint"])
        assert control.settings()["ecs"]["quotas"] == {DESCRIBE: {"calls": 1, "seconds": 1.0, "retryAfter": False}}
        control.reset()  # the start-up quota stays
        assert control.settings()["ecs"]["quotas"][DESCRIBE]["calls"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err

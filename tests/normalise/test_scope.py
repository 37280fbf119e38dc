"""Which regions and groups a pass scans: the invocation's names and globs within the allow-list."""
from __future__ import annotations

import pytest

from sgrule.normalise.config import NormaliseSettings
from sgrule.normalise.scope import NormaliseRequest, NothingToScan, resolve, wants


def settings(**kw: str) -> NormaliseSettings:
    base = {"allowed_regions": "cn-hangzhou,cn-shanghai", "allowed_security_groups": "sg-bp1*", "SGRULE_REGION": "cn-hangzhou"}
    return NormaliseSettings.model_validate({**base, **kw})


@pytest.mark.parametrize("kw, regions, expected, ignored", [
    ({}, None, ["cn-hangzhou", "cn-shanghai"], []),                                    # the allow-list's names
    ({"normalise_regions": "cn-shanghai"}, None, ["cn-shanghai"], []),                # the setting
    ({}, ["cn-*"], ["cn-hangzhou", "cn-shanghai"], []),                               # a glob over known names
    ({}, ["cn-shanghai", "eu-west-1"], ["cn-shanghai"], ["eu-west-1"]),               # outside the allow-list
    ({"allowed_regions": "*", "SGRULE_REGION": "cn-beijing"}, None, ["cn-beijing"], []),     # globs only: own region
    ({"allowed_regions": "*"}, ["ap-southeast-1"], ["ap-southeast-1"], []),
])
def test_regions(kw: dict, regions: list[str] | None, expected: list[str], ignored: list[str]) -> None:
    scope = resolve(settings(**kw), NormaliseRequest(regions=regions))
    assert (scope.regions, scope.ignored) == (expected, ignored)


def test_nothing_to_scan_says_what_to_set() -> None:
    with pytest.raises(NothingToScan, match="SGRULE_ALLOWED_REGIONS"):
        resolve(settings(allowed_regions=""), NormaliseRequest())
    with pytest.raises(NothingToScan, match="outside the allow-list: eu-west-1"):
        resolve(settings(), NormaliseRequest(regions=["eu-west-1"]))


def test_groups_are_the_invocations_globs_within_the_allow_list() -> None:
    s = settings()
    everything = resolve(s, NormaliseRequest())
    assert wants(s, everything, "cn-hangzhou", "sg-bp1abc") and not wants(s, everything, "cn-hangzhou", "sg-xyz")
    some = resolve(s, NormaliseRequest(securityGroups=["sg-bp1a*", "sg-xyz"]))
    assert wants(s, some, "cn-hangzhou", "sg-bp1abc") and not wants(s, some, "cn-hangzhou", "sg-bp1bcd")
    assert not wants(s, some, "cn-hangzhou", "sg-xyz")  # named, but not allowed
    assert not wants(s, some, "eu-west-1", "sg-bp1abc")


def test_the_cursor_key_follows_scope_mode_and_policy() -> None:
    s = settings()
    a = resolve(s, NormaliseRequest())
    assert a.key(False, "p1") == resolve(s, NormaliseRequest()).key(False, "p1")
    assert len({a.key(False, "p1"), a.key(True, "p1"), a.key(False, "p2"),
                resolve(s, NormaliseRequest(securityGroups=["sg-bp1a*"])).key(False, "p1")}) == 4

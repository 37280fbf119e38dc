"""The normaliser function on localcloud, dry runs: exactly the rules that must change, nothing enqueued,
the floor of API calls, scope and allow-list, throttling, and a pass that resumes on the next trigger."""
from __future__ import annotations

import math
from typing import Any, Callable

import pytest

from normkit import MESSY, REGION, changes_of, group_id, reports_on_bus, seed_estate

from sgrule.contract.envelope import InvocationError

READS = {"DescribeSecurityGroups", "DescribeSecurityGroupAttribute"}


def test_dry_run_lists_exactly_the_rules_that_must_change(localcloud: Any, normalise: Callable) -> None:
    estate = seed_estate(localcloud, groups=30, rules_per_group=7)
    localcloud.clear_calls()
    report = normalise({"dryRun": True})
    assert report["complete"] and report["dryRun"]
    assert changes_of(report) == estate["expected"]
    for change in report["changes"]:
        assert change["before"] == estate["rules"][(change["securityGroupId"], change["securityGroupRuleId"])]
    counts = report["counts"]
    assert (counts["groups"], counts["rules"], counts["toChange"], counts["enqueued"]) == \
        (30, 210, len(estate["expected"]), 0)
    assert counts["unchanged"] == 210 - len(estate["expected"])
    # Which step fired, counted per rule: whitespace alone fixes "  ... " and "multi   space" ...
    per_kind = {before: sum(1 for k, b in estate["rules"].items() if b == before) for before, _ in MESSY}
    assert counts["byStep"]["default"] == per_kind[""]
    assert counts["byStep"]["nfc"] == per_kind["cafe\u0301 supplier CHG-105"]
    assert counts["byStep"]["whitespace"] == per_kind["  egress to payments CHG-102  "] + \
        per_kind["multi   space    gap"] + per_kind["\u00a0nbsp lead CHG-107"] + per_kind["line\r\nbreak CHG-108"]
    # ... and the ticket step only reports (the default policy changes no description for it).
    assert counts["findings"]["ticket-missing"] == per_kind["no ticket here"] + per_kind["multi   space    gap"] \
        + per_kind["already clean"] + per_kind[""]
    # Nothing enqueued, nothing modified: only reads, and the report on the bus.
    actions = {c["action"] for c in localcloud.calls()}
    assert actions == READS | {"PutEvents"}
    [event] = reports_on_bus(localcloud)
    assert event["Data"]["counts"] == counts and event["Data"]["dryRun"] is True
    assert event["Source"] == "sgrule/normaliser" and event["Id"] == f"normalise-report-{report['scanId']}"


def test_api_calls_are_at_the_floor(localcloud: Any, normalise: Callable) -> None:
    seed_estate(localcloud, groups=230, rules_per_group=3)
    localcloud.clear_calls()
    report = normalise({"dryRun": True})
    calls = localcloud.calls()
    pages = [c for c in calls if c["action"] == "DescribeSecurityGroups"]
    groups = [c for c in calls if c["action"] == "DescribeSecurityGroupAttribute"]
    assert len(pages) == math.ceil(230 / 100)  # up to 100 groups a page, the API's maximum
    assert len(groups) == 230 and len({c["params"]["SecurityGroupId"] for c in groups}) == 230
    assert all(c["params"].get("Direction") == "egress" for c in groups)
    assert report["apiCalls"] == {"DescribeSecurityGroups": 3, "DescribeSecurityGroupAttribute": 230}


def test_scope_is_the_invocations_globs_within_the_allow_list(localcloud: Any, normalise: Callable,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    estate = seed_estate(localcloud, groups=20, rules_per_group=4)
    monkeypatch.setenv("SGRULE_ALLOWED_SECURITY_GROUPS", "sg-bp1n0000*")  # groups 0..9
    localcloud.clear_calls()
    report = normalise({"dryRun": True, "securityGroups": ["sg-bp1n0000[0-4]", "sg-bp1n0001*"]})
    want = {group_id("bp1n", i) for i in range(5)}  # [0-4] within the allow-list; 1x is outside it
    assert {g for g, _ in changes_of(report)} == want
    assert changes_of(report) == {k: v for k, v in estate["expected"].items() if k[0] in want}
    read = {c["params"]["SecurityGroupId"] for c in localcloud.calls("DescribeSecurityGroupAttribute")}
    assert read == want  # a group out of scope is never read


def test_regions_outside_the_allow_list_are_not_scanned(localcloud: Any, normalise: Callable) -> None:
    seed_estate(localcloud, groups=2, rules_per_group=2)
    localcloud.clear_calls()
    report = normalise({"dryRun": True, "regions": ["cn-hangzhou", "cn-shanghai"]})
    assert report["scope"]["regions"] == [REGION] and report["scope"]["ignoredRegions"] == ["cn-shanghai"]
    assert {c["params"]["RegionId"] for c in localcloud.calls() if c["action"] in READS} == {REGION}
    with pytest.raises(InvocationError):
        normalise({"dryRun": True, "regions": "cn-hangzhou"})
    from sgrule.normalise.scope import NothingToScan
    with pytest.raises(NothingToScan, match="no region to scan"):
        normalise({"dryRun": True, "regions": ["eu-*"]})


def test_timer_trigger_event(localcloud: Any, normalise: Callable) -> None:
    estate = seed_estate(localcloud, groups=3, rules_per_group=4)
    report = normalise({"triggerTime": "2026-11-27T02:00:00Z", "triggerName": "nightly",
                        "payload": '{"dryRun": true, "securityGroups": ["sg-bp1n00001"]}'})
    assert report["dryRun"] and changes_of(report) == {k: v for k, v in estate["expected"].items()
                                                       if k[0] == group_id("bp1n", 1)}


@pytest.mark.parametrize("payload, message", [
    (b"not json", "not JSON"),
    ([1, 2], "expected"),
    ({"dryRun": "yes"}, "dryRun"),
    ({"dryRun": True, "regions": ["CN HANGZHOU"]}, "not a region id"),
    ({"dryRun": True, "securityGroups": ["sg-1;drop"]}, "not a security-group id"),
    ({"dryRun": True, "extra": 1}, "extra"),
    ({"triggerTime": "2026-11-27T02:00:00Z", "payload": "{oops"}, "payload is not JSON"),
    (b'{"dryRun": ' + b"1" * 5000 + b"}", "not JSON: an integer of 5000 digits"),
    (b'{"dryRun": ' + b"[" * 5000 + b"]" * 5000 + b"}", "not JSON: nested more than 100 levels deep"),
    ({"triggerTime": "2026-11-27T02:00:00Z", "payload": '{"dryRun": ' + "1" * 5000 + "}"},
     "payload is not JSON: an integer of 5000 digits"),
])
def test_bad_invocations_say_what_is_wrong_and_scan_nothing(localcloud: Any, normalise: Callable,
                                                            payload: Any, message: str) -> None:
    localcloud.clear_calls()
    with pytest.raises(InvocationError, match=message):
        normalise(payload)
    assert localcloud.calls() == []


def test_a_real_run_without_a_queue_is_refused(localcloud: Any, normalise: Callable) -> None:
    seed_estate(localcloud, groups=1, rules_per_group=2)
    localcloud.clear_calls()
    with pytest.raises(InvocationError, match="SGRULE_MNS_ENDPOINT"):
        normalise({"dryRun": False})
    assert localcloud.calls() == []


def test_throttling_on_describe_is_waited_out(localcloud: Any, normalise: Callable) -> None:
    estate = seed_estate(localcloud, groups=40, rules_per_group=3)
    throttled = {"status": 400, "code": "Throttling.User", "message": "Request was denied due to user flow control."}
    localcloud.faults.inject("DescribeSecurityGroups", error=throttled, times=2)
    localcloud.faults.inject("DescribeSecurityGroupAttribute", error={**throttled, "retryAfterMs": 20},
                             probability=0.3, seed=7)
    localcloud.clear_calls()
    report = normalise({"dryRun": True})
    assert report["complete"] and changes_of(report) == estate["expected"]
    assert report["counts"]["groups"] == 40 and not report["errors"]
    calls = localcloud.calls("DescribeSecurityGroupAttribute")
    assert len(calls) > 40  # some were throttled and retried ...
    assert len(reports_on_bus(localcloud)) == 1  # ... and the pass is reported once


def test_a_group_deleted_after_listing_is_reported_not_fatal(localcloud: Any, normalise: Callable) -> None:
    estate = seed_estate(localcloud, groups=5, rules_per_group=3)
    gone = group_id("bp1n", 2)
    localcloud.faults.inject("DescribeSecurityGroupAttribute", security_group_id=gone, error={
        "status": 404, "code": "InvalidSecurityGroupId.NotFound", "message": "The specified SecurityGroupId does not exist."})
    report = normalise({"dryRun": True})
    assert report["complete"]
    assert [(e["securityGroupId"], e["code"]) for e in report["errors"]] == [(gone, "InvalidSecurityGroupId.NotFound")]
    assert changes_of(report) == {k: v for k, v in estate["expected"].items() if k[0] != gone}


def test_a_pass_longer_than_its_budget_resumes_on_the_next_trigger(localcloud: Any, normalise: Callable,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    estate = seed_estate(localcloud, groups=60, rules_per_group=3)
    monkeypatch.setenv("SGRULE_NORMALISE_CONCURRENCY", "2")
    monkeypatch.setenv("SGRULE_TIME_RESERVE_MS", "0")
    # 50 ms a group on 2 threads: 60 groups need 1.5 s; the first trigger has 0.8 s.
    localcloud.faults.inject("DescribeSecurityGroupAttribute", latency_ms=50)
    first = normalise({"dryRun": True}, timeout=0.8)
    assert not first["complete"] and 0 < first["counts"]["groups"] < 60
    assert first["counts"]["pendingGroups"] + first["counts"]["groups"] == 60
    assert reports_on_bus(localcloud) == []  # an unfinished pass is not reported
    localcloud.faults.clear()
    localcloud.clear_calls()
    second = normalise({"dryRun": True}, timeout=60)
    assert second["complete"] and second["scanId"] == first["scanId"] and second["invocations"] == 2
    assert second["scanTime"] == first["scanTime"]
    assert changes_of(second) == estate["expected"]
    assert len(second["changes"]) == len(estate["expected"])  # each rule once
    assert second["counts"]["groups"] == 60 and second["counts"]["rules"] == 180
    # The second trigger read only what the first did not.
    read = [c["params"]["SecurityGroupId"] for c in localcloud.calls("DescribeSecurityGroupAttribute")]
    assert len(read) == 60 - first["counts"]["groups"] and len(set(read)) == len(read)
    [event] = reports_on_bus(localcloud)
    assert event["Data"]["counts"] == second["counts"]
    third = normalise({"dryRun": True})  # the next trigger starts a new pass
    assert third["scanId"] != second["scanId"] and third["complete"] and third["invocations"] == 1
    assert len(reports_on_bus(localcloud)) == 2


def test_an_invalid_policy_file_fails_the_instance_start_with_line_and_reason(
        localcloud: Any, normalise: Callable, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from sgrule.normalise.policy import PolicyError

    bad = tmp_path / "policy.yml"
    bad.write_text("version: 1\nsteps:\n  - whitespace: {}\n  - ticket: {pattern: 'CHG-[0-9+'}\n")
    monkeypatch.setenv("SGRULE_NORMALISE_POLICY", str(bad))
    localcloud.clear_calls()
    with pytest.raises(PolicyError, match=rf"{bad}:4: steps\[1\]\.ticket\.pattern: not a valid regular expression"):
        normalise({"dryRun": True})
    assert localcloud.calls() == []  # nothing scanned with a policy that cannot be read


def test_a_policy_file_from_the_settings(localcloud: Any, normalise: Callable, monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Any) -> None:
    seed_estate(localcloud, groups=1, rules_per_group=12)
    policy = tmp_path / "policy.yml"
    policy.write_text("version: 1\nsteps:\n  - whitespace: {}\n"
                      "  - ticket: {pattern: 'CHG-[0-9]+', missing: marker, marker: '[no-ticket]'}\n")
    monkeypatch.setenv("SGRULE_NORMALISE_POLICY", str(policy))
    report = normalise({"dryRun": True})
    assert report["policy"]["source"] == str(policy) and report["policy"]["steps"] == ["whitespace", "ticket"]
    after = {c["before"]: c["after"] for c in report["changes"]}
    assert after["no ticket here"] == "[no-ticket] no ticket here"
    assert after["  egress to payments CHG-102  "] == "egress to payments CHG-102"
    assert "dns\x07 lookups CHG-104\x00" not in after  # no strip_control step in this policy


def test_the_fleet_budget_paces_describe_calls(localcloud: Any, normalise: Callable, function_env: Any) -> None:
    """SGRULE_ECS_RATE: every instance's Describe calls take their slots from one budget in the store, so 20
    groups at 20 calls a second take at least a second, whatever the pass's own (much higher) pace."""
    estate = seed_estate(localcloud, groups=20, rules_per_group=2)
    function_env({"SGRULE_ECS_RATE": "DescribeSecurityGroupAttribute=20"})
    localcloud.set_ecs_quotas({"DescribeSecurityGroupAttribute": 25})
    localcloud.clear_calls()
    report = normalise({"dryRun": True})
    assert report["complete"] and changes_of(report) == estate["expected"] and not report["errors"]
    times = sorted(c["time"] for c in localcloud.calls("DescribeSecurityGroupAttribute") if c["status"] == 200)
    assert len(times) == 20 and times[-1] - times[0] >= 19 / 20 - 0.15  # slots 50 ms apart

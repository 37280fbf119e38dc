"""What the normaliser emits: rule-change events (the apply function's contract), ids, the report event."""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sgrule.contract.errors import SgruleError
from sgrule.contract.event import parse_event
from sgrule.normalise.changes import MAX_REPORT_EVENT_BYTES, change_id, report_event, rule_change
from sgrule.normalise.report import new_report
from sgrule.normalise.run import contract_error

SCAN = "2026-11-27T02:00:00.000Z"


def test_a_change_is_by_rule_id_and_carries_only_the_description() -> None:
    event = rule_change("cn-hangzhou", "sg-bp1a", "sgr-bp1b", "egress CHG-1", SCAN, "scan-1")
    parsed = parse_event(event)
    assert parsed.data.mode == "by_id" and parsed.data.present() == {
        "RegionId": "cn-hangzhou", "SecurityGroupId": "sg-bp1a", "SecurityGroupRuleId": "sgr-bp1b",
        "Description": "egress CHG-1"}
    assert (event["source"], event["time"], event["correlationid"]) == ("sgrule/normaliser", SCAN, "scan-1")


def test_ids_are_deterministic_per_rule_target_and_pass() -> None:
    a = change_id("cn-hangzhou", "sg-a", "sgr-a", "x", SCAN)
    assert a == change_id("cn-hangzhou", "sg-a", "sgr-a", "x", SCAN)  # a re-send is the same change
    others = {change_id("cn-hangzhou", "sg-a", "sgr-b", "x", SCAN), change_id("cn-hangzhou", "sg-a", "sgr-a", "y", SCAN),
              change_id("cn-hangzhou", "sg-a", "sgr-a", "x", "2026-11-28T02:00:00.000Z")}
    assert a not in others and len(others) == 3
    assert len(a) <= 256 and a.startswith("normalise-")


@settings(max_examples=300, deadline=None)
@given(description=st.text(max_size=600),
       rule_id=st.sampled_from(["sgr-bp1abc", "sgr-UPPER", "sgr-", "not-a-rule", "sgr-bp1" + "a" * 70]))
def test_the_cheap_contract_check_agrees_with_the_apply_functions_parser(description: str, rule_id: str) -> None:
    error = contract_error("cn-hangzhou", "sg-bp1abc", rule_id, description)
    try:
        parse_event(rule_change("cn-hangzhou", "sg-bp1abc", rule_id, description, SCAN, "s"))
        parsed_error = None
    except SgruleError as exc:
        parsed_error = exc
    assert (error is None) == (parsed_error is None)
    if error is not None:
        assert error.code == parsed_error.code


def test_the_report_event_fits_an_event_and_keeps_whole_counts() -> None:
    report = new_report("scan-1", SCAN, False, {"regions": ["cn-hangzhou"], "securityGroups": None,
                                                "ignoredRegions": []}, {"source": "default policy"})
    report["counts"]["toChange"] = 5000
    report["changes"] = [{"regionId": "cn-hangzhou", "securityGroupId": "sg-a", "securityGroupRuleId": f"sgr-{i}",
                          "before": "x " * 100, "after": "x", "steps": ["whitespace"]} for i in range(5000)]
    event = report_event(report)
    size = len(json.dumps(event["data"], ensure_ascii=False).encode())
    assert size <= MAX_REPORT_EVENT_BYTES
    kept = len(event["data"]["changes"])
    assert 0 < kept < 5000 and event["data"]["omitted"]["changes"] == 5000 - kept
    assert event["data"]["counts"]["toChange"] == 5000
    assert (event["id"], event["type"], event["source"]) == ("normalise-report-scan-1", "sgrule.normalise.report",
                                                             "sgrule/normaliser")
    small = report_event({**report, "changes": report["changes"][:3]})
    assert small["data"]["changes"] == report["changes"][:3] and small["data"]["omitted"] == {}

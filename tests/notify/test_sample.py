"""events/notify/outcome-applied.json is what the outcome bus's rule delivers to the notify function."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema

ROOT = Path(__file__).resolve().parents[2]


def test_the_sample_is_an_outcome_event_as_the_rule_delivers_it() -> None:
    sample = json.loads((ROOT / "events" / "notify" / "outcome-applied.json").read_text())
    # EventBridge adds its own attributes to what was published; the rest is the outcome event itself.
    added = {k for k in sample if k.startswith("aliyun")}
    assert added == {"aliyunaccountid", "aliyunpublishtime", "aliyuneventbusname", "aliyunregionid"}
    outcome = {k: v for k, v in sample.items() if k not in added}
    jsonschema.validate(outcome, json.loads((ROOT / "schemas" / "outcome.schema.json").read_text()))
    # The outcome of the change the Jira sample asks for, so the two samples tell one story.
    issue = json.loads(json.loads((ROOT / "events" / "http" / "jira-issue.json").read_text())["body"])["issue"]
    assert outcome["correlationid"] == outcome["data"]["correlationId"] == issue["key"]
    assert outcome["data"]["changeSource"] == "ticketing/jira" and outcome["data"]["after"]["DestCidrIp"] == "10.21.0.0/16"

"""The whole application from template.yml, through the official SDKs over real HTTP: rule changes sent with
the MNS SDK reach the apply function through its trigger in batches within the window, every outcome lands
on the outcome bus, a failed one is routed by the template's rule; a synchronous InvokeFunction returns the
outcome array."""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

BATCH_SIZE = 4  # the BatchSize parameter the conftest gives

ROOT = Path(__file__).resolve().parents[2]
APPLY = "sgrule-apply-egress-rule"
EXPECTED = {"JIRA-2101": "applied", "JIRA-2102": "unchanged", "JIRA-2103": "rejected", "JIRA-2104": "rejected",
            "JIRA-2105": "rejected", "CAB-311": "applied", "CAB-309": "superseded", "wf-7731": "applied",
            "JIRA-2106": "applied"}  # events/README.md


def sample_changes() -> list[str]:
    out = []
    for wrapper in json.loads((ROOT / "events" / "apply" / "mns-batch.json").read_text()):
        body = wrapper["data"]["messageBody"]
        out.append(body if body.lstrip().startswith("{") else base64.b64decode(body).decode())
    return out


def outcomes(app: Any) -> dict[str, dict[str, Any]]:
    return {e["event"]["Data"]["changeId"]: e["event"] for e in app.events(bus="sgrule-outcomes")
            if e["event"]["Type"].startswith("sgrule.egress.modify.")}  # not the normaliser's reports


def test_changes_sent_with_the_mns_sdk_end_as_outcomes_on_the_bus(localcloud_app: Any) -> None:
    from mns.queue import Message

    queue = localcloud_app.mns_account().get_queue("sgrule-changes")
    for body in sample_changes():
        queue.send_message(Message(body))
    got = localcloud_app.wait_for(lambda: len(set(outcomes(localcloud_app)) & set(EXPECTED)) == 9 and
                                  outcomes(localcloud_app), timeout=60)
    assert {cid: got[cid]["Data"]["status"] for cid in EXPECTED} == EXPECTED
    assert all(got[cid]["Type"] == f"sgrule.egress.modify.{EXPECTED[cid]}" for cid in EXPECTED)
    poller = localcloud_app.app.pollers[f"{APPLY}/mns-changes"]
    assert sum(poller.batches) >= 9 and max(poller.batches) <= BATCH_SIZE
    runs = localcloud_app.invocations(function=APPLY, trigger="eventbridge")
    assert runs and all(r["errorType"] is None for r in runs)
    localcloud_app.wait_idle()
    assert localcloud_app.queue_messages("sgrule-changes") == []


def test_sync_invoke_function_returns_the_outcome_array(localcloud_app: Any) -> None:
    from alibabacloud_fc20230330 import models
    from darabonba.runtime import RuntimeOptions

    change = (ROOT / "events" / "apply" / "sync-invoke.json").read_bytes()
    resp = localcloud_app.fc_client().invoke_function_with_options(
        APPLY, models.InvokeFunctionRequest(body=change), models.InvokeFunctionHeaders(x_fc_invocation_type="Sync"),
        RuntimeOptions())
    assert "x-fc-error-type" not in resp.headers
    [outcome] = json.loads(resp.body.read())
    assert outcome["data"]["changeId"] == "wf-8120" and outcome["data"]["status"] == "applied"
    assert outcome["type"] == "sgrule.egress.modify.applied"
    assert outcomes(localcloud_app)["wf-8120"]["Data"]["status"] == "applied"  # published too


def test_a_failed_outcome_is_routed_to_the_failed_outcome_queue(localcloud_app: Any) -> None:
    from mns.queue import Message

    localcloud_app.faults.inject("ModifySecurityGroupEgressRule", security_group_id="sg-bp1database01",
                                 error={"status": 503, "code": "ServiceUnavailable", "message": "try later"})
    try:
        change = {"specversion": "1.0", "id": "FAIL-1", "source": "test/pipeline", "type": "sgrule.egress.modify",
                  "time": "2026-11-27T12:00:00Z", "data": {"RegionId": "cn-hangzhou",
                  "SecurityGroupId": "sg-bp1database01", "SecurityGroupRuleId": "sgr-bp1dbbackup1",
                  "Description": "will not get through"}}
        localcloud_app.mns_account().get_queue("sgrule-changes").send_message(Message(json.dumps(change)))
        routed = localcloud_app.wait_for(lambda: localcloud_app.queue_messages("sgrule-changes-failed"), timeout=30)
    finally:
        localcloud_app.faults.clear()
    [message] = routed
    event = json.loads(message["body"])
    assert event["type"] == "sgrule.egress.modify.failed" and event["data"]["changeId"] == "FAIL-1"
    assert event["data"]["error"]["code"] == "Runtime.RetriesExhausted"
    assert event["aliyuneventbusname"] == "sgrule-outcomes"

"""The description normaliser in the whole application from template.yml: its timer trigger fires, the pass
enqueues the changes with the MNS SDK, the queue's trigger hands them to the apply function, the rules end
up normalised, and the pass's report and every change's outcome land on the outcome bus."""
from __future__ import annotations

from typing import Any

NORMALISE = "sgrule-normalise-descriptions"
REGION = "cn-hangzhou"
# Rules of events/apply/state.json that no other pipeline test changes, made messy by hand first.
MESSY = {("sg-bp1database01", "sgr-bp1dbsmtp01"): ("  no\tmail out  CHG-77 ", "no mail out CHG-77"),
         ("sg-bp1batch0001", "sgr-bp1batchv6a"): ("web\u200b egress (IPv6)\r\n", "web egress (IPv6)")}


def describe(app: Any, group: str) -> dict[str, str]:
    from alibabacloud_ecs20140526 import models
    from alibabacloud_ecs20140526.client import Client

    body = Client(app.sdk_config()).describe_security_group_attribute(models.DescribeSecurityGroupAttributeRequest(
        region_id=REGION, security_group_id=group, direction="egress")).body
    return {p.security_group_rule_id: p.description for p in body.permissions.permission}


def test_the_nightly_timer_normalises_descriptions_through_the_apply_function(localcloud_app: Any) -> None:
    from alibabacloud_ecs20140526 import models
    from alibabacloud_ecs20140526.client import Client

    ecs = Client(localcloud_app.sdk_config())
    for (group, rule), (messy, _) in MESSY.items():  # someone pasted these in the console
        live = next(p for p in ecs.describe_security_group_attribute(models.DescribeSecurityGroupAttributeRequest(
            region_id=REGION, security_group_id=group, direction="egress")).body.permissions.permission
            if p.security_group_rule_id == rule)
        ecs.modify_security_group_egress_rule(models.ModifySecurityGroupEgressRuleRequest(
            region_id=REGION, security_group_id=group, security_group_rule_id=rule, ip_protocol=live.ip_protocol,
            port_range=live.port_range, description=messy))

    localcloud_app.fire(NORMALISE)

    def reports() -> list[dict[str, Any]]:
        return [e["event"]["Data"] for e in localcloud_app.events(bus="sgrule-outcomes")
                if e["event"]["Type"] == "sgrule.normalise.report" and not e["event"]["Data"]["dryRun"]]

    [report] = localcloud_app.wait_for(reports, timeout=60)
    assert report["complete"] and {(c["securityGroupId"], c["securityGroupRuleId"]): c["after"]
                                   for c in report["changes"]} == {k: v[1] for k, v in MESSY.items()}
    [run] = localcloud_app.invocations(function=NORMALISE, trigger="timer:nightly-normalise")
    assert run["errorType"] is None

    def applied() -> dict[str, Any]:
        return {e["event"]["Data"]["securityGroupRuleId"]: e["event"]["Data"]
                for e in localcloud_app.events(bus="sgrule-outcomes")
                if e["event"]["Data"].get("correlationId") == report["scanId"]}

    outcomes = localcloud_app.wait_for(lambda: len(applied()) == len(MESSY) and applied(), timeout=60)
    assert {rule: o["status"] for rule, o in outcomes.items()} == {rule: "applied" for _, rule in MESSY}
    assert all(o["changeSource"] == "sgrule/normaliser" for o in outcomes.values())
    for (group, rule), (_, after) in MESSY.items():
        assert describe(localcloud_app, group)[rule] == after
    localcloud_app.wait_idle()
    assert localcloud_app.queue_messages("sgrule-changes") == []

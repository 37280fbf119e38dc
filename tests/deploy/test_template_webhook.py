"""template.yml for the ticket webhook and notify functions: code, trigger, rule, secret parameters,
environment, and each role's policy against the API calls the code makes."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from sgrule.notify.config import NotifySettings
from sgrule.webhook.config import WebhookSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "template.yml").read_text(encoding="utf-8"))


def resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    return template["Resources"][name]["Properties"]


def env_names(settings: Any) -> set[str]:
    names: set[str] = set()
    for name, info in settings.model_fields.items():
        alias = info.validation_alias
        names.update(str(c) for c in alias.choices) if isinstance(alias, AliasChoices) else \
            names.add(f"SGRULE_{name}".upper())
    return {n for n in names if n.startswith("SGRULE_")}


@pytest.mark.parametrize("logical,folder", [("WebhookFunction", "ticket_webhook"), ("NotifyFunction", "ticket_notify")])
def test_functions_and_their_code(template: dict[str, Any], logical: str, folder: str) -> None:
    fn = resource(template, logical)
    code_param = fn["Code"]["OssObjectName"]["Ref"]
    assert Path(template["Parameters"][code_param]["Default"]).stem == folder  # what localcloud and packaging map
    source = (ROOT / "functions" / folder / "index.py").read_text()
    for entry in (fn["Handler"], fn["InstanceLifecycleConfig"]["Initializer"]["Handler"]):
        assert re.search(rf"^def {entry.split('.')[1]}\(", source, re.M), entry
    assert fn["Runtime"] == "python3.12" and fn["InstanceConcurrency"] >= 1


def test_anonymous_http_trigger_on_the_webhook(template: dict[str, Any]) -> None:
    trigger = resource(template, "WebhookHttpTrigger")
    assert trigger["FunctionName"] == {"Fn::GetAtt": ["WebhookFunction", "FunctionName"]}
    assert trigger["TriggerType"] == "http"
    assert trigger["TriggerConfig"]["authType"] == "anonymous"  # the signature is the authentication
    assert "POST" in trigger["TriggerConfig"]["methods"] and "GET" in trigger["TriggerConfig"]["methods"]
    # The webhook answers within a sender's 5 s; its function timeout leaves room for that and no more.
    fn = resource(template, "WebhookFunction")
    assert int(fn["EnvironmentVariables"]["SGRULE_WEBHOOK_BUDGET_MS"]) < 5000 <= fn["Timeout"] * 1000


def test_secrets_come_from_noecho_parameters(template: dict[str, Any]) -> None:
    for param, logical, variable in (("WebhookSenders", "WebhookFunction", "SGRULE_WEBHOOK_SENDERS"),
                                     ("NotifyTargets", "NotifyFunction", "SGRULE_NOTIFY_TARGETS"),
                                     ("RedisUrl", "WebhookFunction", "SGRULE_IDEMPOTENCY_URL")):
        assert template["Parameters"][param]["NoEcho"] is True
        assert resource(template, logical)["EnvironmentVariables"][variable] == {"Ref": param}
    # The webhook never holds a ticket system's API token; notify never holds a webhook secret.
    assert "SGRULE_NOTIFY_TARGETS" not in resource(template, "WebhookFunction")["EnvironmentVariables"]
    assert "SGRULE_WEBHOOK_SENDERS" not in resource(template, "NotifyFunction")["EnvironmentVariables"]


# SGRULE_* each function's settings read that its template entry leaves unset on purpose.
UNSET = {"WebhookFunction": {"SGRULE_ECS_ENDPOINT", "SGRULE_EVENTBRIDGE_ENDPOINT", "SGRULE_FC_ENDPOINT",
                             "SGRULE_OUTCOME_BUS"},   # it calls only MNS
         "NotifyFunction": {"SGRULE_ECS_ENDPOINT", "SGRULE_EVENTBRIDGE_ENDPOINT", "SGRULE_FC_ENDPOINT",
                            "SGRULE_MNS_ENDPOINT", "SGRULE_CHANGE_QUEUE", "SGRULE_OUTCOME_BUS",
                            "SGRULE_ALLOWED_REGIONS", "SGRULE_ALLOWED_SECURITY_GROUPS",  # it changes nothing
                            "SGRULE_CONNECT_TIMEOUT_MS", "SGRULE_READ_TIMEOUT_MS"}}  # SDK timeouts: no SDK


@pytest.mark.parametrize("logical,settings", [("WebhookFunction", WebhookSettings), ("NotifyFunction", NotifySettings)])
def test_environment_is_what_the_code_reads(template: dict[str, Any], logical: str, settings: Any) -> None:
    env = {k for k in resource(template, logical)["EnvironmentVariables"] if k.startswith("SGRULE_")}
    known = env_names(settings)
    assert env <= known, f"not read by the code: {sorted(env - known)}"
    assert env | UNSET[logical] == known, f"read by the code, missing: {sorted(known - env - UNSET[logical])}"


def mns_calls() -> set[str]:
    """The MNS SDK calls of the change-queue sender: ``queue.batch_send_message(`` -> BatchSendMessage."""
    text = (ROOT / "shared" / "sgrule" / "clients" / "mns.py").read_text()
    return {"".join(p.capitalize() for p in m.split("_")) for m in re.findall(r"\bqueue\.([a-z_]+)\(", text)}


def test_webhook_role_may_only_send_to_the_change_queue(template: dict[str, Any]) -> None:
    assert mns_calls() == {"BatchSendMessage"}  # mns:SendMessage (RAM table) or mns:BatchSendMessage (API page)
    policies = {n: r["Properties"] for n, r in template["Resources"].items() if r["Type"] == "ALIYUN::RAM::ManagedPolicy"
                and {"Fn::GetAtt": ["WebhookRole", "RoleName"]} in r["Properties"]["Roles"]}
    assert sorted(policies) == ["WebhookCodePolicy", "WebhookPlatformPolicy"]
    [statement] = policies["WebhookCodePolicy"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == ["mns:SendMessage", "mns:BatchSendMessage"]
    assert statement["Resource"] == [{"Fn::Sub": "acs:mns:${ALIYUN::Region}:${ALIYUN::AccountId}:/queues/"
                                                 "${ChangeQueueName}/messages"}]
    assert resource(template, "WebhookFunction")["Role"] == {"Fn::GetAtt": ["WebhookRole", "Arn"]}


def test_notify_role_grants_only_its_logs(template: dict[str, Any]) -> None:
    """The notify code calls no Alibaba Cloud API: its role only lets FC write the function's logs, and the
    code imports no SDK."""
    for r in template["Resources"].values():
        if r["Type"] == "ALIYUN::RAM::ManagedPolicy" and \
                {"Fn::GetAtt": ["NotifyRole", "RoleName"]} in r["Properties"]["Roles"]:
            actions = {a for s in r["Properties"]["PolicyDocument"]["Statement"] for a in s["Action"]}
            assert actions == {"log:PostLogStoreLogs"}
    assert not resource(template, "NotifyRole").get("Policies")
    for path in (ROOT / "shared" / "sgrule" / "notify").glob("*.py"):
        assert not re.search(r"^\s*(from|import) (alibabacloud|mns|darabonba)", path.read_text(), re.M), path


def test_notify_rule_feeds_ticket_outcomes_to_the_notify_function(template: dict[str, Any]) -> None:
    from localcloud.eventbridge.patterns import compile_pattern
    from sgrule.contract.outcome import build

    rule = resource(template, "NotifyRule")
    assert rule["EventBusName"] == {"Ref": "OutcomeBusName"} and rule["Status"] == "ENABLE"
    [target] = rule["Targets"]
    assert target["Type"] == "acs.fc.function"
    assert target["Endpoint"] == {"Fn::Sub": "acs:fc:${ALIYUN::Region}:${ALIYUN::AccountId}:functions/"
                                             "${NotifyFunctionName}"}
    matches = compile_pattern(rule["FilterPattern"])
    ticket = build(status="applied", source="sgrule/apply", change_source="ticketing/jira", change_id="SEC-1/x")
    other = build(status="applied", source="sgrule/apply", change_source="sgrule/normaliser", change_id="n-1")
    assert matches(ticket) and not matches(other)

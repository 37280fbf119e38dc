"""What each function's cold start imports: nothing on a deny list, so the start-up gains cannot regress.

For every function a fresh interpreter loads its ``index.py``, runs ``initialize`` and answers its sample
event (from ``events/``) against localcloud; the modules loaded after start-up and after that first
invocation must include nothing the invocation does not use:

- ``aiohttp`` (the SDKs' async transport: every call is synchronous) -- deferred, never run;
- an SDK model module of an API action the function never calls (the model packages load per model), and
  any eagerly loaded ``models`` package;
- another function's code, the CLI, localcloud, and per function the libraries only another one needs.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from localcloud.jira import LocalJira

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
CHILD = Path(__file__).resolve().parent / "startup_child.py"
QUEUE = "sgrule-changes"
JIRA_USER, JIRA_TOKEN = "sgrule-bot@example.com", "jira-api-token-0123456789"
pytestmark = pytest.mark.slow

ECS, EVENTBRIDGE = "alibabacloud_ecs20140526", "alibabacloud_eventbridge20200401"
TEA_SDKS = ("alibabacloud_", "Tea", "darabonba", "requests", "urllib3")  # the Tea-based SDKs and their transport
SUBPACKAGES = {"apply_egress_rule": "sgrule.apply", "ticket_webhook": "sgrule.webhook",
               "ticket_notify": "sgrule.notify", "normalise_descriptions": "sgrule.normalise"}
# The API actions each function calls (the template's RAM policies grant exactly these).
ACTIONS = {"apply_egress_rule": {ECS: {"DescribeSecurityGroupAttribute", "ModifySecurityGroupEgressRule"},
                                 EVENTBRIDGE: {"PutEvents"}},
           "normalise_descriptions": {ECS: {"DescribeSecurityGroups", "DescribeSecurityGroupAttribute"},
                                      EVENTBRIDGE: {"PutEvents"}},
           "ticket_webhook": {}, "ticket_notify": {}}
# Libraries only other functions need (the MNS SDK only enqueuers; YAML the normaliser's policy; JMESPath the
# webhook's mappings; standardwebhooks the webhook's `standard` senders and notify's callbacks).
DENY = {"apply_egress_rule": ("mns", "yaml", "jmespath", "standardwebhooks"),
        "ticket_webhook": (*TEA_SDKS, "yaml", "standardwebhooks"),
        "ticket_notify": (*TEA_SDKS, "mns", "yaml", "jmespath", "standardwebhooks"),
        "normalise_descriptions": ("jmespath", "standardwebhooks")}
# Loaded by the first request, not before it.
DENY_AT_STARTUP = {"ticket_webhook": ("mns",)}


def snake(action: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()


def denied(name: str, function: str, at_startup: bool) -> str | None:
    """Why ``name`` must not be loaded by ``function`` (None: it may be)."""
    top = name.split(".")[0]
    if top == "aiohttp":
        return "the SDKs' async transport"
    if top == "localcloud" or name == "sgrule.cli" or name.startswith("sgrule.cli."):
        return "not part of a function"
    for other, package in SUBPACKAGES.items():
        if other != function and (name == package or name.startswith(package + ".")):
            return f"{other}'s code"
    for prefix in DENY[function] + (DENY_AT_STARTUP.get(function, ()) if at_startup else ()):
        if name == prefix or name.startswith(prefix + ".") or (prefix.endswith("_") and name.startswith(prefix)):
            return f"a library {function} does not use here"
    m = re.match(r"^(alibabacloud_[a-z]+\d{8})\.models\._(\w+)$", name)  # a product's API models
    if m:
        actions = ACTIONS[function].get(m.group(1), set())
        if not any(m.group(2).startswith(snake(a) + "_") for a in actions):
            return "an SDK model of an action this function never calls"
    return None


@pytest.fixture
def jira() -> Any:
    with LocalJira(users={JIRA_USER: JIRA_TOKEN}, issues=["SEC-1042"]) as server:
        yield server


def setup(function: str, localcloud: Any, jira: LocalJira, tmp_path: Path) -> tuple[Path, dict[str, str],
                                                                                   Callable[[Any], bool]]:
    """(event file, environment, check of the invocation's result) after preparing localcloud."""
    apply_state = json.loads((EVENTS / "apply" / "state.json").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SGRULE_", "ALIBABA_CLOUD_"))}
    env.update(ALIBABA_CLOUD_ACCESS_KEY_ID=localcloud.access_key_id,
               ALIBABA_CLOUD_ACCESS_KEY_SECRET=localcloud.access_key_secret,
               ALIBABA_CLOUD_ECS_METADATA_DISABLED="true", SGRULE_REGION="cn-hangzhou",
               SGRULE_IDEMPOTENCY_URL=f"sqlite:///{tmp_path}/store.sqlite3",
               SGRULE_ALLOWED_REGIONS="cn-hangzhou", SGRULE_ALLOWED_SECURITY_GROUPS="sg-bp1*")
    ep = localcloud.endpoint
    if function == "apply_egress_rule":
        localcloud.load_state(apply_state)
        env.update(SGRULE_ECS_ENDPOINT=ep, SGRULE_EVENTBRIDGE_ENDPOINT=ep, SGRULE_OUTCOME_BUS="default")
        return EVENTS / "apply" / "mns-batch.json", env, lambda out: len(out) == 9 and \
            {o["data"]["status"] for o in out} == {"applied", "unchanged", "rejected", "superseded"}
    if function == "ticket_webhook":
        localcloud.create_queue(QUEUE)
        env.update(SGRULE_MNS_ENDPOINT=ep, SGRULE_CHANGE_QUEUE=QUEUE,
                   SGRULE_WEBHOOK_SENDERS=(EVENTS / "http" / "senders.json").read_text())
        return EVENTS / "http" / "jira-issue.json", env, lambda out: out["statusCode"] == 202
    if function == "ticket_notify":
        env["SGRULE_NOTIFY_TARGETS"] = json.dumps([{"sender": "jira", "kind": "jira", "url": jira.url,
                                                    "user": JIRA_USER, "token": JIRA_TOKEN}])
        return EVENTS / "notify" / "outcome-applied.json", env, lambda out: out["posted"] == 1
    normalise_state = json.loads((EVENTS / "normalise" / "state.json").read_text())
    localcloud.load_state({**normalise_state, "eventbridge": apply_state["eventbridge"]})
    localcloud.create_queue(QUEUE)
    timer = json.loads((EVENTS / "timer" / "nightly.json").read_text())
    timer["payload"] = json.dumps({**json.loads(timer["payload"]), "dryRun": False})  # a real run enqueues
    event = tmp_path / "nightly.json"
    event.write_text(json.dumps(timer))
    env.update(SGRULE_ECS_ENDPOINT=ep, SGRULE_EVENTBRIDGE_ENDPOINT=ep, SGRULE_OUTCOME_BUS="default",
               SGRULE_MNS_ENDPOINT=ep, SGRULE_CHANGE_QUEUE=QUEUE)
    return event, env, lambda out: out["complete"] and out["counts"]["enqueued"] == 7


@pytest.mark.parametrize("function", sorted(SUBPACKAGES))
def test_a_cold_start_imports_nothing_on_the_deny_list(function: str, localcloud: Any, jira: LocalJira,
                                                       tmp_path: Path) -> None:
    event, env, did_its_work = setup(function, localcloud, jira, tmp_path)
    proc = subprocess.run([sys.executable, str(CHILD), function, str(event)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert did_its_work(out["result"]), out["result"]  # a failed call proves nothing about imports
    for phase in ("startup", "cold"):
        bad = {name: why for name in out[phase] if (why := denied(name, function, phase == "startup"))}
        assert not bad, f"{function} {phase}: {bad}"
    assert all(out["lazy_models"].values()), out["lazy_models"]  # no models package loaded eagerly
    used = {f"{pkg}.models" for pkg in ACTIONS[function]}
    assert set(out["lazy_models"]) == used


def test_the_deny_list_catches_what_it_names() -> None:
    assert denied("aiohttp.client", "apply_egress_rule", False)
    assert denied(f"{ECS}.models._describe_instances_request", "apply_egress_rule", False)
    assert denied(f"{ECS}.models._describe_security_groups_response_body", "apply_egress_rule", False)
    assert not denied(f"{ECS}.models._describe_security_groups_response_body", "normalise_descriptions", False)
    assert not denied(f"{ECS}.models._modify_security_group_egress_rule_request", "apply_egress_rule", False)
    assert denied(f"{ECS}.models._modify_security_group_egress_rule_request", "normalise_descriptions", False)
    assert denied("sgrule.apply.batch", "ticket_webhook", False) and denied("requests", "ticket_notify", False)
    assert denied("mns.queue", "ticket_webhook", True) and not denied("mns.queue", "ticket_webhook", False)
    assert denied("alibabacloud_credentials.client", "ticket_webhook", False)
    assert not denied("sgrule.clients.ecs", "apply_egress_rule", False) and denied("sgrule.cli.pipeline", "x", False)

"""The webhook's early feedback from the guardrails, through its FC entry point with localcloud's MNS: a change
a guardrail denies on its own fields is answered 400 with the guardrail's code, name and message and nothing
of the request is enqueued; a change the guardrails cannot judge without the live rule goes on to apply; a
policy that cannot be loaded answers every change with Forbidden.GuardrailPolicyInvalid."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from webhookkit import Answer, block, change, jira_issue

ROOT = Path(__file__).resolve().parents[2]
Drain = Callable[[], list[dict[str, Any]]]
SSH_OUT = {"Policy": "accept", "DestCidrIp": "203.0.113.9/32", "PortRange": "22/22"}


@pytest.fixture
def policy(function_env: Any, queued: Drain) -> Callable[[str], None]:
    """``policy(path)``: the webhook (its queue on localcloud) with SGRULE_GUARDRAILS_FILE set to ``path``."""
    return lambda path: function_env({"SGRULE_GUARDRAILS_FILE": path})


def test_a_change_a_guardrail_denies_on_its_own_fields_is_400_and_nothing_is_enqueued(
        policy: Any, post: Callable[..., Answer], queued: Drain) -> None:
    policy(str(ROOT / "guardrails" / "example.yml"))
    events = [change(0, sender="pd"), change(1, sender="pd", **SSH_OUT)]
    a = post("pd", events)
    assert a.status == 400 and [(e["index"], e["code"]) for e in a.json["errors"]] == [(1, "Forbidden.Guardrail")]
    message = a.json["errors"][0]["message"]
    assert "'no-public-accept'" in message and "only on ports 80 and 443" in message
    assert queued() == []


def test_a_ticket_whose_block_a_guardrail_denies_is_400(policy: Any, post: Callable[..., Answer],
                                                        queued: Drain) -> None:
    policy(str(ROOT / "guardrails" / "example.yml"))
    data = {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-bp1payments01", "SecurityGroupRuleId": "sgr-bp1ssh",
            **SSH_OUT}
    a = post("jira", jira_issue("SEC-77", description=block(data)))
    assert a.status == 400 and a.codes == ["Forbidden.Guardrail"]
    assert queued() == []


def test_what_needs_the_live_rule_is_left_to_apply(policy: Any, post: Callable[..., Answer], queued: Drain) -> None:
    policy(str(ROOT / "guardrails" / "example.yml"))
    # No Policy given: the live rule may be `drop`, which no-public-accept allows. Priority: priority-floor
    # compares with the live rule. Both are judged by the apply function.
    events = [change(0, sender="pd", DestCidrIp="203.0.113.9/32", PortRange="22/22"),
              change(1, sender="pd", Priority=1)]
    a = post("pd", events)
    assert a.status == 202, a
    assert [m["id"] for m in queued()] == [e["id"] for e in events]


@pytest.mark.parametrize("text", [None, "guardrails:\n  - {name: x, message: m, expression: 'rule.'}\n"])
def test_a_policy_that_cannot_be_loaded_answers_every_change(policy: Any, post: Callable[..., Answer],
                                                             queued: Drain, tmp_path: Path,
                                                             text: str | None) -> None:
    path = tmp_path / "guardrails.yml"
    if text is not None:
        path.write_text(text)
    policy(str(path))
    a = post("pd", [change(0, sender="pd"), change(1, sender="pd")])
    assert a.status == 400 and a.codes == ["Forbidden.GuardrailPolicyInvalid"] * 2
    assert str(path) in a.json["errors"][0]["message"]
    assert queued() == []

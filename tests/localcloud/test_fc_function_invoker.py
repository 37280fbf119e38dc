"""``ALIYUN::FC3::FunctionInvoker``: localcloud invokes the function as ROS does while it creates the stack, before
any trigger runs; a failure it must check fails the start, and a rule on a bus nothing creates is refused."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from localcloud.app import LocalApp
from localcloud.template import TemplateError

FCAPP = Path(__file__).resolve().parent / "fcapp" / "template.yml"


def test_the_invoked_function_made_the_bus_the_rules_use(fcapp: Any) -> None:
    [made] = [i for i in fcapp.invocations(function="t-mkbus")]
    assert made["trigger"] == "ros:Bus"
    assert "t-bus" in fcapp.app.info()["buses"]
    # What the stack made survives a reset of the cloud's state, as declared resources do.
    fcapp.app.eventbridge.reset()
    assert fcapp.app.eventbridge.backend.has_bus("t-bus")


def _variant(tmp_path: Path, edit: Any) -> Path:
    text = edit(FCAPP.read_text(encoding="utf-8"))
    path = tmp_path / "template.yml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "functions").symlink_to(FCAPP.parent / "functions")
    return path


def test_a_failing_invocation_with_checkerror_refuses_the_start(tmp_path: Path) -> None:
    # The function gets an event it cannot read: it raises, and CheckError makes that the stack's failure.
    path = _variant(tmp_path, lambda t: t.replace("Event: !Sub '{\"name\": \"${Prefix}-bus\"}'", "Event: 'not json'"))
    app = LocalApp(path, {"SinkFile": str(tmp_path / "sink"), "Prefix": "inv"}, retry_base_s=0.05)
    with pytest.raises(TemplateError, match=r"Bus: inv-mkbus failed \(.*\); ROS would fail the stack"):
        app.start()
    assert app.worker_pids() == []  # stopped again: nothing left running


def test_a_rule_on_a_bus_nothing_creates_is_refused(tmp_path: Path) -> None:
    path = _variant(tmp_path, lambda t: t.replace("EventBusName: !Sub ${Prefix}-bus\n      RuleName: failed-to-sink",
                                                  "EventBusName: elsewhere\n      RuleName: failed-to-sink"))
    app = LocalApp(path, {"SinkFile": str(tmp_path / "sink"), "Prefix": "inv2"}, retry_base_s=0.05)
    with pytest.raises(TemplateError, match="rule 'failed-to-sink' is on event bus 'elsewhere', which nothing"):
        app.start()

"""Check a ROS template the way ROS would refuse it, for the tests: the ROS specification check that localcloud
runs before it starts a template (:mod:`localcloud.ros.check`, from Alibaba's ros-cdk packages), plus what that
specification leaves untyped and the Function Compute 3.0 API defines: the keys of each trigger's
``TriggerConfig`` (:data:`TRIGGER_CONFIG`).

:func:`problems` returns one readable line per fault (empty: the template passes). The YAML short forms are read
by sgrule's own loader (``sgrule.cli.sdevs``, the s.yaml generator's), independent of localcloud's reader, so
each catches the other's gaps.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from localcloud.ros import check

from sgrule.cli.sdevs import load_template

# Function Compute 3.0 trigger configurations (camelCase, as the FC API's CreateTrigger takes them), per
# TriggerType. Spec notation: None any value; a dict a map whose keys must be among its keys.
_EB_PARAMS = {"sourceMNSParameters": {"QueueName": None, "IsBase64Decode": None, "RegionId": None}}
TRIGGER_CONFIG: dict[str, dict[str, Any]] = {
    "http": {"authType": None, "methods": None, "disableURLInternet": None, "authConfig": None},
    "timer": {"cronExpression": None, "enable": None, "payload": None},
    "eventbridge": {
        "triggerEnable": None, "asyncInvocationType": None, "eventRuleFilterPattern": None,
        "eventSourceConfig": {"eventSourceType": None, "eventSourceParameters": _EB_PARAMS},
        "eventSinkConfig": {"deliveryOption": {"mode": None, "eventSchema": None, "concurrency": None}},
        "runOptions": {"mode": None, "maximumTasks": None, "errorsTolerance": None,
                       "batchWindow": {"CountBasedWindow": None, "TimeBasedWindow": None},
                       "retryStrategy": {"PushRetryStrategy": None, "MaximumEventAgeInSeconds": None,
                                         "MaximumRetryAttempts": None},
                       "deadLetterQueue": {"Arn": None}},
    },
}


def load(path: str | Path) -> dict[str, Any]:
    """The template as sgrule's own tooling reads it (``sgrule s-yaml``): ROS short forms as long forms."""
    return load_template(Path(path))


def problems(doc: dict[str, Any]) -> list[str]:
    """Every fault of the template ``doc`` (as loaded by :func:`load`), one line each."""
    out = check.problems(doc)
    for name, res in (doc.get("Resources") or {}).items():
        if not isinstance(res, dict) or res.get("Type") != "ALIYUN::FC3::Trigger":
            continue
        props = res.get("Properties") or {}
        kind = props.get("TriggerType")
        spec = TRIGGER_CONFIG.get(kind)
        at = f"Resources.{name}.Properties.TriggerConfig"
        if spec is None:
            out.append(f"Resources.{name}: TriggerType {kind!r} has no configuration in the table")
        else:
            _shape(props.get("TriggerConfig") or {}, spec, at, f"{kind} trigger", out)
    return out


def _shape(value: Any, spec: Any, at: str, kind: str, out: list[str]) -> None:
    if spec is None or (isinstance(value, dict) and len(value) == 1 and next(iter(value)) in check.FUNCTIONS):
        return
    if not isinstance(value, dict):
        out.append(f"{at}: expected a mapping ({kind})")
        return
    for key, sub in value.items():
        if key not in spec:
            match = difflib.get_close_matches(key, list(spec), n=1)
            out.append(f"{at}: unknown property {key!r} ({kind})" + (f"; did you mean {match[0]!r}?" if match else ""))
        else:
            _shape(sub, spec[key], f"{at}.{key}", kind, out)

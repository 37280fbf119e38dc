"""Triggers from the template (``ALIYUN::FC3::Trigger``): ``http`` (a local URL per function), ``timer``
(cron / ``@every``) and ``eventbridge`` with an MNS source (a queue poller that batches messages).

:func:`triggers_from` reads them; each kind lives in its own module."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from localcloud.template import Template, TemplateError

KINDS = ("http", "timer", "eventbridge")


@dataclass(frozen=True)
class TriggerSpec:
    function: str
    name: str
    type: str
    config: dict[str, Any]
    logical_id: str = ""


def triggers_from(template: Template, functions: set[str]) -> list[TriggerSpec]:
    out = []
    for res in template.of_type("ALIYUN::FC3::Trigger"):
        p = res.properties
        kind = str(p.get("TriggerType", ""))
        fn = str(p.get("FunctionName", ""))
        if fn not in functions:
            raise TemplateError(f"{res.logical_id}: trigger of unknown function {fn!r}")
        if kind not in KINDS:
            raise TemplateError(f"{res.logical_id}: trigger type {kind!r} is not emulated ({', '.join(KINDS)})")
        config = p.get("TriggerConfig") or {}
        if isinstance(config, str):
            import json

            try:
                config = json.loads(config)
            except ValueError as exc:
                raise TemplateError(f"{res.logical_id}.TriggerConfig is not JSON: {exc}") from None
        out.append(TriggerSpec(fn, res.name, kind, config, res.logical_id))
    return out

"""``ALIYUN::FC3::FunctionInvoker``: ROS invokes a function while it creates the stack (e.g. to create what ROS has
no resource type for). localcloud does the same when the application starts, before any trigger runs, in the
template's order: ``FunctionName`` with ``Event`` (text) as its event, synchronously unless ``Async`` is true.
With ``CheckError`` true a failed invocation fails the start, as it fails the stack.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from localcloud.template import Template, TemplateError

KIND = "ALIYUN::FC3::FunctionInvoker"


@dataclass(frozen=True)
class InvokerSpec:
    logical_id: str
    function: str
    event: bytes
    asynchronous: bool
    check_error: bool


def invokers_from(template: Template, functions: set[str]) -> list[InvokerSpec]:
    out = []
    for res in template.of_type(KIND):
        p = res.properties
        fn = str(p.get("FunctionName", ""))
        if fn not in functions:
            raise TemplateError(f"{res.logical_id}: {KIND} of unknown function {fn!r}")
        event = p.get("Event", "")
        out.append(InvokerSpec(res.logical_id, fn, str(event).encode("utf-8"), p.get("Async") is True,
                               p.get("CheckError") is True))
    return out


def run_invokers(specs: list[InvokerSpec], invoke: Callable[..., tuple[str, Any]],
                 invoke_async: Callable[..., str], log: Callable[[str], None]) -> None:
    """Invoke each in order; a failure of one that checks errors raises :class:`TemplateError`."""
    for spec in specs:
        trigger = f"ros:{spec.logical_id}"
        if spec.asynchronous:
            invoke_async(spec.function, spec.event, trigger)
            log(f"{spec.logical_id}: invoked {spec.function} asynchronously")
            continue
        _rid, outcome = invoke(spec.function, spec.event, trigger=trigger)
        if outcome.ok:
            log(f"{spec.logical_id}: {spec.function} answered {outcome.body.decode('utf-8', 'replace')[:200]}")
        elif spec.check_error:
            err = outcome.error or {}
            raise TemplateError(f"{spec.logical_id}: {spec.function} failed ({err.get('errorType')}: "
                                f"{err.get('errorMessage')}); ROS would fail the stack (CheckError)")
        else:
            log(f"{spec.logical_id}: {spec.function} failed; ignored (CheckError is not set)")

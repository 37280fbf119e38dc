"""A small interpreter of the CloudFlow flow-definition language (FDL, ``SpecVersion: v1``), for the states and
fields sgrule's workflows use -- enough to drive each branch of a flow on the local platform.

States: ``Task`` (``Action: FC:InvokeFunction``, ``TaskMode: RequestComplete``; ``Parameters`` ``resourceArn``,
``invocationType``, ``body``; ``Retry``; ``Catch``), ``Choice`` (``Branches`` of ``Condition`` + ``Next``,
``Default``), ``Pass``, ``Succeed``, ``Fail`` (``Error``, ``Cause``); ``InputConstructor`` /
``OutputConstructor`` on each (a key ending in ``.$`` holds an expression). Expressions: ``$Input``,
``$Output``, ``$Context.Execution.Input``, ``$Context.Current.Error`` and paths into them (``.field``,
``[index]``); conditions compare with ``== != < <= > >=`` and combine with ``&&`` / ``||``.

The FC task runs through the official FC SDK client given to :class:`Flow` (``invoke_function_with_options``,
``x-fc-invocation-type: Sync``). Its output is the InvokeFunction response: ``{"Body": <the function's answer,
parsed as JSON>, "Headers": {...}, "StatusCode": 200}``. A function error (``X-Fc-Error-Type``) is the error
``FC.<that type>``, an FC API error ``FC.<its code>``; ``FnF.ALL`` matches any. Retry intervals go through
the ``sleep`` given (tests pass one that only records them).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

STATE_TYPES = {"Task", "Choice", "Pass", "Succeed", "Fail"}


class FlowDefinitionError(ValueError):
    """The definition breaks the FDL rules this interpreter knows."""


class TaskError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


@dataclass
class Execution:
    status: str                      # Succeeded | Failed
    output: Any = None
    error: str | None = None
    cause: str | None = None
    path: list[str] = field(default_factory=list)   # state names, in order (a retried Task once per attempt)
    invocations: int = 0


# --- expressions ---------------------------------------------------------------------------------------------
_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|<=|>=|<|>|&&|\|\|)'
                    r'|(?P<word>true|false|null)|(?P<path>\$[A-Za-z]+(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*))')


def lookup(path: str, scope: dict[str, Any]) -> Any:
    """``$Input.outcome.data.status``, ``$Output.Body[0]`` ... (a missing field is None)."""
    m = re.match(r"^\$(\w+)", path)
    if not m or m.group(1) not in scope:
        raise FlowDefinitionError(f"unknown expression root in {path!r} (known: {sorted(scope)})")
    value = scope[m.group(1)]
    for name, index in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", path[m.end():]):
        if name:
            value = value.get(name) if isinstance(value, dict) else None
        else:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
    return value


def condition(text: str, scope: dict[str, Any]) -> bool:
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FlowDefinitionError(f"cannot read condition {text!r} at {text[pos:]!r}")
        pos = m.end()
        kind = m.lastgroup
        raw = m.group(kind)  # type: ignore[arg-type]
        if kind == "str":
            tokens.append(("v", json.loads(raw)))
        elif kind == "num":
            tokens.append(("v", float(raw) if "." in raw else int(raw)))
        elif kind == "word":
            tokens.append(("v", {"true": True, "false": False, "null": None}[raw]))
        elif kind == "path":
            tokens.append(("v", lookup(raw, scope)))
        else:
            tokens.append(("op", raw))

    def comparison(i: int) -> tuple[bool, int]:
        left = tokens[i][1]
        if i + 1 < len(tokens) and tokens[i + 1][0] == "op" and tokens[i + 1][1] not in ("&&", "||"):
            op, right = tokens[i + 1][1], tokens[i + 2][1]
            ops: dict[str, Callable[[Any, Any], bool]] = {
                "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
                "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
            try:
                return ops[op](left, right), i + 3
            except TypeError:
                return False, i + 3
        return bool(left), i + 1

    results, i, joins = [], 0, []
    while i < len(tokens):
        value, i = comparison(i)
        results.append(value)
        if i < len(tokens):
            joins.append(tokens[i][1])
            i += 1
    # && binds tighter than ||
    groups, current = [], results[0]
    for join, value in zip(joins, results[1:]):
        if join == "&&":
            current = current and value
        else:
            groups.append(current)
            current = value
    groups.append(current)
    return any(groups)


def construct(spec: Any, scope: dict[str, Any]) -> Any:
    if isinstance(spec, dict):
        out = {}
        for key, value in spec.items():
            if key.endswith(".$"):
                out[key[:-2]] = lookup(value, scope)
            else:
                out[key] = construct(value, scope)
        return out
    if isinstance(spec, list):
        return [construct(v, scope) for v in spec]
    return spec


# --- the flow -------------------------------------------------------------------------------------------------
class Flow:
    def __init__(self, definition: dict[str, Any], fc_client: Any = None,
                 sleep: Callable[[float], None] = lambda _s: None) -> None:
        self.definition = definition
        self.fc = fc_client
        self.sleep = sleep
        self.states = validate(definition)

    @classmethod
    def load(cls, path: str | Path, fc_client: Any = None, **kwargs: Any) -> Flow:
        return cls(yaml.safe_load(Path(path).read_text(encoding="utf-8")), fc_client, **kwargs)

    def run(self, execution_input: dict[str, Any], max_steps: int = 100) -> Execution:
        if not isinstance(execution_input, dict):
            raise FlowDefinitionError("an execution's input is a JSON object")
        ex = Execution(status="Running")
        name: str | None = self.definition["StartAt"]
        data: Any = execution_input
        for _ in range(max_steps):
            state = self.states[name]  # type: ignore[index]
            scope: dict[str, Any] = {"Input": data, "Context": {"Execution": {"Input": execution_input},
                                                                "Current": {"Name": name}}}
            if "InputConstructor" in state:
                scope["Input"] = data = construct(state["InputConstructor"], scope)
            kind = state["Type"]
            ex.path.append(name)  # type: ignore[arg-type]
            if kind == "Succeed":
                ex.status, ex.output = "Succeeded", data
                return ex
            if kind == "Fail":
                ex.status, ex.error, ex.cause = "Failed", state.get("Error"), state.get("Cause")
                return ex
            if kind == "Choice":
                name = next((b["Next"] for b in state["Branches"] if condition(b["Condition"], scope)),
                            state["Default"])
                continue
            if kind == "Pass":
                data = construct(state["OutputConstructor"], scope) if "OutputConstructor" in state else data
            else:  # Task
                outcome = self._task(state, scope, ex)
                if isinstance(outcome, tuple):  # caught: (next state, its input)
                    name, data = outcome
                    continue
                scope["Output"] = outcome
                data = construct(state["OutputConstructor"], scope) if "OutputConstructor" in state else outcome
            if state.get("End"):
                ex.status, ex.output = "Succeeded", data
                return ex
            name = state["Next"]
        raise FlowDefinitionError(f"more than {max_steps} steps: a loop?")

    def _task(self, state: dict[str, Any], scope: dict[str, Any], ex: Execution) -> Any:
        attempts: dict[int, int] = {}
        while True:
            try:
                return self._invoke(construct(state.get("Parameters") or {}, scope), ex)
            except TaskError as err:
                rule_index = _match(state.get("Retry") or [], err.code)
                if rule_index is not None:
                    rule = state["Retry"][rule_index]
                    n = attempts.get(rule_index, 0)
                    if n < rule["MaxAttempts"]:
                        attempts[rule_index] = n + 1
                        delay = rule["IntervalSeconds"] * rule.get("BackoffRate", 1) ** n
                        self.sleep(min(delay, rule.get("MaxBackoffSeconds", delay)))
                        ex.path.append(state["Name"])
                        continue
                catch_index = _match(state.get("Catch") or [], err.code)
                if catch_index is None:
                    raise
                catch = state["Catch"][catch_index]
                error = {"Code": err.code, "Detail": err.detail}
                scope = dict(scope, Context=dict(scope["Context"], Current=dict(scope["Context"]["Current"],
                                                                                Error=error)))
                data = construct(catch["OutputConstructor"], scope) if "OutputConstructor" in catch else error
                return catch["Next"], data

    def _invoke(self, params: dict[str, Any], ex: Execution) -> dict[str, Any]:
        from alibabacloud_fc20230330 import models
        from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
        from darabonba.runtime import RuntimeOptions

        arn = params["resourceArn"]
        m = re.match(r"^acs:fc:[^:]*:[^:]*:functions/([^/:]+)$", arn)
        if not m:
            raise FlowDefinitionError(f"resourceArn {arn!r} is not acs:fc:<region>:<account>:functions/<name>")
        body = params.get("body")
        payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        ex.invocations += 1
        try:
            response = self.fc.invoke_function_with_options(
                m.group(1), models.InvokeFunctionRequest(body=payload),
                models.InvokeFunctionHeaders(x_fc_invocation_type=params.get("invocationType", "Sync")),
                RuntimeOptions(read_timeout=130_000))
        except (ClientException, ServerException) as exc:
            raise TaskError(f"FC.{exc.code}", str(exc)) from None
        headers = {k.lower(): v for k, v in (response.headers or {}).items()}
        raw = response.body.read() if hasattr(response.body, "read") else (response.body or b"")
        if headers.get("x-fc-error-type"):
            raise TaskError(f"FC.{headers['x-fc-error-type']}", raw.decode("utf-8", "replace"))
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return {"Body": parsed, "Headers": headers, "StatusCode": response.status_code}


def _match(rules: list[dict[str, Any]], code: str) -> int | None:
    for i, rule in enumerate(rules):
        if code in rule["Errors"] or "FnF.ALL" in rule["Errors"]:
            return i
    return None


def validate(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The states by name; raises :class:`FlowDefinitionError` on anything this interpreter would misread."""
    for key, want in (("Type", "StateMachine"), ("SpecVersion", "v1")):
        if definition.get(key) != want:
            raise FlowDefinitionError(f"{key} must be {want!r}, not {definition.get(key)!r}")
    states = definition.get("States")
    if not isinstance(states, list) or not states:
        raise FlowDefinitionError("States must be a non-empty list")
    by_name: dict[str, dict[str, Any]] = {}
    for state in states:
        name, kind = state.get("Name"), state.get("Type")
        if not name or name in by_name:
            raise FlowDefinitionError(f"every state needs a unique Name (got {name!r})")
        if kind not in STATE_TYPES:
            raise FlowDefinitionError(f"{name}: Type {kind!r} is not one of {sorted(STATE_TYPES)}")
        by_name[name] = state
    if definition.get("StartAt") not in by_name:
        raise FlowDefinitionError(f"StartAt names no state: {definition.get('StartAt')!r}")
    for name, state in by_name.items():
        kind = state["Type"]
        targets = []
        if kind in ("Task", "Pass"):
            if bool(state.get("End")) == ("Next" in state):
                raise FlowDefinitionError(f"{name}: give either Next or End: true")
            targets += [state["Next"]] if "Next" in state else []
        if kind == "Task":
            if state.get("Action") != "FC:InvokeFunction" or state.get("TaskMode", "RequestComplete") != \
                    "RequestComplete":
                raise FlowDefinitionError(f"{name}: only FC:InvokeFunction in RequestComplete mode is interpreted")
            if "resourceArn" not in (state.get("Parameters") or {}):
                raise FlowDefinitionError(f"{name}: Parameters.resourceArn is required")
            for rule in state.get("Retry") or []:
                missing = {"Errors", "MaxAttempts", "IntervalSeconds"} - set(rule)
                if missing:
                    raise FlowDefinitionError(f"{name}: Retry rule without {sorted(missing)}")
            targets += [c["Next"] for c in state.get("Catch") or []]
        if kind == "Choice":
            if "Next" in state or "End" in state:
                raise FlowDefinitionError(f"{name}: a Choice has no Next or End, only Branches and Default")
            if "Default" not in state or not state.get("Branches"):
                raise FlowDefinitionError(f"{name}: a Choice needs Branches and a Default")
            targets += [b["Next"] for b in state["Branches"]] + [state["Default"]]
        for target in targets:
            if target not in by_name:
                raise FlowDefinitionError(f"{name}: Next {target!r} names no state")
    return by_name

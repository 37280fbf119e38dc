"""A guardrails policy file: read, checked and compiled once, every problem with its place.

::

    guardrails:
      - name: no-open-egress            # unique, [a-z0-9-]
        expression: "..."               # CEL, true = allowed
        message: "..."                  # shown in the outcome and on the ticket
        action: deny                    # deny (default) | audit (evaluate, record, allow)

Nothing is half-loaded: :func:`load` returns a :class:`Policy` whose every expression compiled, or raises
:class:`PolicyInvalid` listing every problem (file, line, column, guardrail). Whoever enforces a policy
that did not load rejects every change (fail closed).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from .. import cel

Action = Literal["deny", "audit"]
VARIABLES = frozenset({"rule", "before", "change", "group", "changed"})
MAX_FILE_BYTES = 1024 * 1024
MAX_GUARDRAILS = 200
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_KEYS = ("name", "expression", "message", "action")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a policy file, and where: 1-based line and column when known."""

    file: str
    message: str
    line: int | None = None
    column: int | None = None
    guardrail: str | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}:{self.column}" if self.line is not None else "")
        who = f" guardrail {self.guardrail!r}:" if self.guardrail else ""
        return f"{where}:{who} {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column, "guardrail": self.guardrail,
                "message": self.message}


class PolicyInvalid(Exception):
    """The policy cannot be used; ``problems`` says every reason and where. ``unreadable``: the file itself
    could not be read as text (missing, a folder, binary), as opposed to a policy with problems in it."""

    def __init__(self, problems: list[Problem], unreadable: bool = False) -> None:
        self.problems = problems
        self.unreadable = unreadable
        super().__init__("; ".join(str(p) for p in problems[:5]) + (" ..." if len(problems) > 5 else ""))


@dataclass(frozen=True)
class Guardrail:
    name: str
    expression: str
    message: str
    action: Action
    program: cel.Program = field(repr=False, compare=False)
    line: int | None = None


@dataclass(frozen=True)
class Verdict:
    """One guardrail's answer for one change: ``allowed`` only when its expression was exactly true."""

    name: str
    action: Action
    allowed: bool
    message: str
    error: str | None = None  # the evaluation error, when there was one (it does not allow)

    def note(self) -> dict[str, Any]:
        """What an outcome's ``data.guardrails`` records of a guardrail that did not allow."""
        out: dict[str, Any] = {"name": self.name, "action": self.action, "message": self.message}
        if self.error:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class Decision:
    """Every guardrail's verdict on one change."""

    verdicts: tuple[Verdict, ...]

    @property
    def denied(self) -> Verdict | None:
        """The first ``deny`` guardrail that did not allow (the change must not be sent), or None."""
        return next((v for v in self.verdicts if v.action == "deny" and not v.allowed), None)

    @property
    def audited(self) -> list[Verdict]:
        """The ``audit`` guardrails that would have denied."""
        return [v for v in self.verdicts if v.action == "audit" and not v.allowed]

    def notes(self) -> list[dict[str, Any]]:
        return [v.note() for v in self.verdicts if not v.allowed]


@dataclass(frozen=True)
class Policy:
    file: str
    guardrails: tuple[Guardrail, ...]

    def __post_init__(self) -> None:
        # Evaluated once per change: the programs in one tuple, and each guardrail's "allowed" made once.
        object.__setattr__(self, "_programs", tuple(g.program for g in self.guardrails))
        object.__setattr__(self, "_allowed", tuple(Verdict(g.name, g.action, True, g.message) for g in self.guardrails))

    def evaluate(self, activation: Mapping[str, Any]) -> Decision:
        """Every guardrail on one activation (``rule``, ``before``, ``change``, ``group``; ``changed`` is
        derived from the first two), converted once."""
        if "changed" not in activation:
            activation = {**activation, "changed": changed(activation.get("rule"), activation.get("before"))}
        values = cel.evaluate_all(self._programs, activation)  # type: ignore[attr-defined]
        return Decision(tuple(ok if value is True else _verdict(g, value)
                              for g, ok, value in zip(self.guardrails, self._allowed, values)))  # type: ignore[attr-defined]


def changed(rule: Any, before: Any) -> list[str]:
    """The fields whose value differs between ``before`` and ``rule`` (given, removed or changed), sorted:
    what a change touches, without handing a guardrail both rules whole."""
    if not isinstance(rule, dict) or not isinstance(before, dict):
        return []
    return sorted(k for k in rule.keys() | before.keys() if rule.get(k) != before.get(k))


def _verdict(g: Guardrail, value: Any) -> Verdict:
    if isinstance(value, cel.EvaluationError):
        return Verdict(g.name, g.action, False, g.message, error=value.message)
    if value is False:
        return Verdict(g.name, g.action, False, g.message)
    return Verdict(g.name, g.action, False, g.message, error=f"the expression gave {type(value).__name__} "
                   f"{str(value)[:60]!r}, not a bool")


def resolve(path: str, code_root: str | None = None) -> Path:
    """A configured path: absolute as it is; relative against the function's code root (FC's
    ``FC_FUNC_CODE_PATH``, else the working directory)."""
    import os

    p = Path(path)
    if p.is_absolute():
        return p
    return Path(code_root or os.environ.get("FC_FUNC_CODE_PATH") or os.getcwd()) / p


def load(path: str | Path, shown: str | None = None) -> Policy:
    """The policy in ``path``, every expression compiled; :class:`PolicyInvalid` otherwise. ``shown``: how
    the file is named in problems (default: the path)."""
    name = shown or str(path)
    try:
        raw = Path(path).read_bytes()[:MAX_FILE_BYTES + 1]
    except OSError as exc:
        raise PolicyInvalid([Problem(name, f"cannot read the file: {exc.strerror or exc}")], unreadable=True) from None
    if len(raw) > MAX_FILE_BYTES:
        raise PolicyInvalid([Problem(name, f"the file is larger than {MAX_FILE_BYTES} bytes")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PolicyInvalid([Problem(name, f"not UTF-8 text (byte offset {exc.start})")], unreadable=True) from None
    return parse(text, name)


def parse(text: str, name: str = "<policy>") -> Policy:
    import yaml

    from . import network

    network.register()
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # the C parser when built
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise PolicyInvalid([Problem(name, f"not YAML: {exc.problem or exc}",
                                     mark.line + 1 if mark else None, mark.column + 1 if mark else None)]) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise PolicyInvalid([Problem(name, f"not YAML: {str(exc)[:200]}")]) from None
    problems: list[Problem] = []
    guardrails: list[Guardrail] = []

    def problem(message: str, node: Any = None, guardrail: str | None = None,
                inner: tuple[int | None, int | None] | None = None) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        column = node.start_mark.column + 1 if node is not None else None
        if inner is not None and inner[0] is not None and node is not None:
            message += f" (line {inner[0]}, column {inner[1]} of the expression)"
            if inner[0] == 1 and node.style is None:  # a plain scalar: the error's place in the file
                column = (column or 1) + (inner[1] or 1) - 1
        problems.append(Problem(name, message, line, column, guardrail))

    if root is None:
        raise PolicyInvalid([Problem(name, "the file is empty: it needs a `guardrails:` list")])
    if not isinstance(root, yaml.MappingNode):
        raise PolicyInvalid([Problem(name, "the top level must be a mapping with a `guardrails:` list",
                                     root.start_mark.line + 1, root.start_mark.column + 1)])
    top = _mapping(root, problem)
    for key, (knode, _) in top.items():
        if key != "guardrails":
            problem(f"unknown key {key!r} (the file holds `guardrails:` only)", knode)
    items = top.get("guardrails", (root, None))[1]
    if items is None or not isinstance(items, yaml.SequenceNode):
        problem("`guardrails:` must be a list of guardrails", items if items is not None else root)
        raise PolicyInvalid(problems)
    if len(items.value) > MAX_GUARDRAILS:
        problem(f"more than {MAX_GUARDRAILS} guardrails", items)
        raise PolicyInvalid(problems)
    seen: dict[str, int] = {}
    for index, item in enumerate(items.value):
        if not isinstance(item, yaml.MappingNode):
            problem(f"guardrail {index + 1} must be a mapping of {', '.join(_KEYS)}", item)
            continue
        fields = _mapping(item, problem)
        gname = _scalar(fields.get("name"))
        label = gname if isinstance(gname, str) else f"#{index + 1}"
        for key, (knode, _) in fields.items():
            if key not in _KEYS:
                problem(f"unknown key {key!r} (a guardrail has {', '.join(_KEYS)})", knode, label)
        ok = True
        if not isinstance(gname, str) or not _NAME.match(gname):
            problem("`name` must be 1 to 64 of a-z, 0-9 and '-' (not first or last)",
                    fields.get("name", (item, item))[1], label)
            ok = False
        elif gname in seen:
            problem(f"duplicate name (first at line {seen[gname]})", fields["name"][1], label)
            ok = False
        else:
            seen[gname] = fields["name"][1].start_mark.line + 1
        message = _scalar(fields.get("message"))
        if not isinstance(message, str) or not message.strip():
            hint = " (quote it: YAML reads yes/no/on/off as true/false)" if isinstance(message, bool) else ""
            problem("`message` must be a non-empty string" + hint, fields.get("message", (item, item))[1], label)
            ok = False
        action = _scalar(fields.get("action")) if "action" in fields else "deny"
        if action not in ("deny", "audit"):
            problem("`action` must be deny or audit", fields["action"][1], label)
            ok = False
        expression = _scalar(fields.get("expression"))
        enode = fields.get("expression", (item, item))[1]
        if not isinstance(expression, str) or not expression.strip():
            problem("`expression` must be a CEL expression (a string)", enode, label)
            continue
        try:
            program = cel.compile(expression, VARIABLES)
        except cel.CompileError as exc:
            problem(f"expression: {exc.message}", enode, label, (exc.line, exc.column))
            continue
        if ok:
            guardrails.append(Guardrail(str(gname), expression, str(message), action,  # type: ignore[arg-type]
                                        program, item.start_mark.line + 1))
    if problems:
        raise PolicyInvalid(problems)
    return Policy(name, tuple(guardrails))


def _mapping(node: Any, problem: Any) -> dict[str, tuple[Any, Any]]:
    """key -> (key node, value node); a duplicate or non-string key is a problem (YAML would keep the last)."""
    out: dict[str, tuple[Any, Any]] = {}
    for knode, vnode in node.value:
        key = knode.value if knode.tag.endswith(":str") else None
        if not isinstance(key, str):
            problem("keys must be strings", knode)
        elif key in out:
            problem(f"duplicate key {key!r}", knode)
        else:
            out[key] = (knode, vnode)
    return out


def _scalar(pair: tuple[Any, Any] | None) -> Any:
    """A scalar's value as YAML's safe loader reads it (strings stay strings); None for anything else."""
    import yaml

    if pair is None or not isinstance(pair[1], yaml.ScalarNode):
        return None
    node = pair[1]
    if node.tag.endswith(":str"):
        return node.value
    try:
        return yaml.SafeLoader("").construct_object(node)
    except yaml.YAMLError:
        return None

"""The description policy: a YAML file of ordered steps, validated at load, run on one description at a time.

Format (version 1)::

    version: 1
    steps:                          # run in this order
      - strip_control: {format_characters: true}
      - nfc: {}
      - whitespace: {}
      - replace:
          rules:
            - {pattern: '(?i)\\bprod\\b', replacement: production}
      - default: {template: '{IpProtocol} {PortRange} to {destination}'}
      - ticket: {pattern: '\\b[A-Z][A-Z0-9]+-[0-9]+\\b', missing: report}
      - limit: {max_length: 512, ellipsis: "…"}

Each step is a one-key mapping (its kind) whose value holds its options; ``name`` (default: the kind) tells
two steps of one kind apart in the report. The steps run again until nothing changes (at most
:data:`MAX_ROUNDS` rounds), so normalising a normalised description changes nothing; a description on which a
policy never settles is reported, not changed. Any mistake in the file raises :class:`PolicyError` with the
line and the reason, when the policy is loaded -- never halfway through a scan.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from string import Formatter
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import steps

DEFAULT_POLICY = Path(__file__).with_name("default_policy.yml")
MAX_ROUNDS = 4
API_MAX_LENGTH = 512  # ModifySecurityGroupEgressRule: Description is 1 to 512 characters


class PolicyError(ValueError):
    """An invalid policy file: where (file, line, path inside the document) and why."""

    def __init__(self, source: str, line: int | None, where: str, reason: str) -> None:
        self.source, self.line, self.where, self.reason = source, line, where, reason
        place = f"{source}:{line}" if line else source
        super().__init__(f"{place}: {where + ': ' if where else ''}{reason}")


# ------------------------------------------------------------------ the steps' options


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str | None = Field(None, min_length=1, max_length=64)


class StripControlOptions(_Options):
    format_characters: bool = True


class NfcOptions(_Options):
    pass


class WhitespaceOptions(_Options):
    pass


def _compile(value: str) -> re.Pattern[str]:
    try:
        return re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None


class Replacement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    pattern: str = Field(min_length=1)
    replacement: str

    @model_validator(mode="after")
    def _check(self) -> Replacement:
        compiled = _compile(self.pattern)
        for ref in re.findall(r"\\g<(\w+)>|\\(\d+)", self.replacement):
            name, number = ref
            if number and int(number) > compiled.groups:
                raise ValueError(f"replacement refers to group {number}; the pattern has {compiled.groups}")
            if name and not name.isdigit() and name not in compiled.groupindex:
                raise ValueError(f"replacement refers to group {name!r}, which the pattern does not define")
            if name.isdigit() and int(name) > compiled.groups:
                raise ValueError(f"replacement refers to group {name}; the pattern has {compiled.groups}")
        return self


class ReplaceOptions(_Options):
    rules: list[Replacement] = Field(min_length=1)


class TicketOptions(_Options):
    pattern: str = Field(min_length=1)
    missing: Literal["report", "marker"] = "report"
    marker: str | None = Field(None, min_length=1, max_length=64)
    position: Literal["prefix", "suffix"] = "prefix"

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        _compile(v)
        return v

    @model_validator(mode="after")
    def _marker(self) -> TicketOptions:
        if self.missing == "marker" and not self.marker:
            raise ValueError("missing: marker needs a marker, e.g. marker: '[no-ticket]'")
        if self.marker and self.marker != steps.whitespace(steps.strip_control(self.marker)):
            raise ValueError("the marker must not start or end with spaces or hold control characters")
        return self


class DefaultOptions(_Options):
    template: str = Field("{IpProtocol} {PortRange} to {destination}", min_length=1)

    @field_validator("template")
    @classmethod
    def _template(cls, v: str) -> str:
        names = steps.template_fields(v)
        unknown = sorted(set(names) - steps.TEMPLATE_FIELDS)
        if unknown:
            raise ValueError(f"unknown placeholder {{{unknown[0]}}}; use {{destination}} or a rule field "
                             "such as {IpProtocol}, {PortRange}, {DestCidrIp}")
        literal = "".join(part for part, *_ in Formatter().parse(v))
        if not literal.strip() and not {"IpProtocol", "PortRange", "destination"} & set(names):
            # Every rule has these; other fields may be absent, and the API refuses an empty description.
            raise ValueError("the template must give text for every rule: include words, {IpProtocol}, "
                             "{PortRange} or {destination}")
        return v


class LimitOptions(_Options):
    max_length: int = Field(API_MAX_LENGTH, ge=1, le=API_MAX_LENGTH)
    ellipsis: str = Field("…", max_length=8)

    @model_validator(mode="after")
    def _fits(self) -> LimitOptions:
        if len(self.ellipsis) >= self.max_length:
            raise ValueError("the ellipsis must be shorter than max_length")
        return self


KINDS: dict[str, type[_Options]] = {
    "strip_control": StripControlOptions, "nfc": NfcOptions, "whitespace": WhitespaceOptions,
    "replace": ReplaceOptions, "ticket": TicketOptions, "default": DefaultOptions, "limit": LimitOptions,
}

# A step at run time: (text, rule) -> text. A check: the final text -> a finding (e.g. "ticket-missing") or None.
StepFn = Callable[[str, dict[str, Any]], str]
Check = Callable[[str], "str | None"]


class _Plain:
    """A step that needs only the text (most do): marked so the runner calls it without the rule."""

    def __init__(self, fn: Callable[[str], str]) -> None:
        self.fn = fn


def _build(kind: str, o: Any) -> tuple[StepFn | _Plain | None, Check | None]:
    """The step's transformation (None: it only reports) and its check."""
    if kind == "strip_control":
        return _Plain(partial(steps.strip_control, format_characters=o.format_characters)), None
    if kind == "nfc":
        return _Plain(steps.nfc), None
    if kind == "whitespace":
        return _Plain(steps.whitespace), None
    if kind == "replace":
        rules = [(re.compile(r.pattern), r.replacement) for r in o.rules]
        return _Plain(partial(steps.replace, rules=rules)), None
    if kind == "ticket":
        pattern = re.compile(o.pattern)

        def check(text: str) -> str | None:
            return None if pattern.search(text) else "ticket-missing"

        if o.missing != "marker":
            return None, check
        return (lambda text, rule: steps.require_ticket(text, pattern, o.missing, o.marker, o.position)[0]), check
    if kind == "default":
        return (lambda text, rule: steps.default_description(text, rule, o.template)), None
    if kind == "limit":
        return _Plain(partial(steps.limit, max_length=o.max_length, ellipsis=o.ellipsis)), None
    raise AssertionError(kind)


# ------------------------------------------------------------------ the policy


@dataclass(frozen=True)
class Result:
    before: str
    after: str
    steps: tuple[str, ...]      # names of the steps that changed the text, in policy order
    findings: tuple[str, ...]   # e.g. "ticket-missing" (reported whether or not a marker was added)
    stable: bool = True         # False: the policy did not settle within MAX_ROUNDS (not applied)

    @property
    def changed(self) -> bool:
        return self.stable and self.after != self.before


@dataclass
class Policy:
    steps: list[tuple[str, StepFn | _Plain | None]]
    source: str = "<policy>"
    digest: str = ""
    names: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    def __post_init__(self) -> None:
        # (name, function, whether it takes the rule too)
        self._transforms = [(name, fn.fn, False) if isinstance(fn, _Plain) else (name, fn, True)
                            for name, fn in self.steps if fn is not None]

    def run(self, description: str, rule: dict[str, Any] | None = None) -> Result:
        """Normalise one description of ``rule`` (its fields under the API's names)."""
        rule = rule or {}
        text = description
        fired: set[str] = set()
        for _ in range(MAX_ROUNDS):
            start = text
            round_fired = []
            for name, fn, with_rule in self._transforms:  # fn takes the rule too when with_rule
                new = fn(text, rule) if with_rule else fn(text)  # type: ignore[call-arg]  # one of two shapes
                if new != text:
                    round_fired.append(name)
                    text = new
            if text == start:  # settled (steps that undo each other within a round changed nothing)
                return Result(description, text, tuple(n for n in self.names if n in fired), self._findings(text))
            fired.update(round_fired)
        return Result(description, text, tuple(n for n in self.names if n in fired), self._findings(text),
                      stable=False)

    def _findings(self, text: str) -> tuple[str, ...]:
        """What the final text still lacks (e.g. a ticket reference), whether or not a step marked it."""
        found = {f for check in self.checks if (f := check(text)) is not None}
        return tuple(sorted(found))


def from_config(doc: Any, source: str = "<policy>", lines: dict[tuple[Any, ...], int] | None = None) -> Policy:
    """A policy from the decoded YAML document; :class:`PolicyError` names the line of any mistake."""
    lines = lines or {}

    def error(path: tuple[Any, ...], reason: str) -> PolicyError:
        where = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(path))
        line = next((lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in lines), None)
        return PolicyError(source, line, where, reason)

    if not isinstance(doc, dict):
        raise error((), "a policy is a mapping with 'version: 1' and 'steps: [...]'")
    unknown = sorted(set(map(str, doc)) - {"version", "steps"})
    if unknown:
        raise error((unknown[0],), "unknown key; a policy has only 'version' and 'steps'")
    if doc.get("version") != 1:
        raise error(("version",), f"version must be 1 (got {doc.get('version')!r})")
    items = doc.get("steps")
    if not isinstance(items, list) or not items:
        raise error(("steps",), "steps must be a non-empty list of steps")
    built: list[tuple[str, StepFn | _Plain | None]] = []
    checks: list[Check] = []
    canonical: list[Any] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or len(item) != 1:
            raise error(("steps", i), "a step is a one-key mapping, its kind: e.g. '- whitespace: {}'")
        [(kind, raw)] = item.items()
        if kind not in KINDS:
            raise error(("steps", i, kind), f"unknown step {kind!r}; steps are: {', '.join(KINDS)}")
        try:
            options = KINDS[kind].model_validate({} if raw is None else raw)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            loc = tuple(p for p in first["loc"] if p != "__root__")
            msg = first["msg"].removeprefix("Value error, ")
            raise error(("steps", i, kind) + loc, msg) from None
        name = options.name or kind
        if name in (n for n, _ in built):
            raise error(("steps", i, kind), f"two steps are called {name!r}; give one a different 'name'")
        fn, check = _build(kind, options)
        built.append((name, fn))
        if check is not None:
            checks.append(check)
        canonical.append({kind: options.model_dump(mode="json")})
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:16]
    return Policy(built, source, digest, [n for n, _ in built], checks)


def parse(text: str, source: str = "<policy>") -> Policy:
    """A policy from YAML text."""
    doc, lines = _load_yaml(text, source)
    return from_config(doc, source, lines)


def load(path: str | Path | None = None) -> Policy:
    """The policy at ``path``, or the default shipped with sgrule (``default_policy.yml``)."""
    target = Path(path) if path else DEFAULT_POLICY
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(str(target), None, "", f"cannot read the policy file: {exc}") from None
    return parse(text, str(target) if path else "default policy")


def _load_yaml(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Decode YAML (safe subset) and note the line of every key and item; duplicate keys are an error."""
    import yaml

    loader = yaml.SafeLoader(text)
    lines: dict[tuple[Any, ...], int] = {}
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            reason = getattr(exc, "problem", None) or str(exc)
            raise PolicyError(source, mark.line + 1 if mark else None, "", f"not valid YAML: {reason}") from None
        if node is None:
            raise PolicyError(source, None, "", "the policy file is empty")

        def walk(n: Any, path: tuple[Any, ...]) -> None:
            lines.setdefault(path, n.start_mark.line + 1)
            if isinstance(n, yaml.MappingNode):
                seen: set[Any] = set()
                for key_node, value_node in n.value:
                    key = loader.construct_object(key_node, deep=True)
                    if not isinstance(key, (str, int, bool, float)) or key in seen:
                        raise PolicyError(source, key_node.start_mark.line + 1, "",
                                          f"duplicate key {key!r}" if key in seen else "keys must be plain text")
                    seen.add(key)
                    lines[path + (key,)] = key_node.start_mark.line + 1
                    walk(value_node, path + (key,))
            elif isinstance(n, yaml.SequenceNode):
                for i, item in enumerate(n.value):
                    walk(item, path + (i,))

        walk(node, ())
        try:
            return loader.construct_document(node), lines
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise PolicyError(source, mark.line + 1 if mark else None, "", f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()

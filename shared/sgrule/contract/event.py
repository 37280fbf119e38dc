"""The rule-change event (input contract) and the fully formed API request, as pydantic models.

A rule-change event is a CloudEvents 1.0 structured JSON object whose ``data`` holds the parameters of
ModifySecurityGroupEgressRule under their documented names. :func:`parse_event` is the one entry point:
it returns a :class:`RuleChangeEvent` or raises :class:`sgrule.errors.SgruleError` carrying the API's own
error code -- a pydantic ``ValidationError`` never reaches a user. It stops at the first error (what an
outcome reports); :func:`event_errors` lists every error of an event (what ``sgrule validate`` prints), each
with its own code, by validating with the context ``{"all_errors": True}``.
"""
from __future__ import annotations

import difflib
import re
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
                      model_validator)
from pydantic_core import InitErrorDetails, PydanticCustomError

from .errors import CODES, SgruleError
from .safe import is_clean
from .rule import (ADDRESSING, DERIVED_TOKEN_PREFIX, REQUEST_FIELDS, RULE_FIELDS, canonical, check_combination,
                   combination_errors, fail, normalise, without_ignored)

EVENT_TYPE = "sgrule.egress.modify"
_EXTENSION = re.compile(r"^[a-z0-9]{1,32}$")  # CloudEvents attribute names: lower-case letters and digits
_RFC3339 = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$")
_ENVELOPE = ("specversion", "id", "source", "type", "time", "subject", "datacontenttype", "correlationid", "data")
_REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type", "time", "data")
_REQUIRED_FIELDS = ("RegionId", "SecurityGroupId")
ALL_ERRORS = {"all_errors": True}  # validation context: collect every error instead of stopping at the first
MAX_ERRORS = 100  # per event when collecting: a hostile event with 100,000 unknown keys is told about 100


class _Problems:
    """The errors of one object: the first is raised at once, unless the validation collects them all."""

    def __init__(self, info: ValidationInfo) -> None:
        context = info.context
        self.collect = isinstance(context, dict) and bool(context.get("all_errors"))
        self.lines: list[InitErrorDetails] = []

    def add(self, error: PydanticCustomError, loc: tuple[Any, ...] | None = None) -> None:
        if not self.collect:
            raise error
        field = (error.context or {}).get("field")
        self.lines.append({"type": error, "loc": loc if loc is not None else ((field,) if field else ()),
                           "input": None})
        if len(self.lines) >= MAX_ERRORS:
            self.raise_collected()

    def raise_collected(self, title: str = "RuleChangeEvent") -> None:
        if self.lines:
            raise ValidationError.from_exception_data(title, self.lines)


def _did_you_mean(name: str, known: Any) -> str:
    hint = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {hint[0]!r}?" if hint else "."


def _unknown_field(name: str) -> PydanticCustomError:
    return fail("InvalidEvent.UnknownField", name, f"Unknown field {name!r}" + _did_you_mean(name, REQUEST_FIELDS)
                + " Fields use the API's parameter names.")


def _str_field(description: str, example: Any, **kw: Any) -> Any:
    return Field(default=None, description=description, examples=[example], **kw)


class _Fields(BaseModel):
    """The request parameters, under their documented names, each optional and normalised."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    RegionId: str = Field(description="Region of the security group.", examples=["cn-hangzhou"])
    SecurityGroupId: str = Field(description="The security group.", examples=["sg-bp67acfmxazb4p"],
                                 pattern=r"^sg-[a-z0-9]+$")
    SecurityGroupRuleId: str | None = _str_field("The rule to modify (by-ID mode). Omit to match the rule "
                                                 "by its fields and change only Description.", "sgr-bp67acfm",
                                                 pattern=r"^sgr-[a-z0-9]+$")
    Policy: str | None = _str_field("accept or drop (case-insensitive).", "accept", pattern=r"^(?i:accept|drop)$")
    Priority: int | str | None = _str_field("1 to 100.", 1)
    IpProtocol: str | None = _str_field("TCP, UDP, ICMP, ICMPv6, GRE or ALL (case-insensitive).", "tcp",
                                        pattern=r"^(?i:tcp|udp|icmp|icmpv6|gre|all)$")
    PortRange: str | None = _str_field("start/end, 1-65535 for TCP/UDP; -1/-1 otherwise.", "443/443",
                                       pattern=r"^-?\d+/-?\d+$")
    DestCidrIp: str | None = _str_field("Destination IPv4 address or CIDR block.", "10.0.0.0/8")
    Ipv6DestCidrIp: str | None = _str_field("Destination IPv6 address or CIDR block.", "2001:db8::/32")
    DestGroupId: str | None = _str_field("Destination security group.", "sg-bp67acfmxa123b",
                                         pattern=r"^sg-[a-z0-9]+$")
    DestPrefixListId: str | None = _str_field("Destination prefix list; ignored when another destination "
                                              "is given.", "pl-x1j1k5ykzqlixdcy", pattern=r"^pl-[a-z0-9]+$")
    SourceCidrIp: str | None = _str_field("Source IPv4 address or CIDR block.", "10.1.0.0/16")
    Ipv6SourceCidrIp: str | None = _str_field("Source IPv6 address or CIDR block.", "2001:db8:1::/48")
    SourcePortRange: str | None = _str_field("start/end, as PortRange.", "1024/65535", pattern=r"^-?\d+/-?\d+$")
    DestGroupOwnerAccount: str | None = _str_field("Account owning DestGroupId (cross-account).",
                                                   "EcsforCloud@Alibaba.com")
    DestGroupOwnerId: int | str | None = _str_field("Id of the account owning DestGroupId.", 1234567890)
    NicType: str | None = _str_field("internet or intranet; cannot be changed in by-ID mode.", "intranet",
                                     pattern=r"^(?i:internet|intranet)$")
    Description: str | None = _str_field("1 to 512 characters.", "egress to the payments API",
                                         min_length=1, max_length=512)
    ClientToken: str | None = _str_field("Idempotency token for ECS (ASCII, at most 64). Default: derived "
                                         "from the event's source and id.", "123e4567-e89b-12d3",
                                         max_length=64)

    @model_validator(mode="wrap")
    @classmethod
    def _normalise(cls, value: Any, handler: Any, info: ValidationInfo) -> Any:
        # One pass over the raw dict: normalise each present field with its API code, then the
        # combination rules. Doing it here (not per field) keeps unknown-key and null handling in one place.
        # The combination rules run only on fields that are each valid (a bad DestCidrIp is not also "no
        # destination").
        if not isinstance(value, dict):
            return handler(value)
        problems = _Problems(info)
        for key in value:
            if key not in REQUEST_FIELDS:
                problems.add(_unknown_field(key))
        for required in _REQUIRED_FIELDS:
            if value.get(required) is None:
                problems.add(fail("MissingParameter", required, f"{required} is required."))
        clean = {}
        for key, v in value.items():
            if key in REQUEST_FIELDS and not (v is None and key in _REQUIRED_FIELDS):
                try:
                    clean[key] = normalise(key, v)
                except PydanticCustomError as exc:
                    problems.add(exc)
        problems.raise_collected(cls.__name__)
        try:
            complete = cls._complete(clean)
        except PydanticCustomError as exc:
            problems.add(exc)
            complete = True
        for error in combination_errors(clean, complete=complete):
            problems.add(error)
        problems.raise_collected(cls.__name__)
        return handler(without_ignored(clean))

    @classmethod
    def _complete(cls, fields: dict[str, Any]) -> bool:
        return True

    def present(self) -> dict[str, Any]:
        """The fields that were given, by API name (normalised)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def rule_fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and k in RULE_FIELDS}


class RuleChange(_Fields):
    """``data`` of a rule-change event. By ID: any subset of rule fields. By match: the identifying
    fields plus Description, the only field that mode changes."""

    @classmethod
    def _complete(cls, fields: dict[str, Any]) -> bool:
        token = fields.get("ClientToken")
        if isinstance(token, str) and token.lower().startswith(DERIVED_TOKEN_PREFIX):
            # Derived tokens are sgrule's alone: no event may name one (another change's, another sender's).
            raise fail("InvalidParam.InvalidModifyRuleRequest", "ClientToken",
                       f"ClientToken must not start with {DERIVED_TOKEN_PREFIX!r}: that prefix is reserved for "
                       "the tokens sgrule derives from a change's source and id. Omit ClientToken, or use your "
                       "own (a random UUID).")
        if "SecurityGroupRuleId" in fields:
            return False
        if "Description" not in fields:
            raise fail("InvalidParam.InvalidModifyRuleRequest", "Description",
                       "Without SecurityGroupRuleId only Description can change: give Description, or the "
                       "rule's SecurityGroupRuleId to change other fields.")
        return True

    @property
    def mode(self) -> Literal["by_id", "by_match"]:
        return "by_id" if self.SecurityGroupRuleId else "by_match"


class ModifyEgressRuleRequest(_Fields):
    """The fully formed ModifySecurityGroupEgressRule request (by-ID fields filled from the live rule)."""

    IpProtocol: str
    PortRange: str

    def to_params(self) -> dict[str, str]:
        """Request parameters as the API takes them (strings)."""
        return {k: str(v) for k, v in self.present().items()}


class RuleChangeEvent(BaseModel):
    """A CloudEvents 1.0 structured JSON event asking for one egress-rule change."""

    model_config = ConfigDict(extra="allow", frozen=True, hide_input_in_errors=True,
                              json_schema_extra={"additionalProperties": {"description": "CloudEvents "
                                                 "extension attribute (lower-case letters and digits)."}})

    specversion: Literal["1.0"] = Field(description="CloudEvents version.")
    id: str = Field(min_length=1, max_length=256,
                    description="Unique per change; with source, the idempotency key.")
    source: str = Field(min_length=1, max_length=256, description="The producer, e.g. ticketing/JIRA.")
    type: Literal["sgrule.egress.modify"] = Field(description="Always sgrule.egress.modify.")
    time: datetime = Field(description="RFC 3339, when the change was requested; orders changes to one rule.")
    subject: str | None = Field(default=None, max_length=512)
    datacontenttype: Literal["application/json"] | None = None
    correlationid: str | None = Field(default=None, max_length=256,
                                      description="Carried over to the outcome event.")
    data: RuleChange

    @model_validator(mode="wrap")
    @classmethod
    def _envelope(cls, value: Any, handler: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, dict):
            raise fail("InvalidEvent.Malformed", None, "A rule-change event must be a JSON object.")
        problems = _Problems(info)
        hinted = set()
        for name in value:
            if name not in _ENVELOPE and not (isinstance(name, str) and _EXTENSION.match(name)):
                hint = difflib.get_close_matches(str(name).lower(), _ENVELOPE, n=1, cutoff=0.6)
                hinted.update(hint)
                problems.add(fail("InvalidEvent.UnknownField", str(name), f"Unknown attribute {name!r}"
                                  + (f"; did you mean {hint[0]!r}?" if hint else ".")
                                  + " CloudEvents attribute names are lower-case letters and digits."))
        extensions = [k for k in value if isinstance(k, str) and k not in _ENVELOPE]
        for name in _REQUIRED_ATTRIBUTES:
            if value.get(name) is None and name not in hinted:
                # A misspelt attribute in lower case is a valid extension name: say which one it may be.
                hint = difflib.get_close_matches(name, extensions, n=1, cutoff=0.6)
                problems.add(fail("InvalidEvent.MissingAttribute", name,
                                  f"The CloudEvents attribute {name!r} is required"
                                  + (f"; is {hint[0]!r} a misspelling of it?" if hint else ".")))
        if not problems.lines:
            return handler(value)
        # Collecting: the attributes' own checks too, except for the attributes already reported.
        reported = {line["loc"][0] for line in problems.lines if line["loc"]} | hinted
        try:
            handler(value)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                if not (err["loc"] and err["loc"][0] in reported):
                    problems.add(_custom(err), tuple(err["loc"]))
        raise ValidationError.from_exception_data(cls.__name__, problems.lines[:MAX_ERRORS])

    @field_validator("id", "source", "subject", "correlationid", mode="before")
    @classmethod
    def _cloudevents_string(cls, v: Any, info: Any) -> Any:
        # CloudEvents Strings exclude control characters and lone surrogates (no encoder can send those).
        if isinstance(v, str) and not is_clean(v):
            raise fail("InvalidEvent.InvalidAttribute", info.field_name,
                       f"{info.field_name} contains a control character or an unpaired surrogate.")
        return v

    @field_validator("time", mode="before")
    @classmethod
    def _rfc3339(cls, v: Any) -> datetime:
        # RFC 3339: full date, time with seconds, and an offset; pydantic alone would take "2026-01-01",
        # epochs or week dates.
        if not isinstance(v, str) or not _RFC3339.match(v):
            raise fail("InvalidEvent.InvalidAttribute", "time",
                       "time must be RFC 3339 with an offset, e.g. 2026-11-27T10:00:00Z.")
        try:
            parsed = datetime.fromisoformat(v.upper().replace("Z", "+00:00"))
            parsed.astimezone(timezone.utc)  # years 1 and 9999 overflow with their offset: refuse them here
        except (ValueError, OverflowError):
            raise fail("InvalidEvent.InvalidAttribute", "time", f"time {v!r} is not a valid RFC 3339 time.") from None
        return parsed

    @property
    def time_us(self) -> int:
        """Request time in epoch microseconds (UTC), the unit the ordering watermarks use."""
        delta = self.time.astimezone(timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
        return delta // _MICROSECOND

    @property
    def key(self) -> str:
        """The idempotency key: producer and its id."""
        return f"{self.source}\x1f{self.id}"


_MICROSECOND = datetime.resolution

# pydantic's own error types, for the few failures that do not come from our normalisers.
_ENVELOPE_CODES = {"missing": "InvalidEvent.MissingAttribute", "extra_forbidden": "InvalidEvent.UnknownField"}


def _custom(err: Any) -> PydanticCustomError:
    """A pydantic error (from ``errors()``) as a custom error of the same type, to be raised again."""
    return PydanticCustomError(err["type"], err["msg"].replace("{", "(").replace("}", ")"), err.get("ctx"))


def to_error(exc: ValidationError) -> SgruleError:
    """Map the first pydantic error to the structured error (API code, message, dotted field)."""
    return _to_error(exc.errors(include_url=False)[0])


def to_errors(exc: ValidationError) -> list[SgruleError]:
    """Map every pydantic error to a structured error, in order."""
    return [_to_error(err) for err in exc.errors(include_url=False)]


def _to_error(err: Any) -> SgruleError:
    loc = [str(p) for p in err["loc"]]
    field = (err.get("ctx") or {}).get("field")
    etype = err["type"]
    # Errors raised by our normalisers carry the API code as their type and the field in their context.
    if field is not None or etype in CODES:
        path = ".".join(loc + [field] if field and (not loc or loc[-1] != field) else loc) or field
        return SgruleError(etype, err["msg"], field=path)
    path = ".".join(loc) or None
    if loc and loc[0] == "data" and len(loc) > 1 and loc[1] in ADDRESSING + RULE_FIELDS:
        return SgruleError("InvalidParam.InvalidModifyRuleRequest", f"{loc[1]}: {err['msg']}", field=path)
    code = _ENVELOPE_CODES.get(etype, "InvalidEvent.InvalidAttribute")
    return SgruleError(code, f"{path}: {err['msg']}" if path else err["msg"], field=path)


def parse_event(raw: Any) -> RuleChangeEvent:
    """Validate one decoded JSON value as a rule-change event; raise SgruleError on any violation."""
    try:
        return RuleChangeEvent.model_validate(raw)
    except ValidationError as exc:
        raise to_error(exc) from None


def event_errors(raw: Any) -> list[SgruleError]:
    """Every error of one decoded JSON value as a rule-change event (at most :data:`MAX_ERRORS`), each with
    its own code; empty when it is valid. The first is the one :func:`parse_event` raises."""
    try:
        RuleChangeEvent.model_validate(raw, context=ALL_ERRORS)
    except ValidationError as exc:
        return to_errors(exc)[:MAX_ERRORS]
    return []


def check_request(fields: dict[str, Any]) -> dict[str, str]:
    """The combination checks of a fully formed request whose fields are already normalised (a validated
    change merged into the live rule); returns the API parameters. Cheaper than :func:`build_request`,
    which normalises every field again."""
    try:
        checked = check_combination(dict(fields), complete=True)
    except PydanticCustomError as exc:
        field = (exc.context or {}).get("field")
        raise SgruleError(exc.type, exc.message(), field=f"data.{field}" if field else None) from None
    return {k: str(v) for k, v in checked.items()}


def build_request(fields: dict[str, Any]) -> ModifyEgressRuleRequest:
    """Validate a fully formed request (live rule merged with the change); raise SgruleError."""
    try:
        return ModifyEgressRuleRequest.model_validate(fields)
    except ValidationError as exc:
        raise to_error(exc) from None


__all__ = ["EVENT_TYPE", "ModifyEgressRuleRequest", "RuleChange", "RuleChangeEvent", "build_request",
           "canonical", "check_request", "event_errors", "parse_event", "to_error", "to_errors"]

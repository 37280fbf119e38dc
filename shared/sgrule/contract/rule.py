"""The egress rule in the API's own vocabulary: field names, value normalisation, stateless checks.

Everything here is pure functions over plain dicts keyed by the API's parameter names, so the pydantic
models (``sgrule.event``), the stateful checks against a live rule (``sgrule.apply``) and the no-op
comparison all share one notion of "equal" (``tcp`` == ``TCP``, ``10.0.0.1`` == ``10.0.0.1/32``).
Each failure raises :class:`pydantic_core.PydanticCustomError` whose *type* is the API's error code and
whose context names the field; ``sgrule.event.parse_event`` turns it into :class:`sgrule.errors.SgruleError`.
"""
from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any, Iterator

from pydantic_core import PydanticCustomError

from .errors import CODES
from .safe import text

# The rule fields of ModifySecurityGroupEgressRule (everything but the addressing and ClientToken).
RULE_FIELDS: tuple[str, ...] = (
    "Policy", "Priority", "IpProtocol", "PortRange", "DestCidrIp", "Ipv6DestCidrIp", "DestGroupId",
    "DestPrefixListId", "SourceCidrIp", "Ipv6SourceCidrIp", "SourcePortRange", "DestGroupOwnerAccount",
    "DestGroupOwnerId", "NicType", "Description",
)
ADDRESSING: tuple[str, ...] = ("RegionId", "SecurityGroupId", "SecurityGroupRuleId")
REQUEST_FIELDS: tuple[str, ...] = ADDRESSING + RULE_FIELDS + ("ClientToken",)
# Every ClientToken sgrule derives starts so (outcome.client_token); no event may name one.
DERIVED_TOKEN_PREFIX = "sgrule-"
DESTINATIONS: tuple[str, ...] = ("DestCidrIp", "Ipv6DestCidrIp", "DestGroupId", "DestPrefixListId")

# Canonical spelling of each protocol (the API is case-insensitive). ICMPv6 is the IPv6-only protocol.
PROTOCOLS = {"TCP": "TCP", "UDP": "UDP", "ICMP": "ICMP", "GRE": "GRE", "ALL": "ALL", "ICMPV6": "ICMPv6"}
PORTED_PROTOCOLS = frozenset({"TCP", "UDP"})
ANY_PORT = "-1/-1"
_RANGE = re.compile(r"^(-?[0-9]{1,6})/(-?[0-9]{1,6})$")  # ASCII digits only (\d takes any script's)
_DIGITS = re.compile(r"^[0-9]{1,20}$")  # ASCII, and short enough for int() on any input
_INTEGER = re.compile(r"^-?[0-9]{1,20}$")  # an integer as the wire spells one (no "+", spaces or "1_0")
_SURROGATE = re.compile("[\ud800-\udfff]")
_REGION = re.compile(r"^[a-z]{2,}(?:-[a-z0-9]+){1,4}$")
_ID = {
    "SecurityGroupId": (re.compile(r"^sg-[a-z0-9]{1,64}$"), "InvalidSecurityGroupId.NotFound"),
    "DestGroupId": (re.compile(r"^sg-[a-z0-9]{1,64}$"), "InvalidDestGroupId.NotFound"),
    "SecurityGroupRuleId": (re.compile(r"^sgr-[a-z0-9]{1,64}$"), "SecurityGroupRule.NotFound"),
    "DestPrefixListId": (re.compile(r"^pl-[a-z0-9]{1,64}$"), "InvalidPrefixListId.NotFound"),
}


def fail(code: str, field: str | None, message: str | None = None) -> PydanticCustomError:
    """An error whose pydantic type is the API code; ``sgrule.event`` maps it to SgruleError."""
    msg = text(message or CODES[code][1], 1024)
    # pydantic renders messages and context in Rust: an unencodable field name (a sender's unknown key with
    # a lone surrogate) would break the error itself, so both are made safe first.
    return PydanticCustomError(code, msg.replace("{", "(").replace("}", ")"),
                               {"field": text(field, 256) if field is not None else None})


# ---------------------------------------------------------------- per-field normalisers


def norm_region(v: Any) -> str:
    # The doc names no code for a bad RegionId; what the API answers is that no such security group exists
    # there (the group is looked up in that region).
    if not isinstance(v, str) or not _REGION.match(v):
        raise fail("InvalidSecurityGroupId.NotFound", "RegionId",
                   f"RegionId {v!r} is not a region id such as cn-hangzhou: no security group exists there.")
    return v


def norm_id(field: str, v: Any) -> str:
    pattern, code = _ID[field]
    if not isinstance(v, str) or not pattern.match(v):
        raise fail(code, field, f"{field} {v!r} is not a valid id ({pattern.pattern[1:4]}...).")
    return v


def norm_protocol(v: Any) -> str:
    proto = PROTOCOLS.get(v.upper()) if isinstance(v, str) else None
    if proto is None:
        raise fail("InvalidIpProtocol.ValueNotSupported", "IpProtocol")
    return proto


def norm_port_range(v: Any, field: str = "PortRange") -> str:
    code = "InvalidParam.PortRange" if field == "PortRange" else "InvalidSourcePortRange.Malformed"
    m = _RANGE.match(v) if isinstance(v, str) else None
    if m is None:
        raise fail(code, field, f"{field} must be 'start/end', e.g. 80/80 or -1/-1.")
    start, end = int(m.group(1)), int(m.group(2))
    if (start, end) == (-1, -1):
        return ANY_PORT
    if not (1 <= start <= end <= 65535):
        raise fail(code, field, f"{field} {v!r}: ports are 1-65535 and start <= end (or -1/-1).")
    return f"{start}/{end}"


def norm_policy(v: Any) -> str:
    if not isinstance(v, str) or v.lower() not in ("accept", "drop"):
        raise fail("InvalidPolicy.Malformed", "Policy", "Policy must be accept or drop.")
    return v.lower()


def norm_priority(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, str)) or (isinstance(v, str) and not _INTEGER.match(v)):
        raise fail("InvalidPriority.Malformed", "Priority", "Priority must be an integer from 1 to 100.")
    p = int(v)
    if not 1 <= p <= 100:
        raise fail("InvalidPriority.ValueNotSupported", "Priority", "Priority must be from 1 to 100.")
    return p


def norm_cidr(field: str, v: Any) -> str:
    """IPv4 fields take an address or CIDR block, IPv6 fields the same in IPv6; canonical text out."""
    if isinstance(v, str):  # a group's rules repeat the same few blocks: parse each once
        return _norm_cidr_text(field, v)
    return _norm_cidr(field, v)


@functools.lru_cache(maxsize=4096)
def _norm_cidr_text(field: str, v: str) -> str:
    return _norm_cidr(field, v)


def _norm_cidr(field: str, v: Any) -> str:
    v6 = field.startswith("Ipv6")
    code = f"InvalidParam.{field}"
    try:
        if not isinstance(v, str) or not v or v != v.strip() or "%" in v:  # no IPv6 zone ids (fe80::1%eth0)
            raise ValueError
        if "/" in v and not re.fullmatch(r"[0-9]{1,3}", v.rsplit("/", 1)[1]):
            raise ValueError  # a netmask (10.0.0.0/255.0.0.0) is neither an address nor a CIDR block
        net = ipaddress.ip_network(v, strict=False)
    except ValueError:
        raise fail(code, field, f"{field} {v!r} is not a valid IPv{6 if v6 else 4} address or CIDR block.") from None
    if net.version != (6 if v6 else 4):
        raise fail(code, field, f"{field} takes IPv{6 if v6 else 4}; {v!r} is IPv{net.version}.")
    return net.with_prefixlen


def norm_nic_type(v: Any) -> str:
    if not isinstance(v, str) or v.lower() not in ("internet", "intranet"):
        raise fail("InvalidNicType.ValueNotSupported", "NicType", "NicType must be internet or intranet.")
    return v.lower()


def norm_description(v: Any) -> str:
    if not isinstance(v, str) or not 1 <= len(v) <= 512:
        raise fail("InvalidSecurityGroupDiscription.Malformed", "Description",
                   "Description must be a string of 1 to 512 characters.")
    if _SURROGATE.search(v):  # valid JSON text, but no UTF-8 encoder (the SDK's included) can send it
        raise fail("InvalidSecurityGroupDiscription.Malformed", "Description",
                   "Description contains an unpaired surrogate: it is not valid Unicode text.")
    return v


def norm_owner_account(v: Any) -> str:
    if not isinstance(v, str) or not v or len(v) > 128:
        raise fail("InvalidParam.InvalidModifyRuleRequest", "DestGroupOwnerAccount",
                   "DestGroupOwnerAccount must be a non-empty account name.")
    return v


def norm_owner_id(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, str)) or not _DIGITS.match(str(v)) or int(v) <= 0:
        raise fail("InvalidParam.InvalidModifyRuleRequest", "DestGroupOwnerId",
                   "DestGroupOwnerId must be a positive account id (a long).")
    return int(v)


def norm_client_token(v: Any) -> str:
    if not isinstance(v, str) or not 1 <= len(v) <= 64 or not v.isascii() or not v.isprintable():
        raise fail("InvalidParam.InvalidModifyRuleRequest", "ClientToken",
                   "ClientToken must be 1 to 64 ASCII characters.")
    return v


NORMALISERS = {
    "RegionId": norm_region,
    "SecurityGroupId": lambda v: norm_id("SecurityGroupId", v),
    "SecurityGroupRuleId": lambda v: norm_id("SecurityGroupRuleId", v),
    "DestGroupId": lambda v: norm_id("DestGroupId", v),
    "DestPrefixListId": lambda v: norm_id("DestPrefixListId", v),
    "IpProtocol": norm_protocol,
    "PortRange": norm_port_range,
    "SourcePortRange": lambda v: norm_port_range(v, "SourcePortRange"),
    "Policy": norm_policy,
    "Priority": norm_priority,
    "DestCidrIp": lambda v: norm_cidr("DestCidrIp", v),
    "SourceCidrIp": lambda v: norm_cidr("SourceCidrIp", v),
    "Ipv6DestCidrIp": lambda v: norm_cidr("Ipv6DestCidrIp", v),
    "Ipv6SourceCidrIp": lambda v: norm_cidr("Ipv6SourceCidrIp", v),
    "NicType": norm_nic_type,
    "Description": norm_description,
    "DestGroupOwnerAccount": norm_owner_account,
    "DestGroupOwnerId": norm_owner_id,
    "ClientToken": norm_client_token,
}


def normalise(field: str, value: Any) -> Any:
    """Canonical form of one field's value; raises the field's API error code when invalid."""
    if value is None:
        raise fail("InvalidParam.InvalidModifyRuleRequest", field,
                   f"{field} is null: omit a field to keep its current value; a set value cannot be cleared.")
    return NORMALISERS[field](value)


# ---------------------------------------------------------------- cross-field checks


def check_combination(r: dict[str, Any], *, complete: bool) -> dict[str, Any]:
    """Check the documented rules between fields of an already normalised dict; return it normalised.

    ``complete`` is True for the fully formed request (every field known): the checks that need the whole
    rule (a destination exists, NicType with DestGroupId, owner fields) run only then, because a by-ID
    change that omits a field keeps the live value, which is not known yet. Raises the first broken rule
    (:func:`combination_errors` lists them all).
    """
    for error in combination_errors(r, complete=complete):
        raise error
    return without_ignored(r)


def without_ignored(r: dict[str, Any]) -> dict[str, Any]:
    """The API ignores a prefix list when another destination is given: drop it so nothing compares on it."""
    if "DestPrefixListId" in r and any(d in r for d in DESTINATIONS[:3]):
        return {k: v for k, v in r.items() if k != "DestPrefixListId"}
    return r


def combination_errors(r: dict[str, Any], *, complete: bool) -> Iterator[PydanticCustomError]:
    """Every documented rule between the fields of ``r`` (normalised) that it breaks, in check order."""
    proto = r.get("IpProtocol")
    # One address family per side, and the same family on both sides.
    if "DestCidrIp" in r and "Ipv6DestCidrIp" in r:
        yield fail("InvalidParam.DestIp", "Ipv6DestCidrIp")
    if "SourceCidrIp" in r and "Ipv6SourceCidrIp" in r:
        yield fail("InvalidParam.SourceIp", "Ipv6SourceCidrIp")
    if ("DestCidrIp" in r and "Ipv6SourceCidrIp" in r) or ("Ipv6DestCidrIp" in r and "SourceCidrIp" in r):
        yield fail("InvalidParameter.Conflict", "Ipv6SourceCidrIp" if "DestCidrIp" in r else "SourceCidrIp")
    if proto == "ICMP" and ("Ipv6DestCidrIp" in r or "Ipv6SourceCidrIp" in r):
        yield fail("InvalidParam.Ipv4ProtocolConflictWithIpv6Address", "IpProtocol")
    if proto == "ICMPv6" and ("DestCidrIp" in r or "SourceCidrIp" in r):
        yield fail("InvalidParam.Ipv6ProtocolConflictWithIpv4Address", "IpProtocol")
    # Ports only for TCP/UDP; -1/-1 for everything else.
    if proto is not None:
        for field in ("PortRange", "SourcePortRange"):
            if field in r and (r[field] == ANY_PORT) == (proto in PORTED_PROTOCOLS):
                want = "1-65535 as start/end" if proto in PORTED_PROTOCOLS else "-1/-1"
                yield fail("InvalidParam.ProtocolAndPortRangeMismatch", field,
                           f"{field} {r[field]} does not fit {proto}: use {want}.")
    # The doc: "If both DestGroupId and DestCidrIp are specified, DestCidrIp takes precedence" (its IPv6 twin
    # likewise): the group, and the owner fields that qualify it, are ignored -- dropped so nothing checks them.
    if "DestGroupId" in r and ("DestCidrIp" in r or "Ipv6DestCidrIp" in r):
        r = {k: v for k, v in r.items() if k not in ("DestGroupId", "DestGroupOwnerAccount", "DestGroupOwnerId")}
    if r.get("DestGroupId") is not None and r.get("DestGroupId") == r.get("SecurityGroupId"):
        yield fail("InvalidSecurityGroup.IsSame", "DestGroupId")
    if "SourceCidrIp" in r and r.get("SourceCidrIp") == r.get("DestCidrIp"):
        yield fail("InvalidParamter.Conflict", "SourceCidrIp")
    if complete:
        if not any(d in r for d in DESTINATIONS):
            yield fail("MissingParameter.Dest", "DestCidrIp")
        yield from complete_errors(r)


def check_complete(r: dict[str, Any]) -> None:
    """The checks that need every field of the rule (by-match events and fully formed requests)."""
    for error in complete_errors(r):
        raise error


def complete_errors(r: dict[str, Any]) -> Iterator[PydanticCustomError]:
    if "IpProtocol" not in r:
        yield fail("InvalidIpProtocol.ValueNotSupported", "IpProtocol", "IpProtocol is required.")
    if "PortRange" not in r:
        yield fail("InvalidParam.PortRange", "PortRange", "PortRange is required.")
    if "DestGroupId" in r and "DestCidrIp" not in r and r.get("NicType", "intranet") != "intranet":
        yield fail("InvalidDestGroupId.Mismatch", "NicType")
    for owner in ("DestGroupOwnerAccount", "DestGroupOwnerId"):
        if owner in r and "DestGroupId" not in r:
            yield fail("InvalidParam.InvalidModifyRuleRequest", owner,
                       f"{owner} is only valid together with DestGroupId.")


def canonical(field: str, value: Any) -> Any:
    """The comparable form of a value as the API (or a Describe response) spells it; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and field != "Description":  # a group's rules repeat the same few values
        return _canonical_text(field, value)
    return _canonical(field, value)


def _canonical(field: str, value: Any) -> Any:
    try:
        return NORMALISERS[field](value)
    except PydanticCustomError:
        return value


@functools.lru_cache(maxsize=8192)
def _canonical_text(field: str, value: str) -> Any:
    return _canonical(field, value)

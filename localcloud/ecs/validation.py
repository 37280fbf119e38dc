"""Stateless checks of one egress rule's parameters, as the ModifySecurityGroupEgressRule doc states them.

Two steps, because modify-by-id merges the request into the stored rule before the combination checks:
``parse_fields`` checks the format of each field that is present and canonicalises it; ``check_combination``
checks a complete rule (protocol vs ports, address families, destination rules). Stateful checks (groups,
prefix lists, duplicates) live in models.py.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any

from localcloud.ecs.exceptions import fail

PROTOCOLS = {"TCP": "TCP", "UDP": "UDP", "ICMP": "ICMP", "GRE": "GRE", "ALL": "ALL", "ICMPV6": "ICMPV6"}
PORTED = {"TCP", "UDP"}
# ASCII digits only: ``\d`` and ``int()`` also take other scripts' digits ("١/٢"), which no port is.
_PORT_RE = re.compile(r"^(-?[0-9]{1,6})/(-?[0-9]{1,6})$")
_INT_RE = re.compile(r"^-?[0-9]{1,20}$")  # an integer as the wire spells one: no sign +, spaces or "1_0"
# Sent empty, these are not a deletion but a missing required value, with the parameter's own code (the doc:
# IpProtocol "should not be null"; PortRange and IpProtocol are required; Description is 1 to 512 characters).
_EMPTY_IS_INVALID = {"IpProtocol": "protocol_invalid", "PortRange": "port_range_invalid",
                     "Description": "description_invalid"}

# Request parameter name -> RuleSpec attribute.
PARAM_TO_ATTR: dict[str, str] = {
    "IpProtocol": "protocol",
    "PortRange": "port_range",
    "SourcePortRange": "source_port_range",
    "DestCidrIp": "dest_cidr",
    "Ipv6DestCidrIp": "dest_cidr6",
    "DestGroupId": "dest_group_id",
    "DestGroupOwnerAccount": "dest_group_owner_account",
    "DestGroupOwnerId": "dest_group_owner_id",
    "DestPrefixListId": "dest_prefix_list_id",
    "SourceCidrIp": "source_cidr",
    "Ipv6SourceCidrIp": "source_cidr6",
    "Policy": "policy",
    "Priority": "priority",
    "NicType": "nic_type",
    "Description": "description",
}
ATTR_TO_PARAM = {v: k for k, v in PARAM_TO_ATTR.items()}
DEST_ATTRS = ("dest_cidr", "dest_cidr6", "dest_group_id", "dest_prefix_list_id")


@dataclass
class RuleSpec:
    """One egress rule, canonical: protocol upper-case, ports "a/b", policy lower-case, "" = unset."""

    protocol: str = ""
    port_range: str = ""
    source_port_range: str = ""
    dest_cidr: str = ""
    dest_cidr6: str = ""
    dest_group_id: str = ""
    dest_group_owner_account: str = ""
    dest_group_owner_id: str = ""
    dest_prefix_list_id: str = ""
    source_cidr: str = ""
    source_cidr6: str = ""
    policy: str = "accept"
    priority: int = 1
    nic_type: str = ""
    description: str = ""

    def dest_entity(self) -> str:
        if self.dest_cidr or self.dest_cidr6:
            return "cidr"
        if self.dest_group_id:
            return "group"
        if self.dest_prefix_list_id:
            return "prefix_list"
        return ""

    def with_dest_precedence(self) -> RuleSpec:
        """Drop the destination fields the doc says are ignored (CIDR > group > prefix list)."""
        entity = self.dest_entity()
        if entity == "cidr":
            return replace(self, dest_group_id="", dest_group_owner_account="", dest_group_owner_id="",
                           dest_prefix_list_id="")
        if entity == "group":
            return replace(self, dest_prefix_list_id="")
        return replace(self, dest_group_owner_account="", dest_group_owner_id="")

    def identity(self) -> tuple[Any, ...]:
        """Everything but Description: two rules with the same identity are the same rule."""
        any_source_port = self.source_port_range == "-1/-1"  # -1/-1 and unset mean the same
        return (self.protocol, self.port_range, "" if any_source_port else self.source_port_range,
                cidr_key(self.dest_cidr), cidr_key(self.dest_cidr6), self.dest_group_id, self.dest_group_owner_id or "",
                self.dest_prefix_list_id, cidr_key(self.source_cidr), cidr_key(self.source_cidr6),
                self.policy, self.priority, self.nic_type)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Parsed:
    """Result of parse_fields: canonical values of the present, non-empty fields, and the names sent empty."""

    values: dict[str, Any] = field(default_factory=dict)
    emptied: set[str] = field(default_factory=set)


def cidr_key(value: str) -> str:
    """Comparison form: 10.0.0.1 == 10.0.0.1/32, 10.0.0.5/24 == 10.0.0.0/24, IPv6 compressed."""
    if not value:
        return ""
    return ipaddress.ip_network(value, strict=False).with_prefixlen


def _network(value: str, version: int) -> bool:
    if "/" in value and not re.fullmatch(r"[0-9]{1,3}", value.rsplit("/", 1)[1]):
        return False  # "1.2.3.4/255.0.0.0" (netmask form) is not a CIDR block
    if "%" in value:
        return False  # "fe80::1%eth0": a zone id names an interface, not part of an address or CIDR block
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return net.version == version


def _ports(value: str, error: str) -> str:
    m = _PORT_RE.match(value)
    if not m:
        fail(error)
    a, b = int(m.group(1)), int(m.group(2))
    if (a, b) == (-1, -1):
        return "-1/-1"
    if not (1 <= a <= b <= 65535):
        fail(error)
    return f"{a}/{b}"


def parse_fields(params: dict[str, str], security_group_id: str = "") -> Parsed:
    """Format checks for each rule field present in ``params`` (in the doc's order of concern), then the
    checks the request alone can fail (:func:`check_request`). Values are taken as sent: the doc lists
    exact values, so " tcp" or "80/80 " is not one of them."""
    out = Parsed()
    for name in PARAM_TO_ATTR:
        if name in params and params[name] == "":
            if name in _EMPTY_IS_INVALID:
                fail(_EMPTY_IS_INVALID[name])
            out.emptied.add(PARAM_TO_ATTR[name])
    v = {k: params[k] for k in PARAM_TO_ATTR if params.get(k, "") != ""}
    vals = out.values
    if "IpProtocol" in v:
        proto = PROTOCOLS.get(v["IpProtocol"].upper())
        if proto is None:
            fail("protocol_invalid")
        vals["protocol"] = proto
    if "PortRange" in v:
        vals["port_range"] = _ports(v["PortRange"], "port_range_invalid")
    if "SourcePortRange" in v:
        # Kept as sent here: TCP/UDP with -1/-1 is a mismatch; canonical() turns -1/-1 into "unset" afterwards.
        vals["source_port_range"] = _ports(v["SourcePortRange"], "source_port_range_invalid")
    if "Policy" in v:
        pol = v["Policy"].lower()
        if pol not in ("accept", "drop"):
            fail("policy_invalid")
        vals["policy"] = pol
    if "Priority" in v:
        if not _INT_RE.match(v["Priority"]):
            fail("priority_malformed")
        prio = int(v["Priority"])
        if not 1 <= prio <= 100:
            fail("priority_range")
        vals["priority"] = prio
    if "NicType" in v:
        nic = v["NicType"].lower()
        if nic not in ("internet", "intranet"):
            fail("nic_type_invalid")
        vals["nic_type"] = nic
    if "Description" in v:
        desc = v["Description"]  # spaces are characters
        if not 1 <= len(desc) <= 512:
            fail("description_invalid")
        vals["description"] = desc
    for name, version, error in (("DestCidrIp", 4, "dest_cidr_invalid"), ("Ipv6DestCidrIp", 6, "ipv6_dest_invalid"),
                                 ("SourceCidrIp", 4, "source_cidr_invalid"),
                                 ("Ipv6SourceCidrIp", 6, "ipv6_source_invalid")):
        if name in v:
            if not _network(v[name], version):
                fail(error)
            vals[PARAM_TO_ATTR[name]] = v[name]
    if "DestGroupOwnerId" in v and not re.fullmatch(r"[0-9]{1,19}", v["DestGroupOwnerId"]):
        fail("owner_id_invalid")
    for name in ("DestGroupId", "DestGroupOwnerAccount", "DestGroupOwnerId", "DestPrefixListId"):
        if name in v:
            vals[PARAM_TO_ATTR[name]] = v[name]
    check_request(vals, security_group_id)
    return out


def check_request(vals: dict[str, Any], security_group_id: str) -> None:
    """What the request's own fields contradict, whatever the rule it modifies holds: checked before any
    lookup, in the same order as :func:`check_combination` checks a whole rule."""
    _check_pairs(vals.get("protocol", ""), vals.get("port_range", ""), vals.get("source_port_range", ""),
                 vals.get("dest_cidr", ""), vals.get("dest_cidr6", ""), vals.get("source_cidr", ""),
                 vals.get("source_cidr6", ""), where="the request")
    cidr_given = "dest_cidr" in vals or "dest_cidr6" in vals  # a CIDR takes precedence over DestGroupId
    if not cidr_given and vals.get("dest_group_id") and vals["dest_group_id"] == security_group_id:
        fail("dest_group_is_same")


def _check_pairs(protocol: str, port_range: str, source_port_range: str, dest4: str, dest6: str, source4: str,
                 source6: str, where: str) -> None:
    """The checks between two fields: one family per side, one family in all, protocol vs family, protocol
    vs ports, source vs destination. Fields that are "" are not known (yet) and take part in no check."""
    if dest4 and dest6:
        fail("dest_both_families", where=where)
    if source4 and source6:
        fail("source_both_families", where=where)
    if (dest4 or source4) and (dest6 or source6):
        fail("family_mix")
    if protocol == "ICMP" and (dest6 or source6):
        fail("icmp_with_ipv6")
    if protocol == "ICMPV6" and (dest4 or source4):
        fail("icmpv6_with_ipv4")
    if protocol:
        ported = protocol in PORTED
        for pr in (port_range, source_port_range):
            if pr and ((pr == "-1/-1") == ported):
                fail("protocol_port_mismatch")
    # The doc's conflict names the IPv4 pair only (SourceCidrIp vs DestCidrIp).
    if dest4 and source4 and cidr_key(dest4) == cidr_key(source4):
        fail("source_equals_dest")


def require_protocol_and_ports(values: dict[str, Any]) -> None:
    """Create / match mode: IpProtocol and PortRange are required (the doc's 'should not be null')."""
    if "protocol" not in values:
        fail("protocol_invalid")
    if "port_range" not in values:
        fail("port_range_invalid")


def check_combination(spec: RuleSpec, security_group_id: str, explicit_nic_type: str | None) -> None:
    """Checks of a complete rule: what no single field can tell. ``spec`` already has dest precedence applied.
    Only the NicType the caller sent counts here; a classic group's internet default is checked statefully."""
    _check_pairs(spec.protocol, spec.port_range, spec.source_port_range, spec.dest_cidr, spec.dest_cidr6,
                 spec.source_cidr, spec.source_cidr6, where="the rule")
    entity = spec.dest_entity()
    if entity == "group" and spec.dest_group_id == security_group_id:
        fail("dest_group_is_same")
    if not entity:
        fail("dest_missing")
    # "If DestGroupId is specified but DestCidrIp is not, NicType can only be intranet."
    if entity == "group" and explicit_nic_type == "internet":
        fail("dest_group_needs_intranet")


def canonical(spec: RuleSpec) -> RuleSpec:
    """The stored form of a checked rule: SourcePortRange -1/-1 ("any source port") is the unset value."""
    return replace(spec, source_port_range="") if spec.source_port_range == "-1/-1" else spec


def rule_family(spec: RuleSpec) -> int | None:
    """The IP family a rule's addresses/protocol pin it to, ignoring its prefix list (None = not pinned)."""
    if spec.dest_cidr or spec.source_cidr:
        return 4
    if spec.dest_cidr6 or spec.source_cidr6:
        return 6
    return None

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
_PORT_RE = re.compile(r"^(-?\d{1,6})/(-?\d{1,6})$")

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
        return (self.protocol, self.port_range, self.source_port_range, cidr_key(self.dest_cidr),
                cidr_key(self.dest_cidr6), self.dest_group_id, self.dest_group_owner_id or "",
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
    if "/" in value and not value.rsplit("/", 1)[1].isdigit():
        return False  # "1.2.3.4/255.0.0.0" (netmask form) is not a CIDR block
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


def parse_fields(params: dict[str, str]) -> Parsed:
    """Format checks for each rule field present in ``params`` (in the doc's order of concern)."""
    out = Parsed()
    for name in PARAM_TO_ATTR:
        if name in params and params[name] == "":
            out.emptied.add(PARAM_TO_ATTR[name])
    v = {k: params[k].strip() for k in PARAM_TO_ATTR if params.get(k, "").strip() != ""}
    vals = out.values
    if "IpProtocol" in v:
        proto = PROTOCOLS.get(v["IpProtocol"].upper())
        if proto is None:
            fail("protocol_invalid")
        vals["protocol"] = proto
    if "PortRange" in v:
        vals["port_range"] = _ports(v["PortRange"], "port_range_invalid")
    if "SourcePortRange" in v:
        # -1/-1 means "any source port", which is what an unset SourcePortRange means too.
        spr = _ports(v["SourcePortRange"], "source_port_range_invalid")
        vals["source_port_range"] = "" if spr == "-1/-1" else spr
    if "Policy" in v:
        pol = v["Policy"].lower()
        if pol not in ("accept", "drop"):
            fail("policy_invalid")
        vals["policy"] = pol
    if "Priority" in v:
        try:
            prio = int(v["Priority"])
        except ValueError:
            fail("priority_malformed")
        if not 1 <= prio <= 100:
            fail("priority_range")
        vals["priority"] = prio
    if "NicType" in v:
        nic = v["NicType"].lower()
        if nic not in ("internet", "intranet"):
            fail("nic_type_invalid")
        vals["nic_type"] = nic
    if "Description" in params and params["Description"] != "":
        desc = params["Description"]  # not stripped: spaces are characters
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
    for name in ("DestGroupId", "DestGroupOwnerAccount", "DestGroupOwnerId", "DestPrefixListId"):
        if name in v:
            vals[PARAM_TO_ATTR[name]] = v[name]
    # Both families on one side is a property of the request itself.
    if "dest_cidr" in vals and "dest_cidr6" in vals:
        fail("dest_both_families", where="the request")
    if "source_cidr" in vals and "source_cidr6" in vals:
        fail("source_both_families", where="the request")
    return out


def require_protocol_and_ports(values: dict[str, Any]) -> None:
    """Create / match mode: IpProtocol and PortRange are required (the doc's 'should not be null')."""
    if "protocol" not in values:
        fail("protocol_invalid")
    if "port_range" not in values:
        fail("port_range_invalid")


def check_combination(spec: RuleSpec, security_group_id: str, explicit_nic_type: str | None) -> None:
    """Checks of a complete rule: what no single field can tell. ``spec`` already has dest precedence applied.
    Only the NicType the caller sent counts here; a classic group's internet default is checked statefully."""
    ported = spec.protocol in PORTED
    for pr in (spec.port_range, spec.source_port_range):
        if pr and ((pr == "-1/-1") == ported):
            fail("protocol_port_mismatch")
    entity = spec.dest_entity()
    if not entity:
        fail("dest_missing")
    if spec.dest_cidr and spec.dest_cidr6:
        fail("dest_both_families", where="the rule")
    if spec.source_cidr and spec.source_cidr6:
        fail("source_both_families", where="the rule")
    has4 = bool(spec.dest_cidr or spec.source_cidr)
    has6 = bool(spec.dest_cidr6 or spec.source_cidr6)
    if has4 and has6:
        fail("family_mix")
    if spec.protocol == "ICMP" and has6:
        fail("icmp_with_ipv6")
    if spec.protocol == "ICMPV6" and has4:
        fail("icmpv6_with_ipv4")
    if (spec.dest_cidr and spec.source_cidr and cidr_key(spec.dest_cidr) == cidr_key(spec.source_cidr)) or (
            spec.dest_cidr6 and spec.source_cidr6 and cidr_key(spec.dest_cidr6) == cidr_key(spec.source_cidr6)):
        fail("source_equals_dest")
    if entity == "group":
        if spec.dest_group_id == security_group_id:
            fail("dest_group_is_same")
        # "If DestGroupId is specified but DestCidrIp is not, NicType can only be intranet."
        if explicit_nic_type == "internet":
            fail("dest_group_needs_intranet")


def rule_family(spec: RuleSpec) -> int | None:
    """The IP family a rule's addresses/protocol pin it to, ignoring its prefix list (None = not pinned)."""
    if spec.dest_cidr or spec.source_cidr:
        return 4
    if spec.dest_cidr6 or spec.source_cidr6:
        return 6
    return None

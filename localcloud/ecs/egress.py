"""Egress rule actions: Authorize, Revoke, Modify (by id / by match), and the Permission wire shape.

Order of checks everywhere: stateless format checks, stateless combination checks, then the group lookup and
the stateful checks (dest group, prefix list, duplicates, quota). Callers hold the backend lock.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from localcloud.ecs.exceptions import fail
from localcloud.ecs.models import EcsBackend, Rule, SecurityGroup, new_id, utc_now
from localcloud.ecs.validation import (
    ATTR_TO_PARAM,
    DEST_ATTRS,
    PARAM_TO_ATTR,
    Parsed,
    RuleSpec,
    canonical,
    check_combination,
    parse_fields,
    require_protocol_and_ports,
    rule_family,
)

_PERM_RE = re.compile(r"^Permissions\.(\d+)\.(\w+)$")


# --- request shapes -----------------------------------------------------------------------------------------
def rule_param_sets(params: dict[str, str]) -> list[dict[str, str]]:
    """The flat rule (if any rule field is given) followed by Permissions.1..N, each as a flat dict."""
    perms: dict[int, dict[str, str]] = {}
    for key, value in params.items():
        m = _PERM_RE.match(key)
        if m:
            perms.setdefault(int(m.group(1)), {})[m.group(2)] = value
    sets = [perms[n] for n in sorted(perms)]
    if any(k in params for k in PARAM_TO_ATTR) or not sets:
        sets.insert(0, {k: params[k] for k in PARAM_TO_ATTR if k in params})
    return sets


def nic_for_group(group: SecurityGroup, explicit: str | None) -> str:
    # A VPC group's rules are always intranet (DescribeSecurityGroupAttribute: internet/empty -> intranet).
    if group.vpc_id:
        return "intranet"
    return explicit or "internet"


def stateless_spec(raw: dict[str, str], group_id: str) -> tuple[RuleSpec, Parsed]:
    """Create / match mode: a complete rule from the request alone (defaults: accept, priority 1)."""
    parsed = parse_fields(raw, group_id)
    require_protocol_and_ports(parsed.values)
    spec = RuleSpec(**parsed.values).with_dest_precedence()
    check_combination(spec, group_id, parsed.values.get("nic_type"))
    return canonical(spec), parsed


def bind_to_group(backend: EcsBackend, account: str, region: str, group: SecurityGroup, spec: RuleSpec,
                  parsed: Parsed) -> RuleSpec:
    """Apply the group's NicType default, then the stateful destination checks."""
    spec = replace(spec, nic_type=nic_for_group(group, parsed.values.get("nic_type")))
    check_destination(backend, account, region, group, spec)
    return spec


def check_destination(backend: EcsBackend, account: str, region: str, group: SecurityGroup, spec: RuleSpec,
                      old_prefix_family: int | None = None) -> None:
    entity = spec.dest_entity()
    if entity == "group":
        if spec.nic_type == "internet":  # classic group, NicType defaulted to internet
            fail("dest_group_needs_intranet")
        owner = spec.dest_group_owner_id or account
        dest = backend.region(owner, region).groups.get(spec.dest_group_id)
        if dest is None:
            fail("dest_group_not_found")
        if bool(dest.vpc_id) != bool(group.vpc_id):
            fail("dest_group_network_type")
        if dest.vpc_id != group.vpc_id:
            fail("dest_group_other_vpc")
    elif entity == "prefix_list":
        pl = backend.prefix_list(account, region, spec.dest_prefix_list_id)
        if old_prefix_family is not None and pl.family != old_prefix_family:
            fail("prefix_list_family")
        fam = rule_family(spec)
        if fam is not None and fam != pl.family:
            fail("prefix_list_family")
        if (spec.protocol == "ICMP" and pl.family == 6) or (spec.protocol == "ICMPV6" and pl.family == 4):
            fail("protocol_family_mismatch")


# --- actions ------------------------------------------------------------------------------------------------
def authorize(backend: EcsBackend, account: str, region: str, group_id: str, params: dict[str, str]) -> None:
    staged = [stateless_spec(raw, group_id) for raw in rule_param_sets(params)]
    group = backend.group(account, region, group_id)
    specs = [bind_to_group(backend, account, region, group, s, p) for s, p in staged]
    seen = {r.spec.identity() for r in group.rules.values()}
    new: list[RuleSpec] = []
    for s in specs:
        # An identical rule (Description aside) is not added twice; real ECS answers success.
        if s.identity() not in seen:
            seen.add(s.identity())
            new.append(s)
    if len(group.rules) + len(new) > backend.rule_limit:
        fail("rule_limit")  # all or nothing: no rule of the batch is added
    for s in new:
        rid = new_id("sgr-")
        group.rules[rid] = Rule(rid, s, utc_now())


def revoke(backend: EcsBackend, account: str, region: str, group_id: str, params: dict[str, str]) -> None:
    ids = [v for k, v in sorted(params.items()) if re.fullmatch(r"SecurityGroupRuleId\.\d+", k) and v]
    has_fields = any(k in params for k in PARAM_TO_ATTR) or any(_PERM_RE.match(k) for k in params)
    staged = [stateless_spec(raw, group_id) for raw in rule_param_sets(params)] if (has_fields or not ids) else []
    group = backend.group(account, region, group_id)
    for rid in ids:
        if rid not in group.rules:
            fail("rule_not_found")
    for rid in ids:
        group.rules.pop(rid, None)
    for spec, parsed in staged:
        spec = replace(spec, nic_type=nic_for_group(group, parsed.values.get("nic_type")))
        # Revoking a rule that does not exist changes nothing and is not an error.
        for rid, rule in list(group.rules.items()):
            if rule.spec.identity() == spec.identity():
                del group.rules[rid]


def modify(backend: EcsBackend, account: str, region: str, group_id: str, params: dict[str, str]) -> None:
    rule_id = params.get("SecurityGroupRuleId", "")
    if rule_id:
        _modify_by_id(backend, account, region, group_id, rule_id, params)
    else:
        _modify_by_match(backend, account, region, group_id, params)


def _modify_by_match(backend: EcsBackend, account: str, region: str, group_id: str, params: dict[str, str]) -> None:
    """No rule id: IpProtocol, PortRange, destination, source, NicType, Policy, Priority identify the rule;
    only its Description changes."""
    spec, parsed = stateless_spec({k: params[k] for k in PARAM_TO_ATTR if k in params}, group_id)
    group = backend.group(account, region, group_id)
    spec = bind_to_group(backend, account, region, group, spec, parsed)
    for rule in group.rules.values():
        if rule.spec.identity() == spec.identity():
            if "description" in parsed.values:
                rule.spec = replace(rule.spec, description=parsed.values["description"])
            return
    fail("rule_not_found")


def _modify_by_id(backend: EcsBackend, account: str, region: str, group_id: str, rule_id: str,
                  params: dict[str, str]) -> None:
    parsed = parse_fields(params, group_id)
    vals = parsed.values
    group = backend.group(account, region, group_id)
    rule = group.rules.get(rule_id)
    if rule is None:
        fail("rule_not_found")
    cur = rule.spec
    _look_up_named(backend, account, region, vals, cur)
    if "nic_type" in vals and nic_for_group(group, vals["nic_type"]) != cur.nic_type:
        fail("modify_nic_type")
    requested_entity = RuleSpec(**{a: vals[a] for a in DEST_ATTRS if a in vals}).dest_entity()
    if requested_entity and requested_entity != cur.dest_entity():
        fail("modify_entity_type")
    for attr in sorted(parsed.emptied):
        if getattr(cur, attr) not in ("", None):
            fail("modify_clear", name=ATTR_TO_PARAM[attr])
    for new_attr, old_attr in (("dest_cidr6", "dest_cidr"), ("dest_cidr", "dest_cidr6"),
                               ("source_cidr6", "source_cidr"), ("source_cidr", "source_cidr6")):
        if new_attr in vals and getattr(cur, old_attr):
            fail("modify_family", name=ATTR_TO_PARAM[old_attr])
    merged = replace(cur, **{k: v for k, v in vals.items() if k != "nic_type"}).with_dest_precedence()
    check_combination(merged, group_id, vals.get("nic_type"))
    merged = canonical(merged)
    old_pl = backend.region(account, region).prefix_lists.get(cur.dest_prefix_list_id)
    check_destination(backend, account, region, group, merged,
                      old_prefix_family=old_pl.family if old_pl is not None else None)
    for other in group.rules.values():
        if other.rule_id != rule_id and other.spec.identity() == merged.identity():
            fail("modify_duplicate", other=other.rule_id)
    rule.spec = merged


def _look_up_named(backend: EcsBackend, account: str, region: str, vals: dict[str, Any], cur: RuleSpec) -> None:
    """The resources a by-id request names exist (404 / not found) before the checks against the rule: a
    destination that does not exist is the first thing wrong with the request. Ignored destinations (a
    CIDR wins over a group, any other destination over a prefix list) are not looked up."""
    cidr = "dest_cidr" in vals or "dest_cidr6" in vals
    if vals.get("dest_group_id") and not cidr:
        owner = vals.get("dest_group_owner_id") or cur.dest_group_owner_id or account
        if backend.region(owner, region).groups.get(vals["dest_group_id"]) is None:
            fail("dest_group_not_found")
    if vals.get("dest_prefix_list_id") and not cidr and not vals.get("dest_group_id"):
        backend.prefix_list(account, region, vals["dest_prefix_list_id"])


# --- wire shape -----------------------------------------------------------------------------------------
def permission(backend: EcsBackend, account: str, region: str, rule: Rule) -> dict[str, Any]:
    """One Permission as DescribeSecurityGroupAttribute returns it (real API: upper-case protocol, "Accept",
    Priority as a string, every field present, "" when unset)."""
    s = rule.spec
    dest_group_name = ""
    if s.dest_group_id:
        dest = backend.region(s.dest_group_owner_id or account, region).groups.get(s.dest_group_id)
        dest_group_name = dest.name if dest else ""
    pl_name = ""
    if s.dest_prefix_list_id:
        pl = backend.region(account, region).prefix_lists.get(s.dest_prefix_list_id)
        pl_name = pl.name if pl else ""
    return {
        "SecurityGroupRuleId": rule.rule_id,
        "Direction": "egress",
        "IpProtocol": s.protocol,
        "PortRange": s.port_range,
        "SourcePortRange": s.source_port_range,
        "SourceCidrIp": s.source_cidr,
        "Ipv6SourceCidrIp": s.source_cidr6,
        "SourceGroupId": "",
        "SourceGroupName": "",
        "SourceGroupOwnerAccount": "",
        "SourcePrefixListId": "",
        "SourcePrefixListName": "",
        "DestCidrIp": s.dest_cidr,
        "Ipv6DestCidrIp": s.dest_cidr6,
        "DestGroupId": s.dest_group_id,
        "DestGroupName": dest_group_name,
        "DestGroupOwnerAccount": s.dest_group_owner_account,
        "DestPrefixListId": s.dest_prefix_list_id,
        "DestPrefixListName": pl_name,
        "PortRangeListId": "",
        "PortRangeListName": "",
        "Policy": s.policy.capitalize(),
        "Priority": str(s.priority),
        "NicType": s.nic_type,
        "Description": s.description,
        "CreateTime": rule.create_time,
    }

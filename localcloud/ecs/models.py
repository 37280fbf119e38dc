"""ECS state: security groups, their egress rules, prefix lists — per account and region.

State shape (``dump_state``; ``load_state`` takes the same)::

    {"settings": {"rule_limit": 200},
     "accounts": {"<account id>": {"<region>": {
         "security_groups": {"sg-…": {"SecurityGroupId", "SecurityGroupName", "Description", "VpcId",
                                      "CreationTime", "rules": [{"SecurityGroupRuleId", "CreateTime",
                                      "IpProtocol", "PortRange", "DestCidrIp", …, "Policy", "Priority",
                                      "NicType", "Description"}, …]}},
         "prefix_lists": {"pl-…": {"PrefixListId", "PrefixListName", "AddressFamily", "MaxEntries",
                                   "Description", "CreationTime", "Entries": [{"Cidr", "Description"}]}}}}}}

Every public method of ``EcsBackend`` runs under one lock (the service holds it for the whole call), so a
read-modify-write of a rule can never interleave with another.
"""
from __future__ import annotations

import os
import secrets
import string
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any

from localcloud.ecs.exceptions import fail
from localcloud.ecs.validation import ATTR_TO_PARAM, PARAM_TO_ATTR, RuleSpec

DEFAULT_RULE_LIMIT = 200
_ALNUM = string.ascii_lowercase + string.digits


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(20))


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Rule:
    rule_id: str
    spec: RuleSpec
    create_time: str

    def to_state(self) -> dict[str, Any]:
        # API parameter names (IpProtocol, DestCidrIp, ...), canonical values (TCP, accept, Priority int).
        return {"SecurityGroupRuleId": self.rule_id, "CreateTime": self.create_time,
                **{ATTR_TO_PARAM[k]: v for k, v in self.spec.to_dict().items()}}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Rule:
        names = {f.name for f in fields(RuleSpec)}
        values = {PARAM_TO_ATTR.get(k, k): v for k, v in d.items()}
        spec = RuleSpec(**{k: v for k, v in values.items() if k in names})
        spec.protocol, spec.policy, spec.priority = spec.protocol.upper(), spec.policy.lower(), int(spec.priority)
        return cls(d["SecurityGroupRuleId"], spec, d.get("CreateTime") or utc_now())


@dataclass
class SecurityGroup:
    group_id: str
    name: str = ""
    description: str = ""
    vpc_id: str = ""
    creation_time: str = field(default_factory=utc_now)
    rules: dict[str, Rule] = field(default_factory=dict)  # insertion-ordered: Describe pages in this order
    seq: int = field(default=0, compare=False)  # creation order in its region (Region.add; not in the state)

    @property
    def default_nic_type(self) -> str:
        # VPC groups only have intranet rules; classic groups default to internet (DescribeSecurityGroupAttribute).
        return "intranet" if self.vpc_id else "internet"

    def to_state(self) -> dict[str, Any]:
        return {"SecurityGroupId": self.group_id, "SecurityGroupName": self.name, "Description": self.description,
                "VpcId": self.vpc_id, "CreationTime": self.creation_time,
                "rules": [r.to_state() for r in self.rules.values()]}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> SecurityGroup:
        g = cls(d["SecurityGroupId"], d.get("SecurityGroupName", ""), d.get("Description", ""), d.get("VpcId", ""),
                d.get("CreationTime") or utc_now())
        for rd in d.get("rules", []):
            r = Rule.from_state(rd)
            g.rules[r.rule_id] = r
        return g


@dataclass
class PrefixList:
    prefix_list_id: str
    name: str
    address_family: str  # "IPv4" | "IPv6"
    max_entries: int
    description: str = ""
    creation_time: str = field(default_factory=utc_now)
    entries: list[dict[str, str]] = field(default_factory=list)

    @property
    def family(self) -> int:
        return 6 if self.address_family == "IPv6" else 4

    def to_state(self) -> dict[str, Any]:
        return {"PrefixListId": self.prefix_list_id, "PrefixListName": self.name,
                "AddressFamily": self.address_family, "MaxEntries": self.max_entries,
                "Description": self.description, "CreationTime": self.creation_time,
                "Entries": [dict(e) for e in self.entries]}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> PrefixList:
        return cls(d["PrefixListId"], d.get("PrefixListName", ""), d.get("AddressFamily", "IPv4"),
                   int(d.get("MaxEntries", 200)), d.get("Description", ""), d.get("CreationTime") or utc_now(),
                   [dict(e) for e in d.get("Entries", [])])


@dataclass
class Region:
    groups: dict[str, SecurityGroup] = field(default_factory=dict)
    prefix_lists: dict[str, PrefixList] = field(default_factory=dict)
    created: int = 0  # groups ever added: the next one's creation number (what a page token names)

    def add(self, group: SecurityGroup) -> None:
        self.created += 1
        group.seq = self.created
        self.groups[group.group_id] = group


class EcsBackend:
    """All ECS state of the emulator. Callers hold ``lock`` around every operation."""

    def __init__(self, rule_limit: int | None = None) -> None:
        self.lock = threading.RLock()
        env_limit = os.environ.get("LOCALCLOUD_ECS_RULE_LIMIT")
        self.default_rule_limit = rule_limit or (int(env_limit) if env_limit else DEFAULT_RULE_LIMIT)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.rule_limit = self.default_rule_limit
            # Test setting: every Describe* page holds at most this many items whatever MaxResults asks
            # (None: as asked). Lets a test make a client follow NextToken with a handful of rules.
            self.page_size: int | None = None
            self.accounts: dict[str, dict[str, Region]] = {}
            # (account, action, token) -> (fingerprint of params, stored response incl. RequestId)
            self.tokens: dict[tuple[str, str, str], tuple[tuple[tuple[str, str], ...], dict[str, Any]]] = {}

    # --- lookup --------------------------------------------------------------------------------------------
    def region(self, account: str, region: str) -> Region:
        return self.accounts.setdefault(account, {}).setdefault(region, Region())

    def group(self, account: str, region: str, group_id: str) -> SecurityGroup:
        g = self.region(account, region).groups.get(group_id)
        if g is None:
            fail("group_not_found")
        return g

    def prefix_list(self, account: str, region: str, pl_id: str) -> PrefixList:
        pl = self.region(account, region).prefix_lists.get(pl_id)
        if pl is None:
            fail("prefix_list_not_found")
        return pl

    # --- persistence --------------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {
                "settings": {"rule_limit": self.rule_limit},
                "accounts": {
                    acct: {reg: {"security_groups": {gid: g.to_state() for gid, g in r.groups.items()},
                                 "prefix_lists": {pid: p.to_state() for pid, p in r.prefix_lists.items()}}
                           for reg, r in regions.items()}
                    for acct, regions in self.accounts.items()},
            }

    def load(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.reset()
            self.rule_limit = int(state.get("settings", {}).get("rule_limit", self.default_rule_limit))
            for acct, regions in state.get("accounts", {}).items():
                for reg, rd in regions.items():
                    r = self.region(acct, reg)
                    for gd in _values(rd.get("security_groups", {})):
                        r.add(SecurityGroup.from_state(gd))
                    for pd in _values(rd.get("prefix_lists", {})):
                        p = PrefixList.from_state(pd)
                        r.prefix_lists[p.prefix_list_id] = p


def _values(x: dict[str, Any] | list[Any]) -> list[Any]:
    """Accept both id-keyed dicts (what dump writes) and plain lists (handy for hand-written seeds)."""
    return list(x.values()) if isinstance(x, dict) else list(x)

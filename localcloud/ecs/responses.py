"""ECS 2014-05-26 wire layer: parameter parsing, ClientToken idempotence, action dispatch, response bodies."""
from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import re
from typing import Any, Callable

from localcloud import wirejson
from localcloud.base import CallContext
from localcloud.ecs import egress
from localcloud.ecs.exceptions import EcsError, fail
from localcloud.ecs.models import EcsBackend, PrefixList, SecurityGroup, new_id, utc_now
from localcloud.ecs.quotas import THROTTLED, Quota, Quotas, parse_quotas

# Parameters that describe the call, not the action: never part of a ClientToken comparison.
_NOISE = {"Action", "Version", "Format", "AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion",
          "SignatureNonce", "SignatureType", "Timestamp", "SecurityToken", "ClientToken", "RequestId"}
MUTATING = {"CreateSecurityGroup", "DeleteSecurityGroup", "AuthorizeSecurityGroupEgress",
            "RevokeSecurityGroupEgress", "ModifySecurityGroupEgressRule", "CreatePrefixList"}


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if value == "":
        fail("missing_param", name=name)
    return value


def _int(params: dict[str, str], name: str, default: int, lo: int, hi: int, error: str) -> int:
    raw = params.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        fail(error, name=name)
    if not lo <= value <= hi:
        fail(error, name=name)
    return value


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"lc:{offset}".encode()).decode()


def _decode_token(token: str) -> int:
    if token == "":
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        fail("next_token_invalid")
    if not re.fullmatch(r"lc:\d+", text):
        fail("next_token_invalid")
    return int(text[3:])


def _keyset_page(groups: list[SecurityGroup], params: dict[str, str],
                 cap: int | None = None) -> tuple[list[SecurityGroup], str]:
    """DescribeSecurityGroups' MaxResults/NextToken paging (1-100, default 10) over groups in creation order.
    The token names the last group returned (its creation number) and the next page starts after it, so
    groups created or deleted between two pages never shift a page: no group is skipped or returned twice."""
    size = _int(params, "MaxResults", 10, 1, 100, "max_results_invalid")
    if cap is not None:  # the page-size test setting
        size = min(size, cap)
    token = params.get("NextToken", "")
    if token:
        try:
            text = base64.urlsafe_b64decode(token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            fail("next_token_invalid")
        if not re.fullmatch(r"lcsg:\d{1,18}", text):
            fail("next_token_invalid")
        after = int(text[5:])
        groups = [g for g in groups if g.seq > after]
    chunk = groups[:size]
    more = len(groups) > size
    return chunk, base64.urlsafe_b64encode(f"lcsg:{chunk[-1].seq}".encode()).decode() if more else ""


def _page(items: list[Any], params: dict[str, str], default: int, lo: int, hi: int,
          cap: int | None = None) -> tuple[list[Any], str]:
    size = _int(params, "MaxResults", default, lo, hi, "max_results_invalid")
    if cap is not None:  # the page-size test setting: fewer than asked, and a NextToken for the rest
        size = min(size, cap)
    start = _decode_token(params.get("NextToken", ""))
    chunk = items[start:start + size]
    return chunk, (_encode_token(start + size) if start + size < len(items) else "")


class EcsService:
    """localcloud's ECS: security groups, egress rules and prefix lists (see CODES.md for the error codes)."""

    version = "2014-05-26"

    def __init__(self, rule_limit: int | None = None, quotas: dict[str, Quota] | None = None) -> None:
        self.backend = EcsBackend(rule_limit)
        self.quotas = Quotas(quotas)  # API rate quotas; none by default (every call goes through)
        self._actions: dict[str, Callable[[dict[str, str], CallContext], dict[str, Any]]] = {
            "CreateSecurityGroup": self._create_security_group,
            "DeleteSecurityGroup": self._delete_security_group,
            "DescribeSecurityGroups": self._describe_security_groups,
            "DescribeSecurityGroupAttribute": self._describe_security_group_attribute,
            "AuthorizeSecurityGroupEgress": self._authorize_egress,
            "RevokeSecurityGroupEgress": self._revoke_egress,
            "ModifySecurityGroupEgressRule": self._modify_egress_rule,
            "CreatePrefixList": self._create_prefix_list,
            "DescribePrefixLists": self._describe_prefix_lists,
        }

    # --- Service protocol ---------------------------------------------------------------------------------
    @property
    def rule_limit(self) -> int:
        return self.backend.rule_limit

    @rule_limit.setter
    def rule_limit(self, value: int) -> None:
        with self.backend.lock:
            self.backend.rule_limit = value

    def handle(self, action: str, params: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        # The API gateway refuses a call over its quota before ECS runs it.
        allowed, retry_after_ms = self.quotas.take(ctx.account_id, params.get("RegionId", ""), action)
        if not allowed:
            raise EcsError(*THROTTLED, retry_after_ms=retry_after_ms)
        handler = self._actions.get(action)
        if handler is None:
            fail("unknown_action")
        with self.backend.lock:  # one lock for the whole call: no lost update, one effect per token
            token = params.get("ClientToken", "") if action in MUTATING else ""
            if token:
                # "up to 64 ASCII characters": printable ones; a control code is not a character of a token
                if len(token) > 64 or not token.isascii() or not token.isprintable():
                    fail("modify_client_token" if action == "ModifySecurityGroupEgressRule" else
                         "client_token_malformed")
                key = (ctx.account_id, action, token)
                fingerprint = tuple(sorted((k, v) for k, v in params.items() if k not in _NOISE))
                seen = self.backend.tokens.get(key)
                if seen is not None:
                    if seen[0] != fingerprint:
                        fail("idempotent_mismatch")
                    return copy.deepcopy(seen[1])  # includes the first call's RequestId
            body = handler(params, ctx)
            if token:
                self.backend.tokens[key] = (fingerprint, {**copy.deepcopy(body), "RequestId": ctx.request_id})
            return body

    def reset(self) -> None:
        self.backend.reset()
        self.quotas.reset()

    # --- test settings (control API: GET/PUT /_emulator/settings) -------------------------------------
    def settings(self) -> dict[str, Any]:
        with self.backend.lock:
            return {"ruleLimit": self.backend.rule_limit, "pageSize": self.backend.page_size,
                    "quotas": self.quotas.to_json()}

    def configure(self, values: dict[str, Any]) -> None:
        unknown = set(values) - {"ruleLimit", "pageSize", "quotas"}
        if unknown:
            raise ValueError(f"unknown ECS settings {sorted(unknown)}; known: ruleLimit, pageSize, quotas")
        quotas = parse_quotas(values["quotas"]) if "quotas" in values else None  # checked before any change
        limit, page = values.get("ruleLimit", self.backend.rule_limit), values.get("pageSize", self.backend.page_size)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError("ruleLimit must be a positive integer")
        if page is not None and (not isinstance(page, int) or isinstance(page, bool) or page < 1):
            raise ValueError("pageSize must be a positive integer, or null for the size MaxResults asks")
        with self.backend.lock:
            self.backend.rule_limit, self.backend.page_size = limit, page
        if quotas is not None:
            self.quotas.set(quotas)  # replaces every quota; {} or null: none

    def dump_state(self) -> dict[str, Any]:
        return self.backend.dump()

    def load_state(self, state: dict[str, Any]) -> None:
        self.backend.load(state)

    # --- security groups -----------------------------------------------------------------------------------
    def _create_security_group(self, p: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        region = _required(p, "RegionId")
        vpc_id = p.get("VpcId", "")
        if vpc_id and not vpc_id.startswith("vpc-"):
            fail("vpc_not_found")  # any vpc-… id counts as an existing VPC
        group = SecurityGroup(new_id("sg-"), p.get("SecurityGroupName", ""), p.get("Description", ""), vpc_id)
        self.backend.region(ctx.account_id, region).add(group)
        return {"SecurityGroupId": group.group_id}

    def _delete_security_group(self, p: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        region = _required(p, "RegionId")
        group_id = _required(p, "SecurityGroupId")
        self.backend.group(ctx.account_id, region, group_id)
        # Rules of any account may point at it (DestGroupOwnerId): refuse while one does.
        referencing = (rule for regions in self.backend.accounts.values() for reg in regions.values()
                       for other in reg.groups.values() if other.group_id != group_id
                       for rule in other.rules.values())
        if any(rule.spec.dest_group_id == group_id for rule in referencing):
            fail("group_in_use")
        del self.backend.region(ctx.account_id, region).groups[group_id]
        return {}

    def _group_summary(self, g: SecurityGroup) -> dict[str, Any]:
        return {"SecurityGroupId": g.group_id, "SecurityGroupName": g.name, "Description": g.description,
                "VpcId": g.vpc_id, "CreationTime": g.creation_time, "SecurityGroupType": "normal",
                "ResourceGroupId": "", "ServiceManaged": False, "RuleCount": len(g.rules),
                "Tags": {"Tag": []}}

    def _describe_security_groups(self, p: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        region = _required(p, "RegionId")
        groups = sorted(self.backend.region(ctx.account_id, region).groups.values(), key=lambda g: g.seq)
        if p.get("SecurityGroupIds", ""):
            try:
                wanted = wirejson.loads(p["SecurityGroupIds"])
            except ValueError:
                fail("security_group_ids_invalid")
            if not isinstance(wanted, list) or not all(isinstance(x, str) for x in wanted):
                fail("security_group_ids_invalid")
            groups = [g for g in groups if g.group_id in wanted]
        if p.get("SecurityGroupId", ""):
            groups = [g for g in groups if g.group_id == p["SecurityGroupId"]]
        if p.get("VpcId", ""):
            groups = [g for g in groups if g.vpc_id == p["VpcId"]]
        if p.get("SecurityGroupName", ""):
            groups = [g for g in groups if g.name == p["SecurityGroupName"]]
        if p.get("NetworkType", ""):
            groups = [g for g in groups if ("vpc" if g.vpc_id else "classic") == p["NetworkType"]]
        body: dict[str, Any] = {"RegionId": region, "TotalCount": len(groups)}
        if p.get("MaxResults", "") or p.get("NextToken", ""):
            chunk, token = _keyset_page(groups, p, self.backend.page_size)
            body["NextToken"] = token
        else:  # legacy PageNumber/PageSize paging
            number = _int(p, "PageNumber", 1, 1, 1 << 31, "page_invalid")
            size = _int(p, "PageSize", 10, 1, 50, "page_invalid")
            chunk = groups[(number - 1) * size:number * size]
            body.update(PageNumber=number, PageSize=size)
        body["SecurityGroups"] = {"SecurityGroup": [self._group_summary(g) for g in chunk]}
        return body

    def _describe_security_group_attribute(self, p: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        region = _required(p, "RegionId")
        group_id = _required(p, "SecurityGroupId")
        direction = p.get("Direction", "") or "all"
        if direction not in ("all", "ingress", "egress"):
            fail("direction_invalid")
        nic = p.get("NicType", "")
        if nic and nic not in ("internet", "intranet"):
            fail("nic_type_invalid")
        _int(p, "MaxResults", 500, 10, 1000, "max_results_invalid")  # stateless: checked before the lookup
        group = self.backend.group(ctx.account_id, region, group_id)
        nic = egress.nic_for_group(group, nic or None)
        rules = [r for r in group.rules.values() if r.spec.nic_type == nic] if direction != "ingress" else []
        chunk, token = _page(rules, p, 500, 10, 1000, self.backend.page_size)
        return {
            "RegionId": region, "SecurityGroupId": group.group_id, "SecurityGroupName": group.name,
            "Description": group.description, "VpcId": group.vpc_id, "InnerAccessPolicy": "Accept",
            "NextToken": token,
            "Permissions": {"Permission": [egress.permission(self.backend, ctx.account_id, region, r)
                                           for r in chunk]},
        }

    # --- egress rules -------------------------------------------------------------------------------------
    def _authorize_egress(self, p: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        region = _required(p, "RegionId")
        egress.authorize(self.backend, ctx.account_id, region, _required(p, "SecurityGroupId"), p)
        return {}

    def _revoke_egress(self, p: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        region = _required(p, "RegionId")
        egress.revoke(self.backend, ctx.account_id, region, _required(p, "SecurityGroupId"), p)
        return {}

    def _modify_egress_rule(self, p: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        region = _required(p, "RegionId")
        egress.modify(self.backend, ctx.account_id, region, _required(p, "SecurityGroupId"), p)
        return {}

    # --- prefix lists ---------------------------------------------------------------------------------------
    def _create_prefix_list(self, p: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        region = _required(p, "RegionId")
        name = _required(p, "PrefixListName")
        family = _required(p, "AddressFamily")
        if family not in ("IPv4", "IPv6"):
            fail("address_family_invalid")
        max_entries = _int(p, "MaxEntries", 0, 1, 200, "max_entries_invalid") or fail(
            "missing_param", name="MaxEntries")
        if not 2 <= len(name) <= 128 or name.startswith(("http://", "https://", "com.aliyun", "com.alibaba")):
            fail("prefix_list_name_invalid")
        entries: dict[int, dict[str, str]] = {}
        for key, value in p.items():
            m = re.fullmatch(r"Entry\.(\d+)\.(Cidr|Description)", key)
            if m:
                entries.setdefault(int(m.group(1)), {})[m.group(2)] = value
        out = []
        for n in sorted(entries):
            cidr = entries[n].get("Cidr", "")
            try:
                net = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                fail("entry_invalid", cidr=cidr)
            if net.version != (6 if family == "IPv6" else 4):
                fail("entry_family", cidr=cidr)
            out.append({"Cidr": cidr, "Description": entries[n].get("Description", "")})
        if len(out) > max_entries:
            fail("entries_exceed")
        pl = PrefixList(new_id("pl-"), name, family, max_entries, p.get("Description", ""), utc_now(), out)
        self.backend.region(ctx.account_id, region).prefix_lists[pl.prefix_list_id] = pl
        return {"PrefixListId": pl.prefix_list_id}

    def _describe_prefix_lists(self, p: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        region = _required(p, "RegionId")
        reg = self.backend.region(ctx.account_id, region)
        lists = list(reg.prefix_lists.values())
        ids = {v for k, v in p.items() if re.fullmatch(r"PrefixListId\.\d+", k) and v}
        if ids:
            lists = [pl for pl in lists if pl.prefix_list_id in ids]
        if p.get("AddressFamily", ""):
            if p["AddressFamily"] not in ("IPv4", "IPv6"):
                fail("address_family_invalid")
            lists = [pl for pl in lists if pl.address_family == p["AddressFamily"]]
        if p.get("PrefixListName", ""):
            lists = [pl for pl in lists if pl.name == p["PrefixListName"]]
        chunk, token = _page(lists, p, 10, 1, 100, self.backend.page_size)
        usage: dict[str, int] = {}
        for g in reg.groups.values():
            for r in g.rules.values():
                if r.spec.dest_prefix_list_id:
                    usage[r.spec.dest_prefix_list_id] = usage.get(r.spec.dest_prefix_list_id, 0) + 1
        return {
            "NextToken": token,
            "PrefixLists": {"PrefixList": [
                {"PrefixListId": pl.prefix_list_id, "PrefixListName": pl.name, "AddressFamily": pl.address_family,
                 "MaxEntries": pl.max_entries, "Description": pl.description, "CreationTime": pl.creation_time,
                 "AssociationCount": usage.get(pl.prefix_list_id, 0), "ResourceGroupId": "", "Tags": {"Tag": []}}
                for pl in chunk]},
        }

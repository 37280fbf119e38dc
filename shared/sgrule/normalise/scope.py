"""What a pass scans: the invocation's regions and security groups (globs), intersected with the allow-list.

A region must be named somewhere to be scanned -- in the invocation, in ``SGRULE_NORMALISE_REGIONS`` or in
the allow-list, else the function's own region -- because a glob (``cn-*``) cannot say which regions exist;
globs then filter those names.
Security groups are listed per region and kept when they match the invocation's globs (all, when it names
none) and the allow-list.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from .config import NormaliseSettings

_GLOB = re.compile(r"[*?\[]")
_REGION = re.compile(r"^[a-z0-9*?\[\]!-]{1,64}$")
_GROUP = re.compile(r"^[a-z0-9*?\[\]!-]{1,128}$")


class NothingToScan(ValueError):
    """The invocation and the settings leave no region to scan (the message says what to set)."""


class NormaliseRequest(BaseModel):
    """A synchronous invocation's payload (a timer trigger's ``payload`` takes the same shape)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dryRun: StrictBool = False
    regions: list[str] | None = Field(None, max_length=100)
    securityGroups: list[str] | None = Field(None, max_length=1000)

    def model_post_init(self, __context: Any) -> None:
        for value in self.regions or []:
            if not _REGION.match(value):
                raise ValueError(f"regions: {value!r} is not a region id or glob such as cn-hangzhou or cn-*")
        for value in self.securityGroups or []:
            if not _GROUP.match(value):
                raise ValueError(f"securityGroups: {value!r} is not a security-group id or glob such as sg-bp1*")


@dataclass(frozen=True)
class Scope:
    regions: list[str]                 # concrete, allowed, in a stable order
    group_patterns: list[str] | None   # the invocation's globs (None: every allowed group)
    ignored: list[str] = field(default_factory=list)  # named but outside the allow-list

    def as_dict(self) -> dict[str, Any]:
        return {"regions": self.regions, "securityGroups": self.group_patterns, "ignoredRegions": self.ignored}

    def key(self, dry_run: bool, policy_digest: str) -> str:
        """Names the pass's cursor: the same scope, mode and policy continue the same pass."""
        seed = json.dumps([self.regions, self.group_patterns, dry_run, policy_digest])
        return "normalise/cursor/" + hashlib.sha256(seed.encode()).hexdigest()[:32]


def resolve(settings: NormaliseSettings, request: NormaliseRequest) -> Scope:
    known = [r for r in settings.normalise_regions + settings.allowed_regions if not _GLOB.search(r)]
    # Named nowhere (an allow-list of globs only): the function's own region.
    asked = request.regions if request.regions is not None else \
        (settings.normalise_regions or known or [settings.region])
    names: list[str] = []
    for pattern in asked:
        matches = [pattern] if not _GLOB.search(pattern) else [r for r in known if fnmatch.fnmatchcase(r, pattern)]
        names += [m for m in matches if m not in names]
    allowed = [r for r in names if any(fnmatch.fnmatchcase(r, p) for p in settings.allowed_regions)]
    ignored = [r for r in names if r not in allowed]
    if not allowed:
        raise NothingToScan(
            "no region to scan: name concrete regions in the invocation's 'regions', in "
            "SGRULE_NORMALISE_REGIONS or in SGRULE_ALLOWED_REGIONS, and allow them in SGRULE_ALLOWED_REGIONS"
            + (f" (outside the allow-list: {', '.join(ignored)})" if ignored else ""))
    return Scope(allowed, list(request.securityGroups) if request.securityGroups is not None else None, ignored)


def wants(settings: NormaliseSettings, scope: Scope, region: str, group_id: str) -> bool:
    if scope.group_patterns is not None and \
            not any(fnmatch.fnmatchcase(group_id, p) for p in scope.group_patterns):
        return False
    return settings.allows(region, group_id)

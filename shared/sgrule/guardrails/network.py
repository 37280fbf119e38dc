"""Network helpers for guardrail expressions: CEL has no addresses or port ranges of its own.

Each is a CEL function (callable as ``f(x, y)`` or ``x.f(y)``), on the rule's own spellings: an address or
CIDR block (``10.0.0.0/8``, ``10.1.2.3``, ``2001:db8::/32``) and a port range (``80/443``; ``-1/-1`` is
every port). A malformed argument is a CEL error -- in a guardrail, that denies (README, Guardrails).

====================  =====================  ========================================================
function              arguments              result
====================  =====================  ========================================================
``cidrPrefix``        cidr                   int: the prefix length (an address alone: 32 or 128)
``cidrVersion``       cidr                   int: 4 or 6
``cidrContains``      outer cidr, inner cidr bool: every address of inner is in outer
``cidrOverlaps``      cidr, cidr             bool: the two share an address
``isPrivate``         cidr                   bool: every address is internal (:data:`INTERNAL`)
``isPublic``          cidr                   bool: some address is not internal (``!isPrivate``)
``portCount``         range                  int: how many ports (``-1/-1``: 65535)
``portsOverlap``      range, range           bool: the two share a port
``portsWithin``       range, outer range     bool: every port of range is in outer
====================  =====================  ========================================================
"""
from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any, Callable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# What "internal" means for isPrivate: RFC 1918, shared (carrier-grade NAT) space, loopback, link-local,
# "this network", and IPv6's unique-local, link-local and loopback.
INTERNAL: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "0.0.0.0/32", "fc00::/7", "fe80::/10", "::1/128"))
_RANGE = re.compile(r"^(-?[0-9]{1,5})/(-?[0-9]{1,5})$")


@functools.lru_cache(maxsize=4096)
def network(value: Any) -> Network:
    if not isinstance(value, str):
        raise TypeError(f"an address or CIDR block is a string, not {type(value).__name__}")
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{value[:64]!r} is not an address or CIDR block") from None


@functools.lru_cache(maxsize=4096)
def ports(value: Any) -> tuple[int, int]:
    if not isinstance(value, str):
        raise TypeError(f"a port range is a string, not {type(value).__name__}")
    m = _RANGE.match(value.strip())
    if not m:
        raise ValueError(f"{value[:32]!r} is not a port range (start/end)")
    start, end = int(m.group(1)), int(m.group(2))
    if (start, end) == (-1, -1):
        return 1, 65535
    if not 1 <= start <= end <= 65535:
        raise ValueError(f"{value!r} is not a port range within 1/65535")
    return start, end


def cidr_prefix(cidr: Any) -> int:
    return network(cidr).prefixlen


def cidr_version(cidr: Any) -> int:
    return network(cidr).version


def cidr_contains(outer: Any, inner: Any) -> bool:
    a, b = network(outer), network(inner)
    return a.version == b.version and b.subnet_of(a)  # type: ignore[arg-type]


def cidr_overlaps(a: Any, b: Any) -> bool:
    x, y = network(a), network(b)
    return x.version == y.version and x.overlaps(y)


@functools.lru_cache(maxsize=4096)
def is_private(cidr: Any) -> bool:
    net = network(cidr)
    return any(net.version == n.version and net.subnet_of(n) for n in INTERNAL)  # type: ignore[arg-type]


def is_public(cidr: Any) -> bool:
    return not is_private(cidr)


def port_count(value: Any) -> int:
    start, end = ports(value)
    return end - start + 1


def ports_overlap(a: Any, b: Any) -> bool:
    (s1, e1), (s2, e2) = ports(a), ports(b)
    return s1 <= e2 and s2 <= e1


def ports_within(value: Any, outer: Any) -> bool:
    (s1, e1), (s2, e2) = ports(value), ports(outer)
    return s2 <= s1 and e1 <= e2


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "cidrPrefix": cidr_prefix, "cidrVersion": cidr_version, "cidrContains": cidr_contains,
    "cidrOverlaps": cidr_overlaps, "isPrivate": is_private, "isPublic": is_public, "portCount": port_count,
    "portsOverlap": ports_overlap, "portsWithin": ports_within,
}


def register() -> None:
    """Make the helpers callable from every CEL program compiled afterwards."""
    from .. import cel

    for name, function in FUNCTIONS.items():
        cel.register(name, function)

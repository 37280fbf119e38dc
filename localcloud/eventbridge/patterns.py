"""EventBridge event patterns (the ``FilterPattern`` of a rule, ``eventRuleFilterPattern`` of a trigger).

A pattern is a JSON object with the event's nested structure. Keys are ANDed; the array under a key lists
conditions that are ORed; when the event's value is an array, any element may match. Conditions (the
operators of Alibaba Cloud EventBridge's "Event patterns" page):

=============================  ==============================================================
``"acs.oss"``, ``5``, ``true``   exact value (type-sensitive: ``"5"`` is not ``5``); ``""`` matches ``""``
``{"prefix": "acs."}``           a string starting with it
``{"suffix": ".jpg"}``           a string ending with it
``{"contains": "Normal"}``       a string containing it
``{"anything-but": X}``          present and not X: X a value, a list of values, ``{"prefix"}`` or ``{"suffix"}``
``{"numeric": [">", 0, "<=", 5]}``  a number within every bound (``=``, ``<``, ``<=``, ``>``, ``>=``)
``{"cidr": "10.0.0.0/24"}``      an IPv4 address inside the block
``{"exists": true|false}``       the key is (or is not) in the event
``{"equals-ignore-case": s}``    a string equal to it ignoring case
=============================  ==============================================================

:func:`compile_pattern` checks the whole pattern first and raises :class:`PatternError` naming the bad part.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Callable

from localcloud import wirejson

Matcher = Callable[[Any], bool]
_MISSING = object()
_NUMERIC_OPS = {"=": lambda a, b: a == b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
                ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


class PatternError(ValueError):
    pass


def compile_pattern(pattern: Any) -> Callable[[dict[str, Any]], bool]:
    """A predicate over events; ``pattern`` may be the JSON text or the parsed object."""
    if isinstance(pattern, str):
        try:
            pattern = wirejson.loads(pattern) if pattern.strip() else {}
        except ValueError as exc:
            raise PatternError(f"event pattern is not JSON: {exc}") from None
    if not isinstance(pattern, dict):
        raise PatternError("an event pattern must be a JSON object")
    return _object(pattern, "")


def _object(pattern: dict[str, Any], at: str) -> Callable[[Any], bool]:
    checks: list[tuple[str, Callable[[Any], bool]]] = []
    for key, cond in pattern.items():
        where = f"{at}.{key}" if at else key
        if isinstance(cond, dict):
            checks.append((key, _nested(_object(cond, where))))
        elif isinstance(cond, list):
            if not cond:
                raise PatternError(f"{where}: an empty list matches nothing; give at least one value")
            checks.append((key, _any([_leaf(c, where) for c in cond])))
        else:
            raise PatternError(f"{where}: must be a list of conditions or a nested object, got {cond!r}")

    def match(event: Any) -> bool:
        if not isinstance(event, dict):
            return False
        return all(check(event.get(key, _MISSING)) for key, check in checks)
    return match


def _nested(inner: Callable[[Any], bool]) -> Matcher:
    return lambda value: value is not _MISSING and inner(value)


def _any(leaves: list[tuple[Matcher, bool]]) -> Matcher:
    def match(value: Any) -> bool:
        for leaf, handles_missing in leaves:
            if value is _MISSING:
                if handles_missing and leaf(value):
                    return True
                continue
            if isinstance(value, list):
                if any(leaf(v) for v in value):
                    return True
            elif leaf(value):
                return True
        return False
    return match


def _leaf(cond: Any, at: str) -> tuple[Matcher, bool]:
    """A matcher for one condition, and whether it decides for a missing key (only ``exists``)."""
    if cond is None or isinstance(cond, (str, int, float, bool)):
        return (lambda v: _same(v, cond)), False
    if not isinstance(cond, dict) or len(cond) != 1:
        raise PatternError(f"{at}: a condition is a value or a one-key object, got {cond!r}")
    (op, arg), = cond.items()
    if op in ("prefix", "suffix", "contains", "equals-ignore-case"):
        if not isinstance(arg, str):
            raise PatternError(f"{at}: {op} takes a string")
        test = {"prefix": lambda v: v.startswith(arg), "suffix": lambda v: v.endswith(arg),
                "contains": lambda v: arg in v, "equals-ignore-case": lambda v: v.lower() == arg.lower()}[op]
        return (lambda v: isinstance(v, str) and test(v)), False
    if op == "anything-but":
        return _anything_but(arg, at), False
    if op == "numeric":
        return _numeric(arg, at), False
    if op == "exists":
        if not isinstance(arg, bool):
            raise PatternError(f"{at}: exists takes true or false")
        return (lambda v: (v is not _MISSING) == arg), True
    if op == "cidr":
        try:
            net = ipaddress.ip_network(str(arg), strict=False)
        except ValueError:
            raise PatternError(f"{at}: cidr {arg!r} is not a network") from None

        def in_net(v: Any) -> bool:
            try:
                return isinstance(v, str) and ipaddress.ip_address(v) in net
            except ValueError:
                return False
        return in_net, False
    raise PatternError(f"{at}: unknown operator {op!r} (prefix, suffix, contains, anything-but, numeric, cidr, "
                       "exists, equals-ignore-case)")


def _same(v: Any, cond: Any) -> bool:
    if isinstance(cond, bool) or isinstance(v, bool):
        return v is cond
    if isinstance(cond, (int, float)) and isinstance(v, (int, float)):
        return v == cond
    return type(v) is type(cond) and v == cond


def _anything_but(arg: Any, at: str) -> Matcher:
    if isinstance(arg, dict):
        if len(arg) != 1 or next(iter(arg)) not in ("prefix", "suffix"):
            raise PatternError(f"{at}: anything-but takes a value, a list, {{prefix}} or {{suffix}}")
        (op, text), = arg.items()
        if not isinstance(text, str):
            raise PatternError(f"{at}: anything-but {op} takes a string")
        if op == "prefix":
            return lambda v: isinstance(v, str) and not v.startswith(text)
        return lambda v: isinstance(v, str) and not v.endswith(text)
    values = arg if isinstance(arg, list) else [arg]
    for value in values:
        if not (value is None or isinstance(value, (str, int, float, bool))):
            raise PatternError(f"{at}: anything-but values must be plain values, got {value!r}")
    return lambda v: not any(_same(v, value) for value in values)


def _numeric(arg: Any, at: str) -> Matcher:
    if not isinstance(arg, list) or not arg or len(arg) % 2:
        raise PatternError(f"{at}: numeric takes [op, number, ...], e.g. [\">\", 0, \"<=\", 5]")
    bounds = []
    for op, num in zip(arg[::2], arg[1::2]):
        if op not in _NUMERIC_OPS or isinstance(num, bool) or not isinstance(num, (int, float)):
            raise PatternError(f"{at}: numeric bound {op!r} {num!r} is not one of = < <= > >= and a number")
        bounds.append((_NUMERIC_OPS[op], num))
    return lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool)
                      and all(test(v, num) for test, num in bounds))

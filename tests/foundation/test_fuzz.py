"""hypothesis: random and mutated events never make validation raise anything but SgruleError; listing every
error (``event_errors``) starts with the error ``parse_event`` raises and is empty exactly when it succeeds."""
from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgrule.contract.errors import CODES, SgruleError
from sgrule.contract.event import MAX_ERRORS, RuleChangeEvent, event_errors, parse_event
from sgrule.contract.rule import REQUEST_FIELDS
from sgrule.contract.safe import text as safe_text

BASE = {"specversion": "1.0", "id": "c-1", "source": "tests", "type": "sgrule.egress.modify",
        "time": "2026-11-27T10:00:00Z",
        "data": {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-aaa", "SecurityGroupRuleId": "sgr-111",
                 "IpProtocol": "TCP", "PortRange": "443/443", "DestCidrIp": "10.0.0.0/8", "Description": "x"}}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
# Values that look like what a user might send, so mutations reach the deep checks, not only type errors.
plausible = st.sampled_from([
    "tcp", "UDP", "icmp", "ICMPv6", "gre", "all", "sctp", "-1/-1", "1/65535", "80/80", "0/1", "22", "10.0.0.1",
    "10.0.0.0/8", "0.0.0.0/0", "2001:db8::/32", "::1", "sg-aaa", "sg-bbb", "pl-1", "sgr-2", "accept", "drop",
    "intranet", "internet", "1", "100", "101", "", "x" * 513, None, 5, True,
]) | json_values


def named(obj: Any) -> set[str]:
    """The keys of an object as an error may name them: as given, or as safe display text (control
    characters escaped, lone surrogates replaced: errors never carry raw hostile text)."""
    keys = [k for k in obj if isinstance(k, str)] if isinstance(obj, dict) else []
    return set(keys) | {safe_text(k) for k in keys}


ATTRIBUTES = ("specversion", "id", "source", "type", "time", "subject", "datacontenttype", "correlationid", "data")


def check(raw: Any) -> None:
    """Properties every input has: exactly one answer; a rejection carries a code from the table, the status
    the table gives it, and names the field at fault (one of the input's, or a required attribute); every
    error `validate` reports obeys the same, the first is the outcome's, none is said twice; an accepted
    event is normalised for good (parsing its normalised data again changes nothing)."""
    errors = event_errors(raw)
    assert len(errors) <= MAX_ERRORS
    try:
        ev = parse_event(raw)
    except SgruleError as exc:
        for err in [exc, *errors]:
            assert err.code in CODES or err.code == "InvalidDestGroupId.Mismatch"
            assert err.http_status == (403 if err.code == "InvalidDestGroupId.Mismatch" else CODES[err.code][0])
            assert err.message
        assert errors and errors[0].to_dict() == exc.to_dict()  # validate's first error is the outcome's
        assert len({(e.code, e.field) for e in errors}) == len(errors)  # nothing said twice
        if exc.field is not None:
            keys = named(raw)
            top = exc.field.split(".")[0]
            assert exc.field in keys or top in ATTRIBUTES or top in keys, exc.field
            if top == "data" and exc.field != "data" and isinstance(raw.get("data"), dict):
                assert exc.field[len("data."):] in set(REQUEST_FIELDS) | named(raw["data"]), exc.field
    else:
        assert errors == []
        assert isinstance(ev, RuleChangeEvent)
        assert isinstance(ev.time_us, int) and ev.key  # what the apply function reads next never raises
        again = parse_event({**raw, "data": ev.data.present()})
        assert again.data.present() == ev.data.present()


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_random_values(raw: Any) -> None:
    check(raw)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(REQUEST_FIELDS + ("Bogus",)), plausible, max_size=8),
       st.lists(st.sampled_from(list(BASE["data"])), max_size=3))
def test_mutated_data(changes: dict[str, Any], drop: list[str]) -> None:
    ev = copy.deepcopy(BASE)
    ev["data"].update(changes)
    for key in drop:
        ev["data"].pop(key, None)
    check(ev)


@settings(max_examples=400)
@given(st.dictionaries(st.sampled_from(list(BASE) + ["correlationid", "subject", "Data", "x-y"]), json_values,
                       max_size=4))
def test_mutated_envelope(changes: dict[str, Any]) -> None:
    ev = copy.deepcopy(BASE)
    ev.update(changes)
    check(ev)


offsets = st.sampled_from(["Z", "z", "+00:00", "+08:00", "-01:00", "+14:00", "-12:00", "+01:00"])


@settings(max_examples=400)
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)), offsets,
       st.sampled_from(["", ".5", ".123456", ".123456789"]))
def test_any_time_on_the_calendar(moment: datetime, offset: str, fraction: str) -> None:
    """Years 1 to 9999 with any offset: valid, or InvalidEvent.InvalidAttribute -- never OverflowError."""
    ev = copy.deepcopy(BASE)
    ev["time"] = moment.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + fraction + offset
    check(ev)

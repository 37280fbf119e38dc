"""hypothesis: arbitrary envelopes and events never crash the handler outside its documented error.

Documented behaviour: an unrecognised payload shape raises InvocationError; anything else returns one
schema-valid outcome per input change, in order (no faults are injected here, so nothing is redelivered).
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from applykit import change, mns
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgrule.contract.envelope import InvocationError

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "outcome.schema.json").read_text())

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
field_values = st.sampled_from(["tcp", "ICMP", "all", "-1/-1", "80/80", "0/1", "10.0.0.1", "2001:db8::/32",
                                "accept", "drop", "intranet", "internet", 5, "101", "", "x" * 600, None]) | json_values
fields = st.sampled_from(["PortRange", "IpProtocol", "DestCidrIp", "Ipv6DestCidrIp", "Policy", "Priority", "NicType",
                          "Description", "SourceCidrIp", "DestGroupId", "Bogus"])


@pytest.fixture
def target(ecs_seed: Any) -> dict[str, str]:
    sg = ecs_seed.group()
    return {"sg": sg, "rule": ecs_seed.egress(sg)}


def events(target: dict[str, str]) -> st.SearchStrategy[Any]:
    data = st.builds(
        lambda sg, rule, extra: {"RegionId": "cn-hangzhou", "SecurityGroupId": sg, **rule, **extra},
        st.sampled_from([target["sg"], "sg-nosuchgroup"]),
        st.sampled_from([{"SecurityGroupRuleId": target["rule"]}, {"SecurityGroupRuleId": "sgr-nosuchrule"}, {}]),
        st.dictionaries(fields, field_values, max_size=4),
    )
    return st.builds(lambda d, i, t: change(d, id=f"fz-{i}", time=t), data, st.integers(0, 30),
                     st.sampled_from(["2026-11-27T10:00:00Z", "2026-11-27T11:00:00+08:00", "yesterday"]))


def items(target: dict[str, str]) -> st.SearchStrategy[Any]:
    ev = events(target)
    wrapped = ev.map(lambda e: mns([e])[0])
    b64 = ev.map(lambda e: mns([e], b64=True)[0])
    garbled = st.builds(lambda e, body: {**e, "data": {**e["data"], "messageBody": body}}, wrapped,
                        st.text(max_size=20) | st.binary(max_size=20).map(lambda b: base64.b64encode(b).decode()))
    return st.one_of(ev, wrapped, b64, garbled, json_values)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_handler_never_crashes_outside_its_documented_error(invoke: Any, target: dict[str, str], data: Any) -> None:
    payload = data.draw(st.one_of(st.lists(items(target), max_size=6), items(target)))
    try:
        out = invoke(payload)
    except InvocationError:
        return
    assert len(out) == (len(payload) if isinstance(payload, list) else 1)
    for outcome in out:
        jsonschema.validate(outcome, SCHEMA)
        assert outcome["data"]["status"] in ("applied", "unchanged", "rejected", "superseded")

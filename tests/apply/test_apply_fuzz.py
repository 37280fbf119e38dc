"""hypothesis: arbitrary envelopes and events never crash the handler outside its documented error.

Documented behaviour: an unrecognised payload shape raises InvocationError; anything else returns one
schema-valid outcome per input change, in order (no faults are injected here, so nothing is redelivered),
each error's code is one sgrule documents or the one ECS answered, and each outcome is published once.
"""
from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from applykit import change, mns
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgrule.contract.envelope import InvocationError
from sgrule.contract.errors import CODES

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


def expected_change_id(item: Any) -> str | None:
    """The change an input item is, by the documented envelope rules: a bare event's (or an element of no
    known shape's) id; a wrapped one's body's id; the MNS message id when the body is no JSON object (or its
    id is no string)."""
    if not isinstance(item, dict):
        return None
    if "messageBody" not in (item.get("data") if isinstance(item.get("data"), dict) else {}):
        return item["id"] if isinstance(item.get("id"), str) else None
    body = item["data"]["messageBody"]
    for decode in (json.loads, lambda b: json.loads(base64.b64decode(b, validate=True).decode("utf-8"))):
        try:
            doc = decode(body)
        except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
            continue
        if isinstance(doc, dict):
            return doc["id"] if isinstance(doc.get("id"), str) else item["data"]["messageId"]
    return item["data"]["messageId"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_handler_never_crashes_outside_its_documented_error(invoke: Any, target: dict[str, str], data: Any,
                                                            localcloud: Any) -> None:
    payload = data.draw(st.one_of(st.lists(items(target), max_size=6), items(target)))
    localcloud.clear_events()
    calls_before = len(localcloud.calls())  # the log is kept: a replayed outcome points at an earlier call
    try:
        out = invoke(payload)
    except InvocationError:
        assert len(localcloud.calls()) == calls_before  # nothing processed
        return
    inputs = payload if isinstance(payload, list) else [payload]
    assert len(out) == len(inputs)  # one outcome per input ...
    assert [o["data"]["changeId"] for o in out] == [expected_change_id(i) for i in inputs]  # ... in order
    ecs_codes = {c["code"] for c in localcloud.calls() if c["code"]}
    for outcome in out:
        jsonschema.validate(outcome, SCHEMA)
        d = outcome["data"]
        assert d["status"] in ("applied", "unchanged", "rejected", "superseded")
        if d["error"] is not None:  # a code sgrule documents, or the one ECS answered
            assert d["error"]["code"] in (ecs_codes if d["error"]["source"] == "ecs" else CODES)
        if d["status"] == "applied" and d["attempts"]:
            assert d["requestId"] in {c["requestId"] for c in localcloud.calls("ModifySecurityGroupEgressRule")}
    published = [e["eventId"] for e in localcloud.events(bus="default")]
    assert len(published) == len(set(published))  # nothing published twice ...
    assert set(published) == {o["id"] for o in out}  # ... and nothing left out

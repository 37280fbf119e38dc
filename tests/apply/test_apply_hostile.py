"""Hostile input in every position of the envelope and the event: nothing a sender writes can sink a batch.

Each example is a batch as the MNS trigger delivers it (JSON text, bytes) holding one good change and a few
hostile ones: lone surrogates (legal JSON text, unencodable), NaN / Infinity (Python's JSON reader takes
them), control characters, megabyte strings and nesting deeper than the JSON reader goes, placed in
wrapper fields, CloudEvents attributes, data keys and data values. Properties: the handler returns (never
raises), one outcome per message in order, the good change is applied, every outcome is strict JSON that
EventBridge accepted, and each hostile change is rejected with a code from the error table.
"""
from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from applykit import change, fc_context, load_handler, mns
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgrule.contract.errors import CODES

DEEP = "DEEP-NESTING"  # replaced in the JSON text by nesting deeper than any JSON reader's recursion limit
HOSTILE = st.sampled_from(["\ud800", "a\udfffb", "\x00\x07\x1b[31m", "line\nbreak", "x" * 300_000, DEEP,
                           float("nan"), float("inf"), float("-inf"), 10 ** 400, -0.0, "", [], {}, None, True])
ENVELOPE = ["id", "source", "type", "time", "subject", "correlationid", "datacontenttype", "specversion",
            "\ud800", "unknownattr", "x" * 5000]
DATA = ["RegionId", "SecurityGroupId", "SecurityGroupRuleId", "Description", "Priority", "PortRange", "IpProtocol",
        "DestCidrIp", "ClientToken", "NicType", "\udc80bogus", "Bogus\x00"]
WRAPPER = ["id", "messageId", "messageBody"]
_seq = itertools.count()  # hypothesis replays values: each good change needs a description of its own


def strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"not RFC 8259 JSON: {name}")
    return json.loads(text, parse_constant=refuse)


DEEP_TEXT = "[" * 100_000 + "]" * 100_000


def text(value: Any) -> str:
    """JSON text as a sender could write it: surrogates as \\u escapes, NaN as the reader takes it, and
    the DEEP placeholder as nesting deeper than the reader's recursion limit."""
    return json.dumps(value, allow_nan=True).replace(json.dumps(DEEP), DEEP_TEXT)


def encode(payload: list[dict[str, Any]]) -> bytes:
    return text(payload).encode()


@pytest.fixture
def handler(apply_env: dict[str, str]) -> Any:
    module = load_handler()

    def run(body: bytes) -> list[dict[str, Any]]:
        ctx = fc_context(30)
        module.initialize(ctx)
        return strict(module.handler(body, ctx))
    return run


@pytest.fixture
def target(ecs_seed: Any) -> dict[str, str]:
    sg = ecs_seed.group()
    return {"sg": sg, "rule": ecs_seed.egress(sg)}


@st.composite
def hostile_message(draw: Any, target: dict[str, str], n: int) -> dict[str, Any]:
    ev = change({"RegionId": "cn-hangzhou", "SecurityGroupId": target["sg"], "SecurityGroupRuleId": target["rule"],
                 "Description": f"hostile {n}"}, id=f"hostile-{next(_seq)}")
    where = draw(st.sampled_from(["envelope", "data", "wrapper"]))
    value = draw(HOSTILE)
    if where == "envelope":
        ev[draw(st.sampled_from(ENVELOPE))] = value
    elif where == "data":
        ev["data"][draw(st.sampled_from(DATA))] = value
    wrapped = mns([ev])[0]
    wrapped["data"]["messageBody"] = text(ev)  # the body is the sender's own JSON text
    if where == "wrapper":  # what the trigger builds around a body: the sender only chooses its text
        key = draw(st.sampled_from(WRAPPER))
        value = DEEP_TEXT if value == DEEP else value
        (wrapped["data"] if key != "id" else wrapped)[key] = value if key == "messageBody" or \
            not isinstance(value, str) or len(value) < 1000 else value[:1000]
    return wrapped


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_values_never_sink_a_batch(handler: Any, target: dict[str, str], localcloud: Any,
                                           data: Any) -> None:
    localcloud.clear_events()
    hostile = [data.draw(hostile_message(target, n)) for n in range(data.draw(st.integers(1, 3)))]
    at = data.draw(st.integers(0, len(hostile)))
    good = mns([change({"RegionId": "cn-hangzhou", "SecurityGroupId": target["sg"],
                        "SecurityGroupRuleId": target["rule"], "Description": f"good {next(_seq)}"})])[0]
    batch = hostile[:at] + [good] + hostile[at:]
    out = handler(encode(batch))  # returns: never raises for what senders write
    assert len(out) == len(batch)
    assert out[at]["data"]["status"] == "applied"
    for i, outcome in enumerate(out):
        if i != at and outcome["data"]["status"] == "rejected":
            assert outcome["data"]["error"]["code"] in CODES or outcome["data"]["error"]["source"] == "ecs"
        assert len(outcome["subject"]) <= 512 and len(json.dumps(outcome).encode()) < 256 * 1024
    published = {e["event"]["Id"] for e in localcloud.events(bus="default")}
    assert {o["id"] for o in out} <= published  # every outcome reached the bus


@settings(max_examples=30, deadline=None)
@given(value=HOSTILE, key=st.sampled_from(ENVELOPE + ["data." + k for k in DATA]))
def test_validate_prints_strict_json_whatever_the_input(value: Any, key: str) -> None:
    import contextlib
    import io
    import sys

    from sgrule.cli import main

    ev = change({"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-1", "SecurityGroupRuleId": "sgr-1",
                 "Description": "ok"})
    if key.startswith("data."):
        ev["data"][key[5:]] = value
    else:
        ev[key] = value
    after = change({"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-2", "SecurityGroupRuleId": "sgr-2",
                    "Description": "after"})
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", errors="strict")  # a real UTF-8 stream: nothing escapes it
    stdin, sys.stdin = sys.stdin, io.StringIO(text([ev, after]))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = main(["validate", "-"])
        out.flush()
    finally:
        sys.stdin = stdin
    lines = [strict(line) for line in raw.getvalue().decode("utf-8").splitlines()]
    if code == 2:  # unreadable input (nesting too deep for the reader): said on stderr, nothing half-printed
        assert lines == []
        return
    assert code in (0, 1) and len(lines) == 2
    assert lines[1] == {"id": after["id"], "valid": True, "error": None}
    assert lines[0]["valid"] is (code == 0)
    if not lines[0]["valid"]:
        assert lines[0]["error"]["code"] in CODES

"""`sgrule validate` reads files anyone may hand it: whatever they hold, it answers with its documented report
(exit 0, 1 or 2; one strict JSON line per event; a reason on stderr for a file it cannot read) and never with a
traceback. Hypothesis writes the files: bytes, text, JSON and JSON lines of every shape validate opens (bare
events, MNS wrappers with text or base64 bodies, HTTP trigger events), with hostile values put in anywhere --
integers beyond Python's 4300-digit conversion limit, nesting deeper than any reader goes, NaN, lone
surrogates, control characters -- and cut short at any point."""
from __future__ import annotations

import base64
import contextlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgrule.cli import main
from sgrule.contract.errors import CODES

ROOT = Path(__file__).resolve().parents[2]
GOOD = json.loads((ROOT / "events" / "rule-change" / "valid.json").read_text())[0]
# Placeholders replaced in the JSON text by what json.dumps cannot write (or writes differently).
RAW = {"@HUGE@": "1" * 5000, "@NEGHUGE@": "-" + "9" * 4301, "@BIG@": "7" * 4300, "@DEEP@": "[" * 3000 + "]" * 3000,
       "@DEEPISH@": "[" * 101 + "]" * 101, "@NAN@": "NaN", "@INF@": "-Infinity", "@SURROGATE@": '"\\udc80"',
       "@FLOAT@": "1e999"}

hostile = st.sampled_from(sorted(RAW)) | st.sampled_from(["\x00\x1b[31m", "x" * 600, "", None, True, -0.0])
leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | hostile
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8) | st.sampled_from(["id", "data", "messageBody"]),
                                        inner, max_size=3), max_leaves=8)


def text_of(doc: Any) -> str:
    out = json.dumps(doc, allow_nan=True)
    for mark, raw in RAW.items():
        out = out.replace(json.dumps(mark), raw)
    return out


@st.composite
def events(draw: Any) -> Any:
    """A rule-change event with a hostile value in an attribute or a data field."""
    ev = json.loads(json.dumps(GOOD))
    where = draw(st.sampled_from(["attribute", "data", "none"]))
    if where == "attribute":
        ev[draw(st.sampled_from(["id", "time", "source", "specversion", "correlationid", "data"]))] = draw(values)
    elif where == "data":
        ev["data"][draw(st.sampled_from(["Priority", "PortRange", "Description", "RegionId", "Bogus"]))] = draw(values)
    return ev


@st.composite
def elements(draw: Any) -> Any:
    """One element as validate opens it: a bare event, an MNS wrapper (text or base64 body), an HTTP trigger
    event (text or base64 body), or any JSON value."""
    kind = draw(st.sampled_from(["event", "wrapper", "http", "value"]))
    if kind == "event":
        return draw(events())
    if kind == "value":
        return draw(values)
    body = text_of(draw(events() | values | st.lists(events(), max_size=2)))
    if draw(st.booleans()):
        body = body[:draw(st.integers(0, len(body)))]
    b64 = draw(st.booleans())
    if b64:
        body = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
    if kind == "wrapper":
        return {"id": "eb-1", "source": "acs:mns", "specversion": "1.0", "type": "mns:Queue:SendMessage",
                "data": {"messageId": "M-1", "messageBody": body}}
    return {"requestContext": {"http": {"method": "POST", "path": "/std"}}, "headers": {},
            "body": body, "isBase64Encoded": b64}


@st.composite
def files(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["json", "json", "lines", "text", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "text":
        return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    if kind == "lines":
        text = "\n".join(text_of(e) for e in draw(st.lists(elements(), min_size=1, max_size=4)))
    else:
        text = text_of(draw(elements() | st.lists(elements(), max_size=4)))
    if draw(st.booleans()):  # cut short anywhere
        text = text[:draw(st.integers(0, len(text)))]
    prefix = "\ufeff" if draw(st.booleans()) else ""
    return (prefix + text).encode("utf-8", "surrogatepass")


def validate(data: bytes, *args: str) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.json"
        path.write_bytes(data)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["validate", str(path), *args])
    return status, out.getvalue(), err.getvalue()


def strict(line: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"not RFC 8259 JSON: {name}")
    return json.loads(line, parse_constant=refuse)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=files())
def test_validate_answers_any_file_with_its_documented_report(data: bytes) -> None:
    status, out, err = validate(data, "--format", "json")  # an exception here is the traceback a user would see
    assert status in (0, 1, 2)
    assert "Traceback" not in out + err and 'File "' not in err
    reports = [strict(line) for line in out.splitlines()]
    for r in reports:
        assert r["valid"] == (r["error"] is None) and r["valid"] == (r["errors"] == [])
        assert all(e["code"] in CODES for e in r["errors"])
    if status == 2:
        assert reports == [] and "cannot read" in err and "Fix the file" in err
    else:
        assert status == (1 if any(not r["valid"] for r in reports) else 0)
    table_status, table, table_err = validate(data, "--format", "table")
    assert table_status == status and "Traceback" not in table + table_err


def test_the_issues_case_a_5000_digit_integer_on_stdin() -> None:
    for text, why in (("[" + "1" * 5000 + "]", "an integer of 5000 digits (at most 4300)"),
                      ("[" * 100_000, "nested more than 100 levels deep")):
        res = subprocess.run([sys.executable, "-m", "sgrule.cli", "validate", "-"], input=text.encode(),
                             capture_output=True, cwd=ROOT, timeout=60)
        err = res.stderr.decode()
        assert res.returncode == 2 and res.stdout == b"" and "Traceback" not in err
        assert err == f"sgrule validate: cannot read -: not JSON: {why}. Fix the file (or its path); the other " \
                      "files were checked.\n"


def test_json_lines_beyond_the_reader_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "lines.json").write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD) + '\n{"id": ' + "1" * 5000 + "}\n")
    status, out, err = validate((tmp_path / "lines.json").read_bytes())
    assert status == 2 and out == "" and "line 3: an integer of 5000 digits" in err


def test_a_wrapped_body_beyond_the_reader_is_that_events_error(tmp_path: Path) -> None:
    body = '{"specversion": "1.0", "data": {"Priority": ' + "1" * 5000 + "}}"
    wrapped = {"id": "eb-1", "source": "acs:mns", "specversion": "1.0", "type": "mns:Queue:SendMessage",
               "data": {"messageId": "M-9", "messageBody": body}}
    status, out, _ = validate(json.dumps([GOOD, wrapped]).encode())
    first, second = (json.loads(line) for line in out.splitlines())
    assert status == 1 and first["valid"] and second["messageId"] == "M-9"
    assert second["error"]["code"] == "InvalidEvent.Malformed"
    assert "an integer of 5000 digits" in second["error"]["message"]

"""`sgrule validate` as an operator uses it: what the queue carries (MNS messages through EventBridge, JSON or
base64 bodies) as well as bare events, JSON mistakes with line and column, several files at once (one bad file
hides nothing), every error of an event, and a table on a terminal."""
from __future__ import annotations

import base64
import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sgrule.contract.errors import CODES

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "events"
GOOD = json.loads((SAMPLES / "rule-change" / "valid.json").read_text())[0]


def run(*args: str, stdin: str | bytes | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    res = subprocess.run([sys.executable, "-m", "sgrule.cli", *args], input=data, capture_output=True,
                         cwd=cwd, timeout=60)
    return subprocess.CompletedProcess(res.args, res.returncode, res.stdout.decode(), res.stderr.decode())


def lines(res: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in res.stdout.splitlines()]


def wrapper(body: str, message_id: str = "MSG-1") -> dict[str, Any]:
    """An EventBridge event wrapping one MNS message, as the queue's trigger delivers it."""
    return {"id": f"eb-{message_id}", "source": "acs:mns", "specversion": "1.0", "type": "mns:Queue:SendMessage",
            "subject": "acs:mns:cn-hangzhou:1234567890123456:queues/sgrule-changes",
            "time": "2026-11-27T10:06:00.100Z", "data": {"messageId": message_id, "messageBody": body}}


def test_the_sample_mns_batch_validates_like_the_apply_function_reads_it() -> None:
    # events/README.md: 9 messages, #2 and #7 with base64 bodies, #3 rejected by validation (PortRange 0/123);
    # the other rejections need the live rules, which validate does not read.
    res = run("validate", "events/apply/mns-batch.json")
    out = lines(res)
    assert res.returncode == 1
    assert [o["id"] for o in out] == ["JIRA-2101", "JIRA-2102", "JIRA-2103", "JIRA-2104", "JIRA-2105", "CAB-311",
                                      "CAB-309", "wf-7731", "JIRA-2106"]
    assert [o["index"] for o in out] == list(range(9)) and {o["file"] for o in out} == {"events/apply/mns-batch.json"}
    batch = json.loads((SAMPLES / "apply" / "mns-batch.json").read_text())
    assert [o["messageId"] for o in out] == [w["data"]["messageId"] for w in batch]
    assert [o["valid"] for o in out] == [True, True, False, True, True, True, True, True, True]
    assert out[2]["error"]["code"] == "InvalidParam.PortRange" and out[2]["error"]["field"] == "data.PortRange"


def test_what_localclouds_trigger_builds_validates(tmp_path: Path) -> None:
    # localcloud builds the trigger's batch with its own code (base64 bodies as the MNS SDK sends them).
    changes = tmp_path / "changes.json"
    changes.write_text(json.dumps([GOOD, {**GOOD, "id": "second", "data": {**GOOD["data"], "Priority": 0}}]))
    for extra in ([], ["--base64"]):
        batch = subprocess.run([sys.executable, "-m", "localcloud", "generate-event", "mns", str(changes), *extra],
                               capture_output=True, text=True, cwd=ROOT, timeout=60, check=True).stdout
        res = run("validate", "-", stdin=batch)
        out = lines(res)
        assert [(o["id"], o["valid"]) for o in out] == [(GOOD["id"], True), ("second", False)]
        assert out[1]["error"]["code"] == "InvalidPriority.ValueNotSupported" and res.returncode == 1
        assert all(o["messageId"] for o in out) and all(o["file"] == "-" for o in out)


def test_base64_bodies_single_wrappers_and_bare_events_mix(tmp_path: Path) -> None:
    encoded = base64.b64encode(json.dumps({**GOOD, "id": "b64"}).encode()).decode()
    (tmp_path / "one-wrapper.json").write_text(json.dumps(wrapper(encoded, "M-b64")))
    (tmp_path / "mixed.json").write_text(json.dumps([GOOD, wrapper(json.dumps({**GOOD, "id": "text"}), "M-t"),
                                                      wrapper("%%% not base64", "M-bad")]))
    res = run("validate", "one-wrapper.json", "mixed.json", cwd=tmp_path)
    out = lines(res)
    assert [(o["file"], o["index"], o["messageId"], o["id"], o["valid"]) for o in out] == [
        ("one-wrapper.json", 0, "M-b64", "b64", True),
        ("mixed.json", 0, None, GOOD["id"], True),
        ("mixed.json", 1, "M-t", "text", True),
        ("mixed.json", 2, "M-bad", None, False),
    ]
    assert out[3]["error"]["code"] == "InvalidEvent.Malformed" and out[3]["error"]["field"] == "data.messageBody"
    assert res.returncode == 1


def test_a_misspelt_wrapper_attribute_gets_a_did_you_mean(tmp_path: Path) -> None:
    bad = wrapper(json.dumps(GOOD), "M-1")
    bad["data"]["MessageBody"] = bad["data"].pop("messageBody")
    out = lines(run("validate", "-", stdin=json.dumps([bad])))
    assert out[0]["messageId"] == "M-1" and out[0]["error"]["code"] == "InvalidEvent.UnknownField"
    assert out[0]["error"]["field"] == "data.MessageBody" and "did you mean 'data.messageBody'" in out[0]["error"]["message"]


def test_every_error_of_an_event_is_listed() -> None:
    ev = {**GOOD, "Time": GOOD["time"], "data": {**GOOD["data"], "PortRange": "0/1", "Policy": "maybe"}}
    del ev["time"]
    [line] = lines(run("validate", "-", stdin=json.dumps(ev)))
    assert [(e["code"], e["field"]) for e in line["errors"]] == [
        ("InvalidEvent.UnknownField", "Time"), ("InvalidParam.PortRange", "data.PortRange"),
        ("InvalidPolicy.Malformed", "data.Policy")]
    assert line["error"] == line["errors"][0] and "did you mean 'time'" in line["error"]["message"]


@pytest.mark.parametrize(("text", "where"), [
    ('[\n  {"a": 1},\n  {"b" 2}\n]\n', "line 3 column 8"),  # a pretty-printed array: the document's position
    ('{"a": 1}\n{"b": 2}\n\n{"c": 3,}\n', "line 4 column 9"),  # JSON lines: the line's own position
    ('{"a": 1} {"b": 2}', "line 1 column 10"),
])
def test_json_mistakes_say_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    (tmp_path / "broken.json").write_text(text)
    res = run("validate", "broken.json", cwd=tmp_path)
    assert res.returncode == 2 and res.stdout == ""
    assert f"cannot read broken.json: not JSON: {where}:" in res.stderr


def test_an_unreadable_file_hides_nothing_and_the_exit_status_says_so(tmp_path: Path) -> None:
    (tmp_path / "good.json").write_text(json.dumps([GOOD]))
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "latin1.json").write_bytes(b'{"id": "caf\xe9"}')
    (tmp_path / "invalid.json").write_text(json.dumps({**GOOD, "data": {}}))
    res = run("validate", "broken.json", "missing.json", "good.json", "latin1.json", "invalid.json", cwd=tmp_path)
    out = lines(res)
    assert [(o["file"], o["valid"]) for o in out] == [("good.json", True), ("invalid.json", False)]
    assert res.returncode == 2  # unreadable beats invalid
    err = res.stderr.splitlines()
    assert len(err) == 3
    assert err[0].startswith("sgrule validate: cannot read broken.json: not JSON: line 1 column 2:")
    assert err[1].startswith("sgrule validate: cannot read missing.json: No such file or directory")
    assert err[2].startswith("sgrule validate: cannot read latin1.json: not UTF-8 text (byte offset 11)")


def test_an_empty_file_and_an_empty_array_behave_alike(tmp_path: Path) -> None:
    results = []
    for name, text in (("empty.json", ""), ("blank.json", " \n\n"), ("array.json", "[]"), ("array2.json", "[ ]\n")):
        (tmp_path / name).write_text(text)
        res = run("validate", name, cwd=tmp_path)
        results.append((res.returncode, res.stdout, res.stderr.replace(name, "FILE")))
    assert results == [(0, "", "sgrule validate: FILE: no events\n")] * 4


def test_a_byte_order_mark_is_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode())
    assert run("validate", "bom.json", cwd=tmp_path).returncode == 0


def test_json_stays_strict_when_piped_even_with_format_table_refused() -> None:
    res = run("validate", "events/rule-change/invalid.json", "--format", "json")
    for line in res.stdout.splitlines():
        json.loads(line, parse_constant=lambda name: pytest.fail(f"not RFC 8259: {name}"))
    assert res.returncode == 1


def test_format_table_when_piped_says_file_index_and_status() -> None:
    res = run("validate", "events/rule-change/valid.json", "events/rule-change/invalid.json", "nope.json",
              "--format", "table")
    rows = res.stdout.splitlines()
    assert rows[0].split() == ["STATUS", "FILE", "#", "ID", "ERROR"]
    assert rows[1].split()[:4] == ["valid", "events/rule-change/valid.json", "0", "JIRA-1042"]
    bad = next(r for r in rows if "bad-port" in r)
    assert bad.split()[:5] == ["invalid", "events/rule-change/invalid.json", "0", "bad-port", "InvalidParam.PortRange"]
    assert any(r.split()[:2] == ["unreadable", "nope.json"] for r in rows)
    assert rows[-1] == "10 event(s) in 3 file(s): 4 valid, 6 invalid; 1 file(s) unreadable"
    assert "\x1b" not in res.stdout and res.returncode == 2


def test_table_cells_cannot_drive_the_terminal() -> None:
    ev = {**GOOD, "id": "evil\x1b[2J\x07", "data": {**GOOD["data"], "Bogus\x1b]0;title\x07": 1}}
    res = run("validate", "-", "--format", "table", stdin=json.dumps(ev))
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout
    assert "evil\\u001b[2J\\u0007" in res.stdout


def _on_a_terminal(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run sgrule with stdout on a pseudo-terminal (what an operator sees)."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "sgrule.cli", *args], stdout=secondary, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, cwd=ROOT, env={**os.environ, **(env or {})})
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    code = proc.wait(timeout=120)
    assert proc.stderr is not None
    proc.stderr.close()
    return code, b"".join(chunks).decode()


def test_on_a_terminal_a_table_by_default() -> None:
    code, shown = _on_a_terminal("validate", "events/rule-change/invalid.json", env={"NO_COLOR": "1"})
    assert code == 1
    rows = shown.replace("\r\n", "\n").splitlines()
    assert rows[0].split() == ["STATUS", "FILE", "#", "ID", "ERROR"] and "\x1b" not in shown
    assert rows[-1] == "6 event(s) in 1 file(s): 0 valid, 6 invalid"
    code, shown = _on_a_terminal("validate", "events/rule-change/invalid.json", "--format", "json")
    assert [json.loads(r)["id"] for r in shown.splitlines()][:1] == ["bad-port"]


def test_version_is_the_installed_distributions() -> None:
    from importlib.metadata import version

    import sgrule

    res = run("--version")
    assert res.returncode == 0 and res.stdout == f"sgrule {version('sgrule')}\n"
    assert version("sgrule") == sgrule.__version__  # pyproject.toml and the package agree


def test_no_command_shows_the_commands() -> None:
    res = run()
    assert res.returncode == 2 and "validate" in res.stderr and "local" in res.stderr


def test_codes_in_the_output_are_documented() -> None:
    out = lines(run("validate", "events/rule-change/invalid.json"))
    assert {e["code"] for o in out for e in o["errors"]} <= set(CODES)


def test_what_the_webhook_is_posted_validates() -> None:
    # FC HTTP trigger events (events/README.md): native rule-change bodies as text and base64 are checked; a
    # ticket payload is named as such (the sender's mapping builds its changes, which validate cannot know).
    res = run("validate", "events/http/webhook-post.json", "events/http/webhook-post-base64.json",
              "events/http/standard-native.json", "events/http/jira-issue.json")
    out = lines(res)
    assert [(o["file"].rsplit("/", 1)[1], o["id"], o["valid"]) for o in out] == [
        ("webhook-post.json", "JIRA-2200", True), ("webhook-post-base64.json", "JIRA-2200", True),
        ("standard-native.json", "wf-9001", True), ("jira-issue.json", None, False)]
    assert out[3]["error"]["code"] == "InvalidEvent.Malformed" and "ticket payload" in out[3]["error"]["message"]
    assert "sgrule local invoke ticket_webhook" in out[3]["error"]["message"]  # what to do instead


def test_an_http_event_with_a_broken_body_is_told(tmp_path: Path) -> None:
    post = json.loads((SAMPLES / "http" / "webhook-post-base64.json").read_text())
    bad_b64 = {**post, "body": "not base64!"}
    bad_json = {**post, "body": base64.b64encode(b'{"specversion": ').decode()}
    invalid = {**post, "isBase64Encoded": False,
               "body": json.dumps([GOOD, {**GOOD, "id": "x", "data": {**GOOD["data"], "Policy": "x"}}])}
    (tmp_path / "posts.json").write_text(json.dumps([bad_b64, bad_json, invalid]))
    out = lines(run("validate", "posts.json", cwd=tmp_path))
    assert [(o["index"], o["id"], o["valid"]) for o in out] == [(0, None, False), (1, None, False),
                                                              (2, GOOD["id"], True), (3, "x", False)]
    assert "marked base64 but is not" in out[0]["error"]["message"]
    assert "not JSON: line 1 column 17" in out[1]["error"]["message"]
    assert out[3]["error"]["code"] == "InvalidPolicy.Malformed"

"""The committed JSON Schema matches the models and the samples; `sgrule validate` behaves as documented."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from sgrule.cli import main
from sgrule.contract.schemas import all_schemas

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "events" / "rule-change"


@pytest.mark.parametrize("name", sorted(all_schemas()))
def test_committed_schema_is_not_stale(name: str) -> None:
    committed = json.loads((ROOT / "schemas" / name).read_text())
    assert committed == all_schemas()[name], "run `sgrule schemas --write` and commit schemas/"


def test_schema_accepts_the_valid_samples_and_states_the_contract() -> None:
    schema = json.loads((ROOT / "schemas" / "rule-change.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for ev in json.loads((SAMPLES / "valid.json").read_text()):
        jsonschema.validate(ev, schema)
    data = schema["$defs"]["RuleChange"]
    assert data["additionalProperties"] is False
    assert set(schema["required"]) == {"specversion", "id", "source", "type", "time", "data"}
    bad = json.loads((SAMPLES / "valid.json").read_text())[0]
    bad["data"]["Portrange"] = "1/2"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sgrule.cli", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=60)


def test_validate_valid_samples_exit_0() -> None:
    res = run("validate", str(SAMPLES / "valid.json"))
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert res.returncode == 0
    assert [line["id"] for line in lines] == ["JIRA-1042", "JIRA-1043", "sched-2026-11-27-001", "wf-88"]
    assert all(line == {"file": str(SAMPLES / "valid.json"), "index": i, "messageId": None, "id": line["id"],
                        "valid": True, "error": None, "errors": []} for i, line in enumerate(lines))


def test_validate_invalid_samples_exit_1_with_codes() -> None:
    res = run("validate", str(SAMPLES / "invalid.json"))
    assert res.returncode == 1
    codes = {json.loads(line)["id"]: json.loads(line)["error"]["code"] for line in res.stdout.splitlines()}
    assert codes == {"bad-port": "InvalidParam.PortRange", "icmp-with-ports": "InvalidParam.ProtocolAndPortRangeMismatch",
                     "typo": "InvalidEvent.UnknownField", "no-destination": "MissingParameter.Dest",
                     "mixed-families": "InvalidParameter.Conflict", "no-time": "InvalidEvent.MissingAttribute"}


def test_validate_reads_json_lines_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    events = json.loads((SAMPLES / "valid.json").read_text())
    import io
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(json.dumps(e) for e in events[:2]) + "\n[1]\n"))
    assert main(["validate", "-"]) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["valid"] for o in out] == [True, True, False]
    assert out[2]["error"]["code"] == "InvalidEvent.Malformed" and out[2]["id"] is None


@pytest.mark.parametrize("stdin", ["{", "not json\n{}", "[" * 100000 + "]" * 100000])
def test_validate_unreadable_input_exit_2(stdin: str) -> None:
    res = run("validate", "-", stdin=stdin)
    assert res.returncode == 2 and res.stdout == "" and "cannot read" in res.stderr


def test_validate_missing_file_exit_2(tmp_path: Path) -> None:
    assert run("validate", str(tmp_path / "nope.json")).returncode == 2


def test_schemas_check_says_missing_then_stale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schemas", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    names = sorted(all_schemas())
    assert err.startswith("missing: ") and "stale" not in err  # nothing there yet: missing, not stale
    assert all(str(tmp_path / n) in err for n in names) and f"sgrule schemas --write --dir {tmp_path}" in err
    assert main(["schemas", "--write", "--dir", str(tmp_path)]) == 0
    assert main(["schemas", "--dir", str(tmp_path)]) == 0
    capsys.readouterr()
    (tmp_path / names[0]).write_text("{}\n")
    (tmp_path / names[1]).unlink()
    assert main(["schemas", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"missing: {tmp_path / names[1]}\n" in err and f"stale (they differ from the models): {tmp_path / names[0]}\n" in err

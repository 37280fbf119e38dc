"""``sgrule local pipeline`` (what ``make run`` runs): the sample changes end with the documented statuses."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from test_pipeline import EXPECTED

ROOT = Path(__file__).resolve().parents[2]


def test_make_run_pipeline_gives_every_sample_change_its_documented_outcome() -> None:
    env = dict(os.environ, ALIBABA_CLOUD_ECS_METADATA_DISABLED="true")
    done = subprocess.run([sys.executable, "-m", "sgrule.cli", "local", "pipeline", "--json", "--timeout", "60"],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert {o["changeId"]: o["status"] for o in summary["outcomes"]} == EXPECTED
    assert summary["missing"] == [] and summary["failedInvocations"] == 0
    assert "eventbridge:mns-changes" in done.stderr  # each invocation is logged
    # ... with its time in RFC 3339 (UTC), like every log line that says a time
    logged = [line for line in done.stderr.splitlines() if "eventbridge:mns-changes" in line]
    for line in logged:
        stamp = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)  ", line)
        assert stamp, line
        when = datetime.fromisoformat(stamp.group(1).replace("Z", "+00:00"))
        assert abs((datetime.now(timezone.utc) - when).total_seconds()) < 300


def test_the_pipeline_summary_is_a_status_table_when_asked() -> None:
    env = dict(os.environ, ALIBABA_CLOUD_ECS_METADATA_DISABLED="true")
    done = subprocess.run([sys.executable, "-m", "sgrule.cli", "local", "pipeline", "--format", "table",
                           "--timeout", "60"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    assert rows[0].split() == ["STATUS", "CHANGE", "RULE", "ERROR"]
    assert {r.split()[1]: r.split()[0] for r in rows[1:len(EXPECTED) + 1]} == EXPECTED


def test_a_timeout_that_is_not_positive_is_a_usage_error() -> None:
    for value in ("0", "-5", "nan"):
        done = subprocess.run([sys.executable, "-m", "sgrule.cli", "local", "pipeline", "--timeout", value],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "greater than 0" in done.stderr and done.stdout == ""


def test_bad_changes_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_text("[]")
    done = subprocess.run([sys.executable, "-m", "sgrule.cli", "local", "pipeline", "--changes",
                           str(tmp_path / "empty.json")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "pipeline:" in done.stderr
    assert "no rule changes found; give --changes" in done.stderr  # and what to give instead


def test_a_state_file_beyond_the_json_reader_exits_2_and_says_why(tmp_path: Path) -> None:
    for text, why in (('{"ecs": ' + "1" * 5000 + "}", "an integer of 5000 digits"),
                      ("[" * 5000 + "]" * 5000, "nested more than 100 levels deep")):
        (tmp_path / "state.json").write_text(text)
        done = subprocess.run([sys.executable, "-m", "sgrule.cli", "local", "pipeline", "--state",
                               str(tmp_path / "state.json")], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert f"pipeline: {tmp_path / 'state.json'}: not JSON: {why}" in done.stderr

"""`sgrule normalise`: the same pass from a terminal -- formats, JSON when piped, progress only on a TTY."""
from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from normkit import changes_of, reports_on_bus, seed_estate

from sgrule.cli import main


def test_dry_run_json_is_the_report(localcloud: Any, normalise_env: dict, capsys: pytest.CaptureFixture) -> None:
    estate = seed_estate(localcloud, groups=6, rules_per_group=5)
    localcloud.clear_calls()
    assert main(["normalise", "--dry-run", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["complete"] and changes_of(report) == estate["expected"]
    assert {c["action"] for c in localcloud.calls()} == {"DescribeSecurityGroups", "DescribeSecurityGroupAttribute",
                                                          "PutEvents"}
    assert len(reports_on_bus(localcloud)) == 1


def test_piped_output_defaults_to_json(localcloud: Any, normalise_env: dict, capsys: pytest.CaptureFixture) -> None:
    seed_estate(localcloud, groups=2, rules_per_group=3)
    assert main(["normalise", "--dry-run"]) == 0  # capsys is not a terminal
    out, err = capsys.readouterr()
    assert json.loads(out)["dryRun"] is True
    assert "scanning [" not in err  # no progress bar off a terminal


def test_table_markdown_and_csv(localcloud: Any, normalise_env: dict, capsys: pytest.CaptureFixture) -> None:
    estate = seed_estate(localcloud, groups=1, rules_per_group=12)
    assert main(["normalise", "--dry-run", "--format", "table"]) == 0
    table = capsys.readouterr().out
    assert '  - "  egress to payments CHG-102  "\n  + "egress to payments CHG-102"' in table
    assert '- "dns\\u0007 lookups CHG-104\\u0000"' in table  # invisible characters shown escaped
    assert f"1 groups, 12 rules: {len(estate['expected'])} to change" in table
    assert "dry run: nothing enqueued" in table and "\x1b[" not in table  # no colour off a terminal
    assert main(["normalise", "--dry-run", "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("| security group | rule | steps | before | after |\n|---|---|---|---|---|\n")
    assert md.count("\n| sg-") == len(estate["expected"])
    assert main(["normalise", "--dry-run", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {(r["securityGroupId"], r["securityGroupRuleId"]): r["after"] for r in rows} == estate["expected"]
    # values as they are, but NUL (which spreadsheets and Python's csv before 3.11 cannot take) as \u0000
    assert {r["before"] for r in rows} >= {"  egress to payments CHG-102  ", "dns\x07 lookups CHG-104\\u0000"}


def test_bad_policy_and_settings_exit_2_saying_what_to_do(localcloud: Any, normalise_env: dict, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "policy.yml"
    bad.write_text("version: 1\nsteps:\n  - whitespace: {}\n  - limit: {max_length: 0}\n")
    assert main(["normalise", "--dry-run", "--policy", str(bad)]) == 2
    assert f"invalid policy: {bad}:4: steps[1].limit.max_length" in capsys.readouterr().err
    assert main(["normalise"]) == 2  # a real run without a queue
    assert "set SGRULE_MNS_ENDPOINT" in capsys.readouterr().err
    assert main(["normalise", "--dry-run", "--region", "eu-west-1"]) == 2
    assert "no region to scan" in capsys.readouterr().err


def test_progress_bar_on_a_terminal(localcloud: Any, normalise_env: dict) -> None:
    seed_estate(localcloud, groups=30, rules_per_group=1)
    master, slave = pty.openpty()
    env = {**os.environ, **normalise_env}
    proc = subprocess.run([sys.executable, "-m", "sgrule.cli", "normalise", "--dry-run", "--format", "json"],
                          stdout=subprocess.PIPE, stderr=slave, env=env, timeout=120)
    os.close(slave)
    err = b""
    try:
        while chunk := os.read(master, 65536):
            err += chunk
    except OSError:  # the pty's other end is closed: everything is read
        pass
    os.close(master)
    assert proc.returncode == 0, err
    assert b"scanning [" in err and b"30/30 groups" in err
    assert json.loads(proc.stdout)["counts"]["groups"] == 30  # stdout (a pipe) carries only the JSON

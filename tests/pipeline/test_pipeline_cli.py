"""``sgrule local pipeline`` (what ``make run`` runs): the sample changes end with the documented statuses."""
from __future__ import annotations

import json
import os
import subprocess
import sys
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


def test_bad_changes_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_text("[]")
    done = subprocess.run([sys.executable, "-m", "sgrule.cli", "local", "pipeline", "--changes",
                           str(tmp_path / "empty.json")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "pipeline:" in done.stderr

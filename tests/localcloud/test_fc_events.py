"""Timer schedules (FC's 6-field cron, seconds first, UTC; ``@every``) and ``generate-event``: the envelopes
the triggers build, printed for ``local invoke``."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from localcloud.cli import main
from localcloud.fc.runtime.triggers.timer import Schedule

T0 = datetime(2026, 11, 27, 1, 59, 59, tzinfo=timezone.utc)


@pytest.mark.parametrize("expression, after, expected", [
    ("0 0 2 * * *", T0, datetime(2026, 11, 27, 2, 0, 0, tzinfo=timezone.utc)),  # seconds first, UTC
    ("30 * * * * ?", T0, datetime(2026, 11, 27, 2, 0, 30, tzinfo=timezone.utc)),
    ("0 0 2 * * *", datetime(2026, 11, 27, 2, 0, 0, tzinfo=timezone.utc),
     datetime(2026, 11, 28, 2, 0, 0, tzinfo=timezone.utc)),  # strictly after
    ("CRON_TZ=Asia/Shanghai 0 0 10 * * *", T0, datetime(2026, 11, 27, 2, 0, 0, tzinfo=timezone.utc)),  # 10:00 +08:00
])
def test_cron_is_six_fields_seconds_first_in_utc(expression: str, after: datetime, expected: datetime) -> None:
    assert Schedule(expression).next_after(after, after) == expected


def test_every_counts_from_the_start_and_bad_expressions_are_refused() -> None:
    s = Schedule("@every 1h30m")
    assert s.every == 5400
    assert s.next_after(T0, T0) == datetime(2026, 11, 27, 3, 29, 59, tzinfo=timezone.utc)
    assert Schedule("@every 500ms").every == 0.5
    for bad in ("0 2 * * *", "@every", "@every 0s", "61 * * * * *", "nonsense"):
        with pytest.raises(ValueError):
            Schedule(bad)


def test_generate_event_mns_round_trips_through_the_envelope(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    changes = [{"id": "A-1", "data": {"x": "é"}}, {"id": "A-2"}]
    src = tmp_path / "changes.jsonl"
    src.write_text("\n".join(json.dumps(c) for c in changes))
    assert main(["generate-event", "mns", str(src), "--queue", "q1"]) == 0
    batch = json.loads(capsys.readouterr().out)
    assert [json.loads(e["data"]["messageBody"]) for e in batch] == changes  # decoded (IsBase64Decode true)
    assert {e["type"] for e in batch} == {"mns:Queue:SendMessage"}
    assert batch[0]["subject"] == "acs:mns:cn-hangzhou:1234567890123456:queues/q1"
    assert main(["generate-event", "mns", "--body", "plain", "--base64", "--compact"]) == 0
    [event] = json.loads(capsys.readouterr().out)
    assert base64.b64decode(event["data"]["messageBody"]) == b"plain"
    assert main(["generate-event", "mns"]) == 2
    assert "nothing to wrap" in capsys.readouterr().err


def test_generate_event_http_and_timer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate-event", "http", "--path", "/hooks/jira", "--query", "a=1", "--query", "a=2",
                 "--header", "X-Hub-Signature: sha256=00", "--body", "{}", "--compact"]) == 0
    event = json.loads(capsys.readouterr().out)
    assert (event["rawPath"], event["body"], event["isBase64Encoded"]) == ("/hooks/jira", "{}", False)
    assert event["queryParameters"] == {"a": "1,2"} and event["headers"]["X-Hub-Signature"] == "sha256=00"
    assert main(["generate-event", "http", "--content-type", "application/octet-stream", "--body", "\x01"]) == 0
    binary = json.loads(capsys.readouterr().out)
    assert binary["isBase64Encoded"] is True and base64.b64decode(binary["body"]) == b"\x01"
    assert main(["generate-event", "timer", "--trigger-name", "nightly", "--payload", "{\"dryRun\": true}",
                 "--time", "2026-11-27T02:00:00Z"]) == 0
    assert json.loads(capsys.readouterr().out) == {"triggerTime": "2026-11-27T02:00:00Z", "triggerName": "nightly",
                                                   "payload": "{\"dryRun\": true}"}

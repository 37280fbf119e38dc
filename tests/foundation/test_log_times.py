"""Every log that says a time says it in RFC 3339: sgrule's JSON logs and localcloud's invocation log."""
from __future__ import annotations

import io
import json
import re
import time
from datetime import datetime, timezone

from localcloud.app import describe, rfc3339
from localcloud.fc.models import Invocation
from sgrule.runtime.log import Logger

# RFC 3339 section 5.6 date-time (upper-case T and Z, as we write them)
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parsed(stamp: str) -> datetime:
    assert RFC3339.match(stamp), stamp
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_sgrule_json_log_lines_carry_rfc3339_times() -> None:
    out = io.StringIO()
    before = datetime.now(timezone.utc)
    Logger(out).bind(changeId="c-1").warning("hello", code="X")
    after = datetime.now(timezone.utc)
    line = json.loads(out.getvalue())
    when = parsed(line["time"])
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= when <= after
    assert line["level"] == "WARNING" and line["changeId"] == "c-1"


def test_localcloud_invocation_log_lines_start_with_an_rfc3339_time() -> None:
    start = 1_795_771_200.25  # 2026-11-27T09:20:00.250Z
    line = describe(Invocation(function="fn", trigger="timer:nightly", request_id="r-1", start=start,
                               duration_ms=12.5))
    stamp = line.split()[0]
    assert stamp == "2026-11-27T09:20:00.250Z"
    assert parsed(stamp).timestamp() == start
    assert line.split()[1:3] == ["fn", "timer:nightly"]


def test_rfc3339_now_is_utc_and_millisecond_exact() -> None:
    now = time.time()
    stamp = rfc3339(now)
    assert abs(parsed(stamp).timestamp() - now) < 0.001
    assert stamp.endswith("Z") and len(stamp.split(".")[1]) == 4  # three digits and Z

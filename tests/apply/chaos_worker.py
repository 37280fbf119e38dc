"""A long-lived apply instance for the chaos test: like an FC instance, it keeps its state between
invocations. Reads one payload path per stdin line, answers one JSON line per invocation:
{"ok": true, "outcomes": [...]} or {"ok": false, "errorType": ...}. Killed with SIGKILL at random."""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]  # applykit, fckit
from applykit import fc_context, load_handler  # noqa: E402

module = load_handler()
module.initialize(fc_context(8))
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    ctx = fc_context(float(sys.argv[1]) if len(sys.argv) > 1 else 8)
    try:
        outcomes = json.loads(module.handler(Path(line.strip()).read_bytes(), ctx))
        print(json.dumps({"ok": True, "outcomes": outcomes}), flush=True)
    except Exception as exc:  # noqa: BLE001 - the platform redelivers the batch
        print(json.dumps({"ok": False, "errorType": type(exc).__name__, "errorMessage": str(exc)}), flush=True)

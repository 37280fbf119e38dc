"""Run the apply handler once in this process (for tests that need a separate process: kill -9, several
instances at once). Usage: python run_handler.py PAYLOAD_FILE [TIMEOUT_S] [--go]. Environment configures
it; prints "ready" once initialised (with --go it then waits for a line on stdin before invoking), then the
outcomes (or {"errorType", "errorMessage"}) as one JSON line."""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]  # applykit, fckit
from applykit import fc_context, load_handler  # noqa: E402

args = [a for a in sys.argv[1:] if a != "--go"]
module = load_handler()
ctx = fc_context(float(args[1]) if len(args) > 1 else 30)
module.initialize(ctx)
print("ready", flush=True)
if "--go" in sys.argv:
    sys.stdin.readline()
try:
    print(module.handler(Path(args[0]).read_bytes(), ctx), flush=True)
except Exception as exc:  # noqa: BLE001 - reported to the parent test
    print(json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), flush=True)
    sys.exit(1)

"""Run the apply handler once in this process (for tests that need a separate process: kill -9, two
instances at once). Usage: python run_handler.py PAYLOAD_FILE [TIMEOUT_S]. Environment configures it;
prints the outcomes (or {"errorType", "errorMessage"}) as one JSON line."""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from applykit import fc_context, load_handler  # noqa: E402

module = load_handler()
ctx = fc_context(float(sys.argv[2]) if len(sys.argv) > 2 else 30)
module.initialize(ctx)
print("ready", flush=True)
try:
    print(module.handler(Path(sys.argv[1]).read_bytes(), ctx), flush=True)
except Exception as exc:  # noqa: BLE001 - reported to the parent test
    print(json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), flush=True)
    sys.exit(1)

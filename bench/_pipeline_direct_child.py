"""Child of bench_pipeline.py: the apply handler called directly in a process of its own (as the pipeline's
worker is), against the emulator the environment points at. Reads one JSON array of changes per stdin line,
answers one JSON line per array: {"seconds": handler time, "applied": n}."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from localcloud.invoke import FCContext, FunctionMeta, load_module


def main() -> int:
    code_dir, name, timeout = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    meta = FunctionMeta(name=name, timeout=timeout)
    module = load_module(code_dir, "bench_direct_apply")
    module.initialize(FCContext("init", meta))
    for n, line in enumerate(sys.stdin):
        body = line.strip().encode()
        t0 = time.perf_counter()
        out = json.loads(module.handler(body, FCContext(f"direct-{n}", meta)))
        seconds = time.perf_counter() - t0
        applied = sum(1 for o in out if o["data"]["status"] == "applied")
        print(json.dumps({"seconds": seconds, "applied": applied}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

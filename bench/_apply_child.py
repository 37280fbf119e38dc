"""Fresh-process half of bench/bench_apply.py's peak-RSS figure (not run by ``make bench`` itself: no
``bench_`` prefix). The cold-start figure uses bench/_coldstart_child.py (initialize, the sample batch).

    python bench/_apply_child.py EVENT_FILE

Loads ``functions/apply_egress_rule/index.py`` the way FC does (from its file), invokes ``handler`` once with
the bytes of EVENT_FILE, and prints one JSON line: time to import the handler, time of the invocation, peak
RSS (``ru_maxrss``, KiB on Linux) and the outcome statuses. Configuration comes from the environment the
parent sets (SGRULE_*, ALIBABA_CLOUD_*). Only stdlib is imported before the handler, so the process's cost
is the handler's.
"""
from __future__ import annotations

import time

T0 = time.perf_counter()

import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402

INDEX = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "functions", "apply_egress_rule", "index.py")


class _Function:
    name = "apply_egress_rule"
    memory = 512
    timeout = 120


class _Context:
    request_id = "bench-child"
    function = _Function()


def main() -> int:
    path = sys.argv[1]
    with open(path, "rb") as fh:
        event = fh.read()
    t1 = time.perf_counter()
    spec = importlib.util.spec_from_file_location("index", INDEX)
    assert spec is not None and spec.loader is not None
    index = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(index)
    t2 = time.perf_counter()
    result = index.handler(event, _Context())
    t3 = time.perf_counter()
    outcomes = json.loads(result)
    statuses: dict[str, int] = {}
    for o in outcomes:
        s = o["data"]["status"]
        statuses[s] = statuses.get(s, 0) + 1
    print(json.dumps({"start_s": T0, "import_s": t2 - t1, "handle_s": t3 - t2,
                      "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "statuses": statuses, "modules": len(sys.modules)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fresh-process half of bench/bench_webhook.py (not run by ``make bench`` itself: no ``bench_`` prefix).

    python bench/_webhook_child.py EVENT_FILE

Loads ``functions/ticket_webhook/index.py`` the way FC does (from its file), runs ``initialize`` and then
``handler`` once with the HTTP trigger event in EVENT_FILE, and prints one JSON line: the times to import,
initialize and answer, and the answer's status. Configuration comes from the environment the parent sets.
Only stdlib is imported before the handler, so the process's cost is the function's.
"""
from __future__ import annotations

import time

T0 = time.perf_counter()

import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

INDEX = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "functions", "ticket_webhook",
                     "index.py")


class _Function:
    name = "ticket_webhook"
    memory = 256
    timeout = 10


class _Context:
    request_id = "bench-child"
    function = _Function()


def main() -> int:
    with open(sys.argv[1], "rb") as fh:
        event = fh.read()
    spec = importlib.util.spec_from_file_location("ticket_webhook_index", INDEX)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    t_import = time.perf_counter()
    module.initialize(_Context())
    t_init = time.perf_counter()
    answer = module.handler(event, _Context())
    t_done = time.perf_counter()
    print(json.dumps({"import_s": t_import - T0, "initialize_s": t_init - t_import, "request_s": t_done - t_init,
                      "status": answer["statusCode"]}))
    return 0 if answer["statusCode"] == 202 else 1


if __name__ == "__main__":
    sys.exit(main())

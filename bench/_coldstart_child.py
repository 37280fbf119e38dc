"""Fresh-process half of bench/bench_coldstart.py (not run by ``make bench`` itself: no ``bench_`` prefix).

    python bench/_coldstart_child.py FUNCTION EVENT_FILE [CODE_DIR]
    python3.12 -B -I -S bench/_coldstart_child.py FUNCTION EVENT_FILE CODE_DIR    # as FC runs the zip

What a cold FC instance of FUNCTION pays: loads its ``index.py`` -- from CODE_DIR (an unpacked code zip, put
first on the path and imported as FC's runtime does, ``import index``) or else from ``functions/FUNCTION/`` --
calls ``initialize`` if the function has one, then ``handler`` once with the bytes of EVENT_FILE, and prints
one JSON line: the times to import, initialize and invoke, the handler's result, the modules loaded, the
process's own CPU time and, with CODE_DIR, every module file loaded from outside it and the standard library
(there must be none: what runs is what ships). Configuration comes from the environment the parent sets (SGRULE_*,
ALIBABA_CLOUD_*), as FC passes it. Only the standard library is imported before the handler, so the process's
cost is the function's.
"""
from __future__ import annotations

import time

T0 = time.perf_counter()

import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import sysconfig  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Function:
    def __init__(self, name: str) -> None:
        self.name = name
        self.memory = 512
        self.timeout = 60


class _Context:
    """What FC passes as ``context`` (the parts sgrule reads)."""

    def __init__(self, name: str) -> None:
        self.request_id = f"coldstart-{os.getpid()}"
        self.function = _Function(name)
        self.region = os.environ.get("SGRULE_REGION", "cn-hangzhou")


def main() -> int:
    name, path = sys.argv[1], sys.argv[2]
    code = sys.argv[3] if len(sys.argv) > 3 else None
    with open(path, "rb") as fh:
        event = fh.read()
    t1 = time.perf_counter()
    if code:
        sys.path.insert(0, code)
        import index  # type: ignore[import-not-found]  # noqa: PLC0415 - the zip's entry point, as FC loads it
    else:
        spec = importlib.util.spec_from_file_location("index", os.path.join(ROOT, "functions", name, "index.py"))
        assert spec is not None and spec.loader is not None
        index = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(index)
    t2 = time.perf_counter()
    context = _Context(name)
    if hasattr(index, "initialize"):
        index.initialize(context)
    t3 = time.perf_counter()
    result = index.handler(event, context)
    t4 = time.perf_counter()
    if isinstance(result, (bytes, str)):
        result = json.loads(result)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    outside: list[str] = []
    if code:
        paths = sysconfig.get_paths()
        inside = (os.path.abspath(code), paths["stdlib"], paths["platstdlib"], os.path.abspath(__file__))
        outside = sorted({m.__file__ for m in list(sys.modules.values())
                          if getattr(m, "__file__", None) and not os.path.abspath(m.__file__).startswith(inside)})
    print(json.dumps({"outside": outside,"start_s": t1 - T0, "import_s": t2 - t1, "initialize_s": t3 - t2, "invoke_s": t4 - t3,
                      "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss,
                      "modules": len(sys.modules), "result": result}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

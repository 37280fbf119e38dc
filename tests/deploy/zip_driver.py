"""Run one function from its unpacked code zip, as FC would: ``python -I -S zip_driver.py CODE EVENT NAME``.

Started by test_package.py in a clean interpreter (isolated mode, no site-packages): the only importable
code besides the standard library is the folder CODE -- the zip's contents. Calls ``index.initialize`` (if
the function has one) and ``index.handler`` with the event's bytes and an FC-like context, then prints one
JSON line: the handler's result, and every module file loaded from outside CODE and the standard library
(there must be none).
"""
import json
import sys
import sysconfig
import types
import uuid

code, event_path, name = sys.argv[1:4]
sys.path.insert(0, code)
assert not any("site-packages" in p for p in sys.path[1:]), sys.path

import index  # noqa: E402  (the function's entry point, from the zip)

context = types.SimpleNamespace(
    request_id=str(uuid.uuid4()), region="cn-hangzhou", account_id="1234567890123456",
    function=types.SimpleNamespace(name=name, handler="index.handler", memory=256, timeout=60))
if hasattr(index, "initialize"):
    index.initialize(context)
with open(event_path, "rb") as f:
    result = index.handler(f.read(), context)
if isinstance(result, bytes):
    result = result.decode("utf-8")
if isinstance(result, str):
    try:
        result = json.loads(result)
    except ValueError:
        pass

stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
outside = sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)
                  and m.__file__ != __file__ and not m.__file__.startswith((code, *stdlib))})  # not this script
print(json.dumps({"result": result, "outside": outside,
                  "sgrule": sys.modules["sgrule"].__file__,
                  "localcloud": sorted(n for n in sys.modules if n.split(".")[0] in ("localcloud", "tests"))}))
sys.stdout.flush()

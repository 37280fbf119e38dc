"""Deferred modules (sgrule.runtime.lazy): imported for nothing, run once on first use, from any thread.

Each case runs in a fresh interpreter (the mechanism changes sys.modules), on small packages written to a
temporary directory: ``counter`` counts how often a deferred module's code ran.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

MODULES = {
    "counter.py": "runs = 0\n",
    "heavy.py": """
        import counter
        counter.runs += 1

        class Session:
            pass

        class Response:
            pass

        VALUE = 42
        """,
    # Reads heavy's names at import only to annotate, as darabonba does with aiohttp's.
    "annotating.py": """
        import heavy
        from heavy import Response

        def handle(session: heavy.Session, response: Response) -> int:
            return 1
        """,
    "broken.py": "raise RuntimeError('broken at import')\n",
    "pkg/__init__.py": "import counter\ncounter.runs += 100\n",
    "pkg/sub.py": "import counter\ncounter.runs += 1\nVALUE = 'sub'\n",
}


def run(tmp_path: Path, code: str, env: dict[str, str] | None = None) -> Any:
    for name, text in MODULES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    script = "import json, sys, threading, types, typing\nfrom sgrule.runtime import lazy\nimport counter\n"
    proc = subprocess.run([sys.executable, "-c", script + textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path), **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_binds_without_running_and_the_first_use_runs_it_once(tmp_path: Path) -> None:
    out = run(tmp_path, """
        assert lazy.defer("heavy")
        import heavy                      # reads heavy.__spec__ (the import system's check): no run
        import heavy as again
        before = (counter.runs, heavy.__name__, heavy.__spec__.name, lazy.deferred_now())
        value = heavy.VALUE               # first use
        from heavy import VALUE           # later uses: the module as it is now
        after = (counter.runs, value, VALUE, type(sys.modules["heavy"]) is types.ModuleType, again is heavy,
                 lazy.is_deferred("heavy"))
        print(json.dumps([before, after]))
        """)
    assert out == [[0, "heavy", "heavy", ["heavy"]], [1, 42, 42, True, True, False]]


def test_first_use_from_many_threads_runs_the_module_once(tmp_path: Path) -> None:
    out = run(tmp_path, """
        lazy.defer("heavy")
        import heavy
        start = threading.Barrier(8)
        seen = []

        def use():
            start.wait()
            seen.append(heavy.VALUE)

        threads = [threading.Thread(target=use) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(json.dumps([counter.runs, seen]))
        """)
    assert out == [1, [42] * 8]


def test_names_read_only_to_annotate_are_forward_references_until_the_module_is_used(tmp_path: Path) -> None:
    out = run(tmp_path, """
        lazy.defer("heavy", annotations={"annotating": ["Session", "Response"]})
        import annotating
        during = (counter.runs, repr(annotating.Response), repr(annotating.handle.__annotations__["session"]))
        hints = typing.get_type_hints(annotating.handle)   # evaluated in annotating's globals: loads heavy
        import heavy
        after = (counter.runs, hints["session"] is heavy.Session, hints["response"] is heavy.Response,
                 annotating.handle(None, None))
        print(json.dumps([during, after]))
        """)
    assert out == [[0, "ForwardRef('heavy.Response')", "ForwardRef('heavy.Session')"], [1, True, True, 1]]


def test_outside_the_importing_module_an_annotated_name_loads_the_real_module(tmp_path: Path) -> None:
    out = run(tmp_path, """
        lazy.defer("heavy", annotations={"annotating": ["Session"]})
        import heavy
        session = heavy.Session          # not inside annotating's import: the real class
        print(json.dumps([counter.runs, session.__name__, isinstance(session, type)]))
        """)
    assert out == [1, "Session", True]


def test_a_module_that_fails_raises_where_it_is_used_and_is_forgotten(tmp_path: Path) -> None:
    out = run(tmp_path, """
        lazy.defer("broken")
        import broken
        errors = []
        try:
            broken.anything
        except RuntimeError as exc:
            errors.append(str(exc))
        gone = "broken" not in sys.modules
        try:
            import broken               # an ordinary import now: the same error
        except RuntimeError as exc:
            errors.append(str(exc))
        print(json.dumps([errors, gone]))
        """)
    assert out == [["broken at import", "broken at import"], True]


def test_defer_refuses_what_is_imported_or_missing_and_never_imports_a_package(tmp_path: Path) -> None:
    out = run(tmp_path, """
        import json as j
        refused = [lazy.defer("json"), lazy.defer("no_such_module_anywhere"), lazy.defer("pkg.sub")]
        package_ran = "pkg" in sys.modules or counter.runs   # refusing pkg.sub did not import pkg
        import pkg                       # with its package imported, a submodule can be deferred
        deferred = lazy.defer("pkg.sub")
        import pkg.sub
        mid = counter.runs
        value = pkg.sub.VALUE
        print(json.dumps([refused, bool(package_ran), deferred, mid, counter.runs, value]))
        """)
    assert out == [[False, False, False], False, True, 100, 101, "sub"]


SDK_ASYNC = """
import asyncio, json, os, sys, typing
from sgrule.runtime import lazy
import sgrule.clients                                  # defers the SDKs' async transport
from sgrule.clients.ecs import make_client
from sgrule.runtime.config import CommonSettings

deferred_at_start = lazy.is_deferred("aiohttp")
client = make_client(CommonSettings(), "cn-hangzhou")
from alibabacloud_ecs20140526.models import DescribeSecurityGroupsRequest
from darabonba.runtime import RuntimeOptions
request = DescribeSecurityGroupsRequest(region_id="cn-hangzhou")
sync_ids = [g.security_group_id for g in client.describe_security_groups(request).body.security_groups.security_group]
deferred_after_sync = lazy.is_deferred("aiohttp")
body = asyncio.run(client.describe_security_groups_with_options_async(request, RuntimeOptions())).body
async_ids = [g.security_group_id for g in body.security_groups.security_group]
import aiohttp
from darabonba.utils.stream import SSEResponseWrapper
hints = typing.get_type_hints(SSEResponseWrapper.__init__)
print(json.dumps({"deferred_at_start": deferred_at_start, "deferred_after_sync": deferred_after_sync,
                  "sync": sync_ids, "async": async_ids, "aiohttp_loaded": "aiohttp.client" in sys.modules,
                  "hints_real": hints["session"] is aiohttp.ClientSession and hints["response"] is aiohttp.ClientResponse}))
"""


def sdk_env(localcloud: Any, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SGRULE_")}
    env.update(ALIBABA_CLOUD_ACCESS_KEY_ID=localcloud.access_key_id,
               ALIBABA_CLOUD_ACCESS_KEY_SECRET=localcloud.access_key_secret,
               ALIBABA_CLOUD_ECS_METADATA_DISABLED="true", SGRULE_ECS_ENDPOINT=localcloud.endpoint, **extra)
    return env


def test_the_sdk_async_path_still_works_and_loads_aiohttp_when_it_first_needs_it(localcloud: Any,
                                                                                 ecs_seed: Any) -> None:
    group = ecs_seed.group(name="async-path")
    proc = subprocess.run([sys.executable, "-c", SDK_ASYNC], capture_output=True, text=True, env=sdk_env(localcloud))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["deferred_at_start"] and out["deferred_after_sync"]  # the synchronous call never touched it
    assert out["sync"] == out["async"] == [group]
    assert out["aiohttp_loaded"] and out["hints_real"]


@pytest.mark.parametrize("switch", ["1", "0"])
def test_sgrule_lazy_sdk_models_0_imports_the_sdks_as_they_come(switch: str) -> None:
    code = ("import sys, json; import sgrule.clients; import alibabacloud_tea_openapi.client; "
            "from sgrule.runtime import lazy; "
            "print(json.dumps([lazy.is_deferred('aiohttp'), 'aiohttp.client' in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "SGRULE_LAZY_SDK_MODELS": switch})
    assert json.loads(proc.stdout) == ([True, False] if switch == "1" else [False, True])

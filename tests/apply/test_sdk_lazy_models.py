"""The lazy SDK-model loading (sgrule.sdk) hands the official client exactly the official classes."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

SCRIPT = """
import json, sys
from sgrule.runtime.sdk import lazy_models
pkg = sys.argv[1]
assert lazy_models(pkg)
lazy = sys.modules[pkg + ".models"]
names = list(lazy.__all__)
resolved = {n: getattr(lazy, n).__module__ for n in names}
print(json.dumps({"names": sorted(names), "loaded": len([m for m in sys.modules if m.startswith(pkg + ".models.")]),
                  "resolved": len(resolved)}))
"""
EAGER = """
import json, sys, importlib
m = importlib.import_module(sys.argv[1] + ".models")
print(json.dumps(sorted(n for n in dir(m) if not n.startswith("_") and isinstance(getattr(m, n), type))))
"""


@pytest.mark.parametrize("pkg", ["alibabacloud_ecs20140526", "alibabacloud_eventbridge20200401"])
def test_lazy_models_resolve_every_name_the_eager_package_exports(pkg: str) -> None:
    lazy = json.loads(subprocess.run([sys.executable, "-c", SCRIPT, pkg], capture_output=True, text=True,
                                     check=True).stdout)
    eager = json.loads(subprocess.run([sys.executable, "-c", EAGER, pkg], capture_output=True, text=True,
                                      check=True).stdout)
    assert lazy["names"] == eager
    assert lazy["resolved"] == len(eager)


def test_importing_the_handler_loads_only_the_models_it_uses() -> None:
    code = ("import sys; sys.path.insert(0, 'functions/apply_egress_rule'); import index; "
            "from sgrule.clients.ecs import make_client; from sgrule.apply.config import ApplySettings as Settings; "
            "make_client(Settings(ALIBABA_CLOUD_ACCESS_KEY_ID='a', ALIBABA_CLOUD_ACCESS_KEY_SECRET='b')); "
            "print(len([m for m in sys.modules if m.startswith('alibabacloud_ecs20140526.models.')]))")
    loaded = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert loaded < 20  # of ~1,150: a cold start pays for what it calls


def test_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    code = "from sgrule.runtime.sdk import lazy_models; print(lazy_models('alibabacloud_ecs20140526'))"
    env = {"SGRULE_LAZY_SDK_MODELS": "0"}
    import os
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, **env}).stdout.strip()
    assert out == "False"

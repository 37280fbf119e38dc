"""What every function's tests share: its entry point loaded as FC loads it, an FC-like context, and the
environment that points it at localcloud. (The per-function kits -- applykit, normkit, webhookkit -- build
on this; scripts run in a process of their own put this folder on ``sys.path`` first.)"""
from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from localcloud.template import read_local_run

ROOT = Path(__file__).resolve().parents[1]
_ids = itertools.count(1)
# product -> the variable that points a function's client at it: what the template declares for a local run.
ENDPOINTS = read_local_run(ROOT / "template.yml").endpoint_variables


def load_function(name: str) -> ModuleType:
    """``functions/<name>/index.py`` as a module of its own, as FC loads it."""
    spec = importlib.util.spec_from_file_location(f"fn_{name}", ROOT / "functions" / name / "index.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def fc_context(name: str, timeout: float = 30, *, memory: int = 128, request_id: str | None = None,
               region: str = "cn-hangzhou", account_id: str = "1234567890123456") -> Any:
    """The fields of FC's context the functions read."""
    return SimpleNamespace(request_id=request_id or f"req-{next(_ids)}", region=region, account_id=account_id,
                           function=SimpleNamespace(name=name, memory=memory, timeout=timeout))


def cloud_env(localcloud: Any, tmp_path: Path, **overrides: str) -> dict[str, str]:
    """A function's environment pointed at localcloud: its key, its ECS and EventBridge, the default bus, a
    SQLite store of the test's own, everything allowed, fast retries. ``overrides`` win."""
    return {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": localcloud.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": localcloud.access_key_secret,
        **{ENDPOINTS[product]: localcloud.endpoint for product in ("ecs", "eventbridge")},
        "SGRULE_OUTCOME_BUS": "default",
        "SGRULE_IDEMPOTENCY_URL": f"sqlite:///{tmp_path}/idempotency.sqlite3",
        "SGRULE_ALLOWED_REGIONS": "*",
        "SGRULE_ALLOWED_SECURITY_GROUPS": "*",
        "SGRULE_RETRY_BASE_MS": "5",
        "SGRULE_RETRY_CAP_MS": "50",
        "SGRULE_TIME_RESERVE_MS": "500",
        **overrides,
    }

"""The test-only application (tests/localcloud/fcapp/template.yml), started once for the localcloud tests that
need functions, triggers and rules. Its sink functions write what they receive to files under a temp dir."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FCAPP = Path(__file__).resolve().parent / "fcapp" / "template.yml"


class Sink:
    def __init__(self, path: Path) -> None:
        self.path = path

    def events(self, suffix: str = "") -> list[dict[str, Any]]:
        p = Path(str(self.path) + suffix)
        if not p.exists():
            return []
        return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def fcapp_sink(tmp_path_factory: pytest.TempPathFactory) -> Sink:
    return Sink(tmp_path_factory.mktemp("fcapp") / "sink.jsonl")


@pytest.fixture(scope="session")
def fcapp(localcloud_app_factory: Any, fcapp_sink: Sink) -> Any:
    """AppHandle of the test application (functions t-echo, t-boom, t-sleepy, t-sink, t-tick, t-web)."""
    return localcloud_app_factory(FCAPP, {"SinkFile": str(fcapp_sink.path)}, retry_base_s=0.05)

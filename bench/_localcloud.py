"""What the benchmark scripts share: localcloud in a process of its own (``python -m localcloud start --port 0``,
whose first stdout line says where it listens; its CPU is apart from the benchmark's own), and the cold-start
baseline every script compares with."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# What any function would pay just to import pydantic and an official Alibaba Cloud client.
BASELINE_IMPORT = "import pydantic, alibabacloud_ecs20140526.client"


class BenchError(RuntimeError):
    """Something a benchmark needs failed to run (not a figure that missed its target)."""


class LocalCloudProcess:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "localcloud", "start", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise BenchError("localcloud did not start")
        self.info: dict[str, Any] = json.loads(line)
        from localcloud.control_client import ControlClient

        self.control = ControlClient(self.info["endpoint"], self.info["accessKeyId"], self.info["accessKeySecret"])

    @property
    def endpoint(self) -> str:
        return str(self.info["endpoint"])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

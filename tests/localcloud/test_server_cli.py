"""``python -m localcloud start``: first stdout line is JSON, the SDK can use it, SIGTERM stops it cleanly."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from localcloud.cli import main


def start(*args: str) -> tuple[subprocess.Popen[str], dict]:
    env = dict(os.environ, ALIBABA_CLOUD_ECS_METADATA_DISABLED="true")
    proc = subprocess.Popen([sys.executable, "-m", "localcloud", "start", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail(f"no first line; stderr: {proc.communicate()[1]}")
    return proc, json.loads(line)


def test_runner_first_line_sdk_call_and_sigterm(tmp_path: Path) -> None:
    from alibabacloud_eventbridge20200401 import models as eb
    from alibabacloud_eventbridge20200401.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    proc, info = start("--bus", "ops", "--access-key-id", "AK-cli", "--access-key-secret", "SK-cli")
    try:
        assert set(info) >= {"endpoint", "ecs", "eventbridge", "accessKeyId", "accessKeySecret", "pid"}
        assert info["pid"] == proc.pid
        assert (info["accessKeyId"], info["accessKeySecret"]) == ("AK-cli", "SK-cli")
        client = Client(Config(access_key_id=info["accessKeyId"], access_key_secret=info["accessKeySecret"],
                               endpoint=info["eventbridge"].removeprefix("http://"), protocol="http",
                               region_id="cn-hangzhou"))
        body = client.put_events(eb.PutEventsRequest(event_bus_name="ops", event_list=[
            eb.PutEventsRequestEventList(id="cli-1", source="s", type="t")])).body
        assert body.data.failed_entry_count == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_runner_loads_state_file(tmp_path: Path) -> None:
    from localcloud.control_client import ControlClient

    state = tmp_path / "state.json"
    state.write_text(json.dumps({"eventbridge": {"buses": [{"name": "from-file"}], "events": []}}))
    proc, info = start("--state", str(state))
    try:
        names = [b["name"] for b in ControlClient(info["endpoint"]).state()["eventbridge"]["buses"]]
        assert "from-file" in names
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_bad_state_file_exits_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["start", "--state", str(tmp_path / "missing.json")]) == 2
    assert "cannot read --state" in capsys.readouterr().err


def test_help_and_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["start", "--help"])
    assert info.value.code == 0
    assert "--bus NAME" in capsys.readouterr().out
    assert main([]) == 2


def test_a_port_in_use_says_what_to_do() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = subprocess.run([sys.executable, "-m", "localcloud", "start", "--port", str(port)], capture_output=True,
                             text=True, timeout=60)
    assert res.returncode == 1 and res.stdout == ""
    assert "give another --port, or --port 0 for a free one" in res.stderr

"""The application starts from its template and stops cleanly: no worker process outlives it, in-process
or as ``local start --template`` (SIGTERM)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from localcloud.app import LocalApp
from localcloud.fc.models import functions_from
from localcloud.template import Resource, TemplateError, load_template

FCAPP = Path(__file__).resolve().parent / "fcapp" / "template.yml"


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_stop_leaves_no_worker_process_even_mid_invocation(tmp_path: Path) -> None:
    app = LocalApp(FCAPP, {"SinkFile": str(tmp_path / "sink"), "Prefix": "life"}, retry_base_s=0.05)
    app.start()
    try:
        app.invoker.invoke("life-echo", b"a")
        app.invoker.invoke("life-boom", b"b")
        started = threading.Event()
        busy = threading.Thread(target=lambda: (started.set(), app.invoker.invoke("life-sleepy", b"0.8")))
        busy.start()
        started.wait(5)
        pids = set(app.worker_pids())
        assert len(pids) >= 2 and pids <= _children(os.getpid())
    finally:
        app.stop()
    busy.join(10)
    assert not busy.is_alive()
    assert all(_gone(pid) for pid in pids), "a worker process survived stop()"
    assert not (pids & _children(os.getpid()))


def test_local_start_with_a_template_prints_endpoints_logs_invocations_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = dict(os.environ, ALIBABA_CLOUD_ECS_METADATA_DISABLED="true")
    proc = subprocess.Popen([sys.executable, "-m", "localcloud", "start", "--port", "0", "--template", str(FCAPP),
                             "--param", f"SinkFile={tmp_path / 'sink'}", "--param", "Prefix=cli"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    try:
        info = json.loads(proc.stdout.readline())
        assert set(info) >= {"endpoint", "ecs", "eventbridge", "mns", "fc", "http"}
        assert info["fc"] == info["endpoint"] and set(info["http"]) == {"cli-web"}
        with urllib.request.urlopen(info["http"]["cli-web"] + "/ping?plain=1", data=b"{}") as resp:
            assert resp.read() == b"just text"
        workers = _children(proc.pid)
        assert workers, "the HTTP invocation started no worker"
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "cli-web" in line and "http:web" in line]
    assert lines and lines[0].split()[-2:] == ["ok", "cold"]
    assert all(_gone(pid) for pid in workers)


def test_a_bad_template_is_a_clear_error_exit_2(tmp_path: Path) -> None:
    env = dict(os.environ, ALIBABA_CLOUD_ECS_METADATA_DISABLED="true")
    done = subprocess.run([sys.executable, "-m", "localcloud", "start", "--template", str(FCAPP)],
                          capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 2
    assert "--param SinkFile=..." in done.stderr and done.stdout == ""


def _instances_for_six_async_runs(tmp_path: Path, reserved: int | None) -> int:
    template = load_template(FCAPP, {"SinkFile": str(tmp_path / "sink"), "Prefix": "fleet"})
    if reserved is not None:
        template.resources["Reserve"] = Resource("Reserve", "ALIYUN::FC3::ConcurrencyConfig",
                                                 {"FunctionName": "fleet-sleepy", "ReservedConcurrency": reserved})
    app = LocalApp(template, retry_base_s=0.05, max_instances=6)
    app.start()
    try:
        for _ in range(6):
            app.dispatcher.submit("fleet-sleepy", b"0.8")
        assert app.wait_idle(30)
        runs = app.fc.invocations.list("fleet-sleepy")
        assert len(runs) == 6 and all(r.error_type is None for r in runs)
        return len({r.instance_id for r in runs})
    finally:
        app.stop()


def test_async_invocations_scale_out_to_the_function_s_instances(tmp_path: Path) -> None:
    """FC runs queued async invocations on as many instances as the function may have (a queue trigger with
    asyncInvocationType true hands its batches over this way), not on a fixed few; the function's
    ALIYUN::FC3::ConcurrencyConfig (reserved concurrency) bounds them."""
    assert _instances_for_six_async_runs(tmp_path, None) == 6  # all six at once: none waited for an instance
    assert _instances_for_six_async_runs(tmp_path, 2) == 2


@pytest.mark.parametrize("value", [0, -1, "many", True, None])
def test_a_bad_reserved_concurrency_is_a_template_error(value: object) -> None:
    template = load_template(FCAPP, {"SinkFile": "/dev/null", "Prefix": "bad"})
    template.resources["Reserve"] = Resource("Reserve", "ALIYUN::FC3::ConcurrencyConfig",
                                             {"FunctionName": "bad-sleepy", "ReservedConcurrency": value})
    with pytest.raises(TemplateError, match="ReservedConcurrency"):
        functions_from(template)
    template.resources["Reserve"].properties.update(FunctionName="nope", ReservedConcurrency=2)
    with pytest.raises(TemplateError, match="ConcurrencyConfig for unknown function"):
        functions_from(template)

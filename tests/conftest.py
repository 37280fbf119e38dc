"""Project-wide fixtures. ``redis_url``: the real Redis the Redis tests use; never a silent skip in CI.

Which Redis, decided once per session: ``SGRULE_TEST_REDIS_URL`` (or the default db 15 on localhost) when it
answers; else a ``redis-server`` this session starts on a free port (stopped at the end); else none -- the
Redis tests are skipped (one summary line), or fail when ``SGRULE_REQUIRE_REDIS=1`` (CI).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any, Callable, Iterator

import pytest

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_down(url: str) -> str | None:
    """Why the Redis at ``url`` cannot be used (None: it answers)."""
    import redis
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        client.ping()
        client.close()
        return None
    except Exception as exc:  # noqa: BLE001 - connection refused, auth, bad URL: all mean "no Redis to test on"
        return f"{type(exc).__name__}: {exc}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _SessionRedis:
    """The Redis of this test session: found, started by us, or missing (with the reason)."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.why_missing: str | None = None
        self.note = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def find_or_start(self) -> None:
        url = os.environ.get("SGRULE_TEST_REDIS_URL") or DEFAULT_REDIS_URL
        why = _redis_down(url)
        if why is None:
            self.url, self.note = url, f"redis: {url} (running)"
            return
        server = shutil.which("redis-server")
        if server is None:
            self.why_missing = f"Redis at {url} is unreachable ({why}) and redis-server is not installed"
            self.note = f"redis: none -- {self.why_missing}"
            return
        port = _free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="sgrule-redis-")
        self._proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no", "--dir", self._dir.name],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started = f"redis://127.0.0.1:{port}/15"
        deadline = time.monotonic() + 10
        while _redis_down(started) is not None:  # waiting for a process we started to listen
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                self.why_missing = f"Redis at {url} is unreachable ({why}) and redis-server did not start"
                self.note = f"redis: none -- {self.why_missing}"
                return
            time.sleep(0.05)
        self.url, self.note = started, f"redis: started redis-server on 127.0.0.1:{port} for this session"

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()  # only the server this session started
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


_REDIS = _SessionRedis()
_SKIPPED: list[str] = []


def _needs_redis(item: pytest.Item) -> bool:
    return "redis_url" in getattr(item, "fixturenames", ()) or item.get_closest_marker("redis") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Find or start the session's Redis when a selected test needs one. With none (and not in CI) the
    Redis tests are left out here, so the run says so in one line instead of one skip line per test."""
    redis_items = [item for item in items if _needs_redis(item)]
    if not redis_items:
        return
    _REDIS.find_or_start()
    if _REDIS.url is None and os.environ.get("SGRULE_REQUIRE_REDIS") != "1":
        _SKIPPED.extend(item.nodeid for item in redis_items)
        items[:] = [item for item in items if not _needs_redis(item)]
        config.hook.pytest_deselected(items=redis_items)


def pytest_unconfigure(config: pytest.Config) -> None:
    _REDIS.stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    return _REDIS.note or None


@pytest.fixture
def redis_url() -> str:
    """A Redis URL for the test (see the module doc); fails under CI (SGRULE_REQUIRE_REDIS=1) when there is
    none, where a silent skip would hide that the Redis backend went untested."""
    if _REDIS.url is None:
        msg = _REDIS.why_missing or "no Redis"
        if os.environ.get("SGRULE_REQUIRE_REDIS") == "1":
            pytest.fail(f"{msg}, and SGRULE_REQUIRE_REDIS=1 requires the Redis tests to run", pytrace=False)
        pytest.skip(msg)
    return _REDIS.url


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _SKIPPED:
        terminalreporter.write_line(f"{len(_SKIPPED)} Redis test(s) skipped: {_REDIS.why_missing}; install "
                                    "redis-server or set SGRULE_TEST_REDIS_URL to run them")
    elif _REDIS.url is not None:
        terminalreporter.write_line(_REDIS.note)


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., dict[str, str]]]:
    """``function_env(env, drop=())``: set a function's environment for this test (``drop``: variables to
    unset) on a fresh FC instance, so the next invocation builds its clients and store from it; the
    instance is forgotten again afterwards."""
    from sgrule.runtime import instance

    def use(env: dict[str, str], drop: tuple[str, ...] = ()) -> dict[str, str]:
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        for k in drop:
            monkeypatch.delenv(k, raising=False)
        instance.reset()
        return env

    yield use
    instance.reset()

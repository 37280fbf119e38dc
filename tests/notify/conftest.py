"""Fixtures for the notify function: a local Jira (localcloud.jira), a local callback receiver, the real
FC entry point with targets pointing at them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from fckit import fc_context, load_function
from notifykit import CALLBACK_SECRET, JIRA_TOKEN, JIRA_USER, Receiver

from localcloud.jira import LocalJira


@pytest.fixture
def jira() -> Iterator[LocalJira]:
    with LocalJira(users={JIRA_USER: JIRA_TOKEN}, issues=["SEC-1042", "SEC-7"]) as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def notify_env(function_env: Any, tmp_path: Path, jira: LocalJira, receiver: Receiver) -> dict[str, str]:
    targets = [{"sender": "jira", "kind": "jira", "url": jira.url, "user": JIRA_USER, "token": JIRA_TOKEN},
               {"sender": "pd", "kind": "callback", "url": receiver.url, "secret": CALLBACK_SECRET},
               {"sender": "zd", "kind": "jira", "url": jira.url, "user": JIRA_USER, "token": JIRA_TOKEN,
                "statuses": ["rejected", "failed"]}]
    env = {"SGRULE_NOTIFY_TARGETS": json.dumps(targets),
           "SGRULE_IDEMPOTENCY_URL": f"sqlite:///{tmp_path}/idempotency.sqlite3",
           "SGRULE_RETRY_BASE_MS": "5", "SGRULE_RETRY_CAP_MS": "20", "SGRULE_TIME_RESERVE_MS": "200"}
    return function_env(env)


@pytest.fixture
def notify(notify_env: dict[str, str]) -> Callable[..., dict[str, int]]:
    """Invoke the real entry point with outcome events (as FC passes them: bytes); returns its summary."""
    module = load_function("ticket_notify")

    def _notify(event: Any, timeout: float = 10) -> dict[str, int]:
        ctx = fc_context("ticket_notify", timeout, request_id="notify-req")
        module.initialize(ctx)
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        return json.loads(module.handler(body, ctx))

    return _notify

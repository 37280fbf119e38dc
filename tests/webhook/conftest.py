"""Fixtures for the ticket webhook: the real FC entry point, senders of every scheme, a SQLite store."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from webhookkit import Answer, fc_context, http_event, load_function, senders_config, sign



@pytest.fixture
def webhook_env(function_env: Any, tmp_path: Path) -> dict[str, str]:
    return function_env({
        "SGRULE_WEBHOOK_SENDERS": json.dumps(senders_config()),
        "SGRULE_IDEMPOTENCY_URL": f"sqlite:///{tmp_path}/idempotency.sqlite3",
        "SGRULE_ALLOWED_REGIONS": "cn-*",
        "SGRULE_ALLOWED_SECURITY_GROUPS": "sg-bp1*",
        "SGRULE_RETRY_BASE_MS": "5",
        "SGRULE_RETRY_CAP_MS": "50",
    })


@pytest.fixture
def webhook(webhook_env: dict[str, str]) -> Any:
    module = load_function("ticket_webhook")
    module.initialize(fc_context())
    return module


@pytest.fixture
def post(webhook: Any) -> Callable[..., Answer]:
    """Send ``body`` (bytes, or JSON-encoded) as ``sender`` with its signature; ``headers`` override or,
    with a None value, remove the signed ones."""

    def _post(sender: str, body: Any, *, headers: dict[str, str | None] | None = None, method: str = "POST",
              path: str | None = None, b64: bool = False, **sign_kw: Any) -> Answer:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        signed: dict[str, Any] = sign(sender, raw, **sign_kw)
        for k, v in (headers or {}).items():
            signed = {h: x for h, x in signed.items() if h.lower() != k.lower()}
            if v is not None:
                signed[k] = v
        event = http_event(path or f"/{sender}", raw, signed, method=method, b64=b64)
        return Answer(webhook.handler(event, fc_context()))

    return _post


@pytest.fixture
def queued(localcloud: Any, mns_account: Any, function_env: Any,
           webhook_env: dict[str, str]) -> Callable[[], list[dict[str, Any]]]:
    """Point the webhook at localcloud's MNS (a fresh change queue) and return ``drain()``: every message
    now visible on the queue, read back with the MNS SDK (received, decoded, deleted)."""
    from mns.mns_exception import MNSServerException
    from mns.queue import QueueMeta

    name = f"changes-{next(_queues)}"
    queue = mns_account.get_queue(name)
    queue.create(QueueMeta())
    function_env({"ALIBABA_CLOUD_ACCESS_KEY_ID": localcloud.access_key_id,
                  "ALIBABA_CLOUD_ACCESS_KEY_SECRET": localcloud.access_key_secret,
                  "SGRULE_MNS_ENDPOINT": localcloud.endpoint, "SGRULE_CHANGE_QUEUE": name,
                  "SGRULE_WEBHOOK_BUDGET_MS": "1500"}, drop=("ALIBABA_CLOUD_SECURITY_TOKEN",))

    def drain() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            try:
                messages = queue.batch_receive_message(16)
            except MNSServerException as exc:
                if exc.type == "MessageNotExist":
                    return out
                raise
            for m in messages:
                out.append(json.loads(m.message_body))
                queue.delete_message(m.receipt_handle)

    return drain


_queues = __import__("itertools").count(1)

"""An outcome to a callback URL, signed with Standard Webhooks (the ``standardwebhooks`` package): headers
``webhook-id`` (the outcome id: the receiver's idempotency key, the same on every retry), ``webhook-timestamp``
and ``webhook-signature``; the body is the outcome event as JSON. ``Idempotency-Key`` repeats the id for
receivers that use that header instead."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

from .config import Target
from .post import Poster


class Callback:
    def __init__(self, target: Target) -> None:
        from standardwebhooks import Webhook

        self.url = target.url
        self._webhook = Webhook(target.secret.get_secret_value() if target.secret else "")

    def post(self, outcome: dict[str, Any], poster: Poster) -> None:
        body = json.dumps(outcome, ensure_ascii=True, separators=(",", ":"))
        msg_id = str(outcome.get("id"))
        # Signed once per post: its retries end within this invocation, well inside a receiver's tolerance
        # (5 minutes), and stay byte-identical.
        moment = datetime.fromtimestamp(int(time.time()), tz=timezone.utc)
        headers = {"Content-Type": "application/json", "webhook-id": msg_id,
                   "webhook-timestamp": str(int(moment.timestamp())),
                   "webhook-signature": self._webhook.sign(msg_id, moment, body), "Idempotency-Key": msg_id}
        poster.send("POST", self.url, body.encode("ascii"), headers)

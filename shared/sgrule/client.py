"""For Python callers: apply rule changes synchronously through the apply function, with the official Function
Compute SDK (``alibabacloud_fc20230330``; ``pip install 'sgrule[client]'``).

    from sgrule.client import ApplyClient

    client = ApplyClient("sgrule-apply-egress-rule", account_id="1234567890123456", region_id="cn-hangzhou")
    [outcome] = client.apply({"specversion": "1.0", "id": "CHG-1", "source": "cmdb/sync", ...})
    outcome["data"]["status"]   # applied | unchanged | rejected | superseded | failed

The contract (README, "Workflows and callers"): the request is one rule-change event or a JSON array of them;
the response is the outcome array, one per change in request order. The function raises -- and
:meth:`ApplyClient.apply` raises :class:`ApplyError` -- only when it did not finish: ``InvocationError`` (the
payload has no known shape; nothing was processed: fix the request), ``RedeliveryNeeded`` (some changes are
still failing transiently; the others are done) or ``PublishError`` (the outcome bus refused). The last two
are :attr:`ApplyError.retryable`: send the *same* request again -- changes are idempotent by ``source`` and
``id``, finished ones answer their stored outcome, and after ``SGRULE_MAX_DELIVERIES`` deliveries a change
still failing ends ``failed``.

Credentials: the default chain of ``alibabacloud_credentials`` (environment variables, an instance or FC role,
a credentials file), or your own tea-openapi ``Config`` (``config=``), e.g. for a local emulator. The caller
needs ``fc:InvokeFunction`` on the function.
"""
from __future__ import annotations

import json
from typing import Any

from .contract.safe import NotJson, loads

RETRYABLE = frozenset({"RedeliveryNeeded", "PublishError"})


class ApplyError(RuntimeError):
    """The apply function did not finish the request (an FC error type and the handler's error)."""

    def __init__(self, error_type: str, handler_error: str | None, message: str, request_id: str | None) -> None:
        super().__init__(f"{handler_error or error_type}: {message}")
        self.error_type = error_type          # FC's X-Fc-Error-Type, e.g. UnhandledInvocationError
        self.handler_error = handler_error    # the exception the handler raised, e.g. RedeliveryNeeded
        self.message = message
        self.request_id = request_id

    @property
    def retryable(self) -> bool:
        """True when sending the same request again can finish it."""
        return self.handler_error in RETRYABLE


class ApplyClient:
    """Synchronous invocations of the apply function (``InvokeFunction``, ``x-fc-invocation-type: Sync``)."""

    def __init__(self, function_name: str = "sgrule-apply-egress-rule", *, account_id: str | None = None,
                 region_id: str = "cn-hangzhou", qualifier: str | None = None, config: Any = None,
                 read_timeout_ms: int = 130_000) -> None:
        from alibabacloud_fc20230330.client import Client

        if config is None:
            if not account_id:
                raise ValueError("account_id is required without a config (the FC endpoint is "
                                 "<account_id>.<region_id>.fc.aliyuncs.com)")
            from alibabacloud_credentials.client import Client as CredentialClient
            from alibabacloud_tea_openapi.utils_models import Config

            config = Config(credential=CredentialClient(), region_id=region_id,
                            endpoint=f"{account_id}.{region_id}.fc.aliyuncs.com")
        self.function_name = function_name
        self.qualifier = qualifier
        self.read_timeout_ms = read_timeout_ms  # above the function's timeout: a sync call waits for it
        self._client = Client(config)

    def invoke(self, payload: bytes) -> tuple[dict[str, str], bytes]:
        """One synchronous invocation: (response headers, body) as FC returns them."""
        from alibabacloud_fc20230330 import models
        from darabonba.runtime import RuntimeOptions

        response = self._client.invoke_function_with_options(
            self.function_name, models.InvokeFunctionRequest(body=payload, qualifier=self.qualifier),
            models.InvokeFunctionHeaders(x_fc_invocation_type="Sync", x_fc_log_type="None"),
            RuntimeOptions(read_timeout=self.read_timeout_ms, connect_timeout=5000))
        headers = {k.lower(): v for k, v in (response.headers or {}).items()}
        body = response.body
        return headers, body.read() if hasattr(body, "read") else (body or b"")

    def apply(self, changes: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Apply one change (a dict) or several (a list); returns their outcome events, in order."""
        payload = json.dumps(changes, ensure_ascii=False, allow_nan=False).encode("utf-8")
        headers, body = self.invoke(payload)
        request_id = headers.get("x-fc-request-id")
        if headers.get("x-fc-error-type"):
            try:
                detail = loads(body)
            except NotJson:
                detail = {}
            detail = detail if isinstance(detail, dict) else {}
            raise ApplyError(headers["x-fc-error-type"], detail.get("errorType"),
                             str(detail.get("errorMessage") or body[:500].decode("utf-8", "replace")), request_id)
        try:
            outcomes = loads(body)
        except NotJson as exc:
            raise ApplyError("InvalidResponse", None, f"the answer is not JSON: {exc}", request_id) from None
        if not isinstance(outcomes, list):
            raise ApplyError("InvalidResponse", None, f"expected the outcome array, got {type(outcomes).__name__}",
                             request_id)
        return outcomes

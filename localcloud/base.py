"""What every emulated service shares: the API error, and the interface a service offers the server."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol


class ApiError(Exception):
    """An error the server returns as the real API does: HTTP status + JSON body with Code/Message."""

    def __init__(self, status: int, code: str, message: str, recommend: str = "",
                 retry_after_ms: int | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.recommend = recommend
        self.retry_after_ms = retry_after_ms  # sent as x-acs-retry-after (throttling), in milliseconds


def new_request_id() -> str:
    return str(uuid.uuid4()).upper()


@dataclass
class CallContext:
    """Who is calling, resolved by the server from the verified signature."""

    account_id: str
    access_key_id: str
    request_id: str = field(default_factory=new_request_id)


class Service(Protocol):
    """One emulated product behind the server: ECS 2014-05-26 and EventBridge 2020-04-01 (RPC, selected by
    ``x-acs-version``), Function Compute 2023-03-30 (ROA, by path) and MNS 2015-06-06 (its own XML wire, by
    path and ``Authorization: MNS``). The local Jira is a server of its own (``localcloud.jira``), not one of
    these."""

    version: str

    def handle(self, action: str, params: dict[str, str], ctx: CallContext) -> dict[str, Any]:
        """Run one action. ``params`` are the decoded request parameters as strings (query and form body
        merged, flattened lists as sent: ``Permissions.1.PortRange``). Returns the JSON response body
        without ``RequestId`` (the server adds it); raises :class:`ApiError`."""
        ...

    def reset(self) -> None: ...

    def dump_state(self) -> dict[str, Any]: ...

    def load_state(self, state: dict[str, Any]) -> None: ...

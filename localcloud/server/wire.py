"""What travels between the HTTP server and a product: the request, the response, one parsed API call, and
the wire protocols that turn one into the other.

Alibaba Cloud products speak three wire styles, each a :class:`WireProtocol`:

- ``rpc``: ECS, EventBridge -- parameters in the query or a form body, routed by ``x-acs-action`` and
  ``x-acs-version``, ACS3 signature, JSON errors (``localcloud.server.rpc``);
- ``roa``: Function Compute 2023-03-30 -- routed by method and path, ACS3 signature over method, path,
  query, headers and body;
- ``mns``: MNS queues -- XML over REST, ``Authorization: MNS AK:signature`` (HMAC-SHA1), XML errors.

A protocol *parses* a request into a :class:`Call` (authenticated, with its action and parameters) and
*renders* a result or an :class:`~localcloud.base.ApiError` back. What happens between -- fault injection,
the call log, the service lock -- is the same for every product (``localcloud.server.dispatch``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

from localcloud.base import ApiError, CallContext, Service

if TYPE_CHECKING:
    from localcloud.calls import CallLog
    from localcloud.faults import FaultInjector
    from localcloud.signing import Credential

# x-acs-version -> the name used in state dumps and the control API.
SERVICE_NAMES = {"2014-05-26": "ecs", "2020-04-01": "eventbridge", "2015-06-06": "mns"}


class Cloud(Protocol):
    """What a wire protocol and the dispatch of a call use of the cloud (``localcloud.server.core.LocalCloud``)."""

    credentials: dict[str, Credential]
    services: dict[str, Service]
    calls: CallLog
    faults: FaultInjector

    @property
    def endpoint(self) -> str: ...
    def run(self, call: Call) -> Any: ...
    def service_for(self, version: str | None) -> Service | None: ...
    def rpc_versions(self) -> list[str]: ...


@dataclass
class HttpRequest:
    method: str
    path: str  # as sent, still percent-encoded
    raw_query: str
    headers: dict[str, list[str]]  # lower-case name -> every value received
    body: bytes
    client_ip: str = "127.0.0.1"

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class Dropped(Exception):
    """Close the connection without a reply (fault ``drop``)."""


@dataclass
class Call:
    """One authenticated API call on its way to a service."""

    service: Service
    action: str
    params: dict[str, Any]  # decoded request parameters: shown in the call log, matched by fault rules
    ctx: CallContext
    request: HttpRequest
    record: dict[str, Any]  # the call-log entry (the dict ``parse`` was given)
    invoke: Callable[[], Any] | None = None  # default: service.handle(action, params, ctx)


class WireProtocol(Protocol):
    """One wire style. ``matches`` picks the protocol for a request; the first that matches serves it."""

    name: str

    def matches(self, request: HttpRequest) -> bool: ...

    def parse(self, cloud: Cloud, request: HttpRequest, request_id: str, record: dict[str, Any]) -> Call:
        """Route, authenticate and decode; raise :class:`ApiError` for anything the product would refuse
        before running the action (bad signature, unknown action ...). Fill ``record`` (the call-log entry:
        ``action``, ``params``, ...) as soon as each is known, so a refused call is logged with them."""
        ...

    def ok(self, call: Call, result: Any) -> HttpResponse:
        """The success reply. May set ``call.record["requestId"]`` (a replayed call keeps its first id)."""
        ...

    def error(self, request: HttpRequest, err: ApiError, request_id: str, retry_after: int | None) -> HttpResponse:
        """The error reply, in the product's own error format; ``retry_after``: milliseconds to ask the
        client to wait (``x-acs-retry-after``, an integer, as the services send it), where the product has it."""
        ...


__all__ = ["ApiError", "Call", "Dropped", "HttpRequest", "HttpResponse", "WireProtocol"]

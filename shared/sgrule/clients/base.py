"""What every official SDK client we build shares: its Config from our settings (credentials, timeouts), and
a client's first request going alone."""
from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..runtime.config import CommonSettings

if TYPE_CHECKING:
    from .retry import Retrier

T = TypeVar("T")


def sdk_config(settings: CommonSettings, region_id: str) -> Any:
    """A tea-openapi ``Config`` with our credentials, region and timeouts (imported on first use)."""
    from alibabacloud_tea_openapi.utils_models import Config

    return _config(settings, Config, region_id)


def _config(settings: CommonSettings, config_cls: Any, region_id: str) -> Any:
    if settings.access_key_id and settings.access_key_secret:
        config = config_cls(
            access_key_id=settings.access_key_id,
            access_key_secret=settings.access_key_secret.get_secret_value(),
            security_token=settings.security_token.get_secret_value() if settings.security_token else None,
        )
    else:  # the SDK's default chain (env, profile, RAM role); with tea-openapi 0.4 it must be explicit
        from alibabacloud_credentials.client import Client as CredentialClient

        config = config_cls(credential=CredentialClient())
    config.region_id = region_id
    config.connect_timeout = settings.connect_timeout_ms
    config.read_timeout = settings.read_timeout_ms
    return config


def static_credentials(settings: CommonSettings) -> tuple[str, str, str] | None:
    """(access key id, secret, security token or "") from the settings, or None to use the SDK's default
    credential chain (for SDKs that take the key itself, as the MNS SDK does)."""
    if not (settings.access_key_id and settings.access_key_secret):
        return None
    token = settings.security_token.get_secret_value() if settings.security_token else ""
    return settings.access_key_id, settings.access_key_secret.get_secret_value(), token


class _FirstRequests:
    """The Tea SDKs build an endpoint's HTTP session on its first request -- with an SSL context loaded from the
    system's CA store, even for plain HTTP (~0.25 G instructions, 50-80 ms of CPU) -- and keep one per endpoint,
    but without a lock: first requests made at once from several threads each build one, and all but one are
    thrown away. That is most of a cold start's first invocation when it reads several groups at once.

    So a client's first request goes alone; requests that arrive meanwhile wait for it (with fresh timeouts
    from the retrier: the wait counts against the deadline), and every later request goes straight through.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gates: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
        self._opened: weakref.WeakSet[Any] = weakref.WeakSet()

    def wrap(self, client: Any, retrier: Retrier, attempt: Callable[[Any], T]) -> Callable[[Any], T]:
        def call(runtime: Any) -> T:
            if client in self._opened:
                return attempt(runtime)
            with self._lock:
                gate = self._gates.setdefault(client, threading.Lock())
            with gate:
                if client not in self._opened:
                    try:
                        return attempt(retrier.runtime())
                    finally:
                        self._opened.add(client)  # the session exists once a request went out
            return attempt(retrier.runtime())

        return call


_first_requests = _FirstRequests()


def first_request_alone(client: Any, retrier: Retrier, attempt: Callable[[Any], T]) -> Callable[[Any], T]:
    """``attempt`` (one SDK call, given RuntimeOptions) for ``retrier.call``, made so that ``client``'s first
    request goes alone (see :class:`_FirstRequests`)."""
    return _first_requests.wrap(client, retrier, attempt)

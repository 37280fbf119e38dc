"""Retrying: which failures are transient, and one full-jitter backoff loop under a deadline.

The Alibaba SDKs retry nothing by default, so retrying is ours: Throttling*, ServiceUnavailable, 5xx and
network errors are transient and retried with full-jitter exponential backoff, bounded by the time the
invocation has left; any other 4xx is final. A Modify retried here keeps its ClientToken. A throttled call
waits at least what the service asked (``x-acs-retry-after``, in milliseconds: the SDK's
``ThrottlingException.retry_after``), or gives up at once when that is past the deadline.

:meth:`Backoff.run` (``sgrule.runtime.backoff``) is the loop itself, for any kind of call; notify's HTTP posts
use it without this module, so their function never carries the SDK.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Self, TypeVar

from ..contract.errors import SgruleError
from ..runtime.backoff import Backoff, Retry

__all__ = ["Backoff", "NotSent", "Retrier", "Retry", "RetrySettings", "Transient", "asked_wait_s", "classify", "is_throttling"]

T = TypeVar("T")
_TRANSIENT_CODES = ("Throttling", "ServiceUnavailable", "InternalError", "RequestTimeout")


class Transient(Exception):
    """A failure worth retrying (throttling, 5xx, network). ``error`` says which; ``wait_s`` is what the
    service asked to wait before the next try (0: nothing asked)."""

    def __init__(self, error: SgruleError, wait_s: float = 0.0) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait_s = wait_s


class NotSent(Exception):
    """The request never left: building it failed on our side (an encoding or programming error). Not a
    network error, so never retried as one; ``error`` is ``Runtime.Unexpected``."""

    def __init__(self, error: SgruleError) -> None:
        super().__init__(str(error))
        self.error = error


# What the SDK wraps when *building* a request fails (before anything is sent), as opposed to the
# transport's errors and a reply it could not read (both after the request may have taken effect).
_BUILD_ERRORS = (UnicodeError, TypeError, AttributeError)


def is_throttling(exc: BaseException) -> bool:
    """An SDK exception that says slow down: ``ThrottlingException``, any ``Throttling*`` code, or HTTP 429."""
    from alibabacloud_tea_openapi.exceptions import ThrottlingException

    code = str(getattr(exc, "code", "") or "")
    return isinstance(exc, ThrottlingException) or code.startswith("Throttling") \
        or getattr(exc, "status_code", None) == 429


def classify(exc: Exception) -> Exception:
    """SDK exception -> :class:`Transient`, :class:`NotSent`, or a final :class:`SgruleError` (source ``ecs``)."""
    from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
    from darabonba.exceptions import UnretryableException

    if isinstance(exc, (ClientException, ServerException, ThrottlingException)):
        code = str(exc.code)
        message = (exc.data or {}).get("Message") if isinstance(exc.data, dict) else None
        err = SgruleError(code, message or str(exc.message), http_status=exc.status_code, source="ecs")
        status = exc.status_code or 0
        if is_throttling(exc) or isinstance(exc, ServerException) or status >= 500 \
                or code.startswith(_TRANSIENT_CODES):
            return Transient(err, wait_s=asked_wait_s(exc))
        return err
    if isinstance(exc, UnretryableException):
        inner = getattr(exc, "inner_exception", None) or exc
        if isinstance(inner, _BUILD_ERRORS):
            return NotSent(SgruleError("Runtime.Unexpected", f"the request could not be built: "
                                       f"{type(inner).__name__}: {inner}", source="runtime"))
        # No (readable) response: connection refused, reset, timeout -- it may or may not have taken effect.
        return Transient(SgruleError("ServiceUnavailable", f"network error: {type(inner).__name__}: {inner}",
                                     http_status=503, source="runtime"))
    return exc


MAX_ASKED_WAIT_MS = 120_000  # the SDK's own cap on a retry-after (darabonba's MAX_DELAY_TIME)


def asked_wait_s(exc: BaseException) -> float:
    """Seconds the service asked to wait: the SDK reads ``x-acs-retry-after`` as milliseconds (it sleeps that
    many before its own retries) into ``retry_after``; 0 when there is none."""
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, bool) or not isinstance(retry_after, (int, float)) or not retry_after > 0:
        return 0.0
    return min(float(retry_after), MAX_ASKED_WAIT_MS) / 1000


class RetrySettings(Protocol):
    """The settings a :class:`Retrier` is made from (every function's common settings have them)."""

    @property
    def retry_base_ms(self) -> float: ...
    @property
    def retry_cap_ms(self) -> float: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def read_timeout_ms(self) -> int: ...
    @property
    def connect_timeout_ms(self) -> int: ...


@dataclass
class Retrier(Backoff):
    """:class:`Backoff` for the SDKs' calls: their failures classified, their timeouts bounded by the deadline."""

    read_timeout_ms: int = 10000
    connect_timeout_ms: int = 3000

    @classmethod
    def of(cls, settings: RetrySettings, deadline: float) -> Self:
        """The one way from settings to a retrier: their backoff, tries and timeouts, bounded by ``deadline``."""
        return cls(deadline=deadline, base_s=settings.retry_base_ms / 1000, cap_s=settings.retry_cap_ms / 1000,
                   max_attempts=settings.max_attempts, read_timeout_ms=settings.read_timeout_ms,
                   connect_timeout_ms=settings.connect_timeout_ms)

    def runtime(self) -> Any:
        """Per-call SDK timeouts that end no later than the deadline (the client defaults are 5 s / 10 s)."""
        from darabonba.runtime import RuntimeOptions

        left_ms = int((self.deadline - time.monotonic()) * 1000)
        return RuntimeOptions(read_timeout=max(100, min(self.read_timeout_ms, left_ms)),
                              connect_timeout=max(100, min(self.connect_timeout_ms, left_ms)))

    def call(self, fn: Callable[[Any], T], on_attempt: Callable[[], None] | None = None) -> T:
        """Run ``fn(runtime_options)`` until it succeeds or fails finally; raise :class:`Transient` when
        out of tries or time. No attempt starts past the deadline."""
        def attempt(_: int) -> T:
            if on_attempt:
                on_attempt()
            try:
                return fn(self.runtime())
            except Exception as exc:  # noqa: BLE001 - classified right below
                result = classify(exc)
                if isinstance(result, Transient):
                    raise Retry(result, result.wait_s) from None
                raise result from None

        def gave_up(attempts: int, last: Exception | None) -> Exception:
            return last or Transient(SgruleError("Runtime.RetriesExhausted", f"out of time after {attempts} "
                                                 "attempt(s)", http_status=503, source="runtime"))

        return self.run(attempt, gave_up)

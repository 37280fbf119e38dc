"""The functions' idempotency store -- apply's claims, journal and rule state, the webhook's deliveries,
notify's posts, the normaliser's pass -- pick a backend by URL with :func:`open_store`; the fleet's ECS
call budget lives in the same store (:func:`open_budget`).

Backends are imported only when opened: ``import sgrule.store`` stays cheap on a cold start and never
imports ``redis``.
"""
from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .base import (DEFAULT_RETENTION_S, Claim, Claims, ClaimStatus, Completion, IdempotencyStore, KeyValue, LeaseLost,
                   Record, RuleJournal, RuleState)
from .records import InEffect, JournalEntry, NeverSent, Refused, SentRequest, Settlement

if TYPE_CHECKING:
    from .budget import CallBudget

__all__ = ["Claim", "Claims", "ClaimStatus", "Completion", "IdempotencyStore", "InEffect", "JournalEntry",
           "KeyValue", "LeaseLost", "NeverSent", "Record", "Refused", "RuleJournal", "RuleState", "SentRequest",
           "Settlement", "DEFAULT_SQLITE_PATH", "open_budget", "open_store"]

DEFAULT_SQLITE_PATH = os.path.join(tempfile.gettempdir(), "sgrule-idempotency.sqlite3")
_URL_FORMS = "'sqlite:///<absolute path>', 'sqlite:///:memory:', 'redis://host:port/db' or 'rediss://...'"


def _location(url: str | None) -> tuple[str, str]:
    """``("sqlite", path)`` or ``("redis", url)`` for a store URL; None or "" -> :data:`DEFAULT_SQLITE_PATH`.
    A URL that names no usable store raises ValueError (never echoing it when it may carry a password)."""
    url = (url or "").strip()
    if not url:
        return "sqlite", DEFAULT_SQLITE_PATH
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    url = scheme + url[len(scheme):]  # schemes are case-insensitive; redis-py wants them lower-case
    if scheme == "sqlite":
        path = url[len("sqlite://"):]
        if path == "/:memory:":
            return "sqlite", ":memory:"
        if not path.startswith("/") or path == "/":
            raise ValueError(f"bad idempotency store URL {url!r}: SQLite needs an absolute path "
                             f"('sqlite:///tmp/idem.sqlite3') or 'sqlite:///:memory:'")
        return "sqlite", path
    if scheme in ("redis", "rediss"):
        if not urlsplit(url).hostname:
            raise ValueError(f"bad idempotency store URL: {scheme}:// URL without a host; expected {_URL_FORMS}")
        return "redis", url
    # Don't echo the URL: an unknown scheme may still carry a password.
    raise ValueError(f"unsupported idempotency store URL (scheme {scheme or 'missing'!r}); "
                     f"expected {_URL_FORMS}, or empty for the default SQLite file")


def open_store(url: str | None, *, namespace: str = "sgrule",
               retention_s: float = DEFAULT_RETENTION_S, timeout_s: float | None = None) -> IdempotencyStore:
    """Open the store at ``url``; None or "" -> the SQLite file :data:`DEFAULT_SQLITE_PATH`.

    ``retention_s``: how long in-progress records are kept (at least lease + a margin); keep it >= the
    ttl_s given to ``complete``. ``timeout_s``: the longest one store call may wait (a caller with a
    deadline of its own, such as the webhook's budget); default: each backend's own.
    """
    if not namespace:
        raise ValueError("idempotency namespace must be non-empty")
    kind, where = _location(url)
    if kind == "sqlite":
        from .sqlite import SqliteStore
        return SqliteStore(where, namespace=namespace, retention_s=retention_s,
                           **({"busy_timeout_s": timeout_s} if timeout_s else {}))
    from .redis import RedisStore
    return RedisStore(where, namespace=namespace, retention_s=retention_s, timeout_s=timeout_s)


def open_budget(url: str | None, *, namespace: str = "sgrule") -> CallBudget:
    """The fleet's ECS call budget (:mod:`.budget`) in the store at ``url``: the idempotency store's URL,
    the same forms and the same default file."""
    if not namespace:
        raise ValueError("budget namespace must be non-empty")
    kind, where = _location(url)
    if kind == "sqlite":
        from .budget_sqlite import SqliteBudget
        return SqliteBudget(where, namespace=namespace)
    from .budget_redis import RedisBudget
    return RedisBudget(where, namespace=namespace)

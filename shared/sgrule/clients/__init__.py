"""The official SDK clients sgrule calls (ECS, EventBridge, ...), their configuration and retries.

Importing this package defers what the SDKs import for their async methods only (``aiohttp``; see
:func:`sgrule.runtime.sdk.defer_async_transport`): every SDK call sgrule makes is synchronous.
"""
from __future__ import annotations

from ..runtime.sdk import defer_async_transport

defer_async_transport()

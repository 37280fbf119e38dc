"""Emulated EventBridge (API version 2020-04-01): PutEvents onto buses, events kept for inspection."""
from __future__ import annotations

from localcloud.eventbridge.models import DEFAULT_BUS, EventBridgeBackend
from localcloud.eventbridge.responses import VERSION, EventBridgeService

__all__ = ["DEFAULT_BUS", "VERSION", "EventBridgeBackend", "EventBridgeService"]

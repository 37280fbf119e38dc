"""FC 3.0 entry point of the notify function: outcome events (from an EventBridge rule on the outcome bus)
posted back to the tickets they came from -- a Jira comment, or a callback signed with Standard Webhooks.

The work is in ``sgrule.notify`` (shared/). Raises ``RetryLater`` when a ticket system kept failing, after
every other outcome is posted, so the platform redelivers the event (posted outcomes are not posted again).
"""
from __future__ import annotations

from sgrule.notify import handler as notify


def initialize(context):
    """FC calls this once per instance: settings and the store before the first event."""
    notify.instance()


def handler(event, context):
    """Returns a JSON summary: {"posted", "found", "duplicate", "refused", "skipped", "retry"}."""
    return notify.handle(event, context)

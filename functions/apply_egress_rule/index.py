"""FC 3.0 entry point of the apply function: rule-change events in, one outcome event per change out.

Triggered by MNS through EventBridge (batched) or invoked synchronously by workflows. The work is in
``sgrule.apply`` (shared/); this file stays thin so the cold path imports only what a call needs.
"""
from __future__ import annotations

from sgrule.apply import handler as apply


def initialize(context):
    """FC calls this once per instance: build clients, store and pool before the first event."""
    apply.instance()


def handler(event, context):
    """Returns the JSON array of outcome events, one per input change, in input order."""
    return apply.handle(event, context)

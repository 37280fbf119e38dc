"""FC 3.0 entry point of the description normaliser: a nightly timer, or a synchronous invoke.

Event: a timer trigger's ``{"triggerTime", "triggerName", "payload"}`` (payload: JSON text of the request
below, or empty), or the request itself: ``{"dryRun": true|false, "regions": [...], "securityGroups": [...]}``.
Returns the pass's report (JSON). The work is in ``sgrule.normalise`` (shared/).
"""
from __future__ import annotations

from sgrule.normalise import handler as normalise


def initialize(context):
    """FC calls this once per instance: load the policy, build clients, store and pool."""
    normalise.instance()


def handler(event, context):
    """Scans (or continues scanning) the rules in scope, enqueues their description changes, returns the report."""
    return normalise.handle(event, context)

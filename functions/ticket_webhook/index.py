"""FC 3.0 entry point of the ticket webhook (HTTP trigger, anonymous: authentication is the sender's signature).

``POST <function URL>/<sender>`` with a signed ticket-system webhook; the answer is always JSON (202, 400,
401, 404, 405, 413, 415 or 503). The work is in ``sgrule.webhook`` (shared/); this file stays thin so the
cold path imports only what a request needs.
"""
from __future__ import annotations

from sgrule.webhook import handler as webhook


def initialize(context):
    """FC calls this once per instance: settings and the delivery store before the first request (a
    misconfiguration is logged here and answered 503 per request, never an FC error page)."""
    webhook.warm()


def handler(event, context):
    """The HTTP trigger response: {"statusCode", "headers", "body", "isBase64Encoded"}."""
    return webhook.handle(event, context)

"""The ticket webhook: signed ticket-system webhooks become rule-change events on the change queue.

``POST <function URL>/<sender>``: the sender's scheme verifies the raw body (:mod:`.schemes`), the
delivery id guards against replays (:mod:`.memory`), the body becomes changes -- a native rule-change
event or array of them, or a ticket payload whose ``sgrule`` blocks hold them (:mod:`.tickets`,
:mod:`.blocks`) -- every change is validated before any is enqueued (:mod:`.admit`), and the answer is one
of a few documented JSON responses (:mod:`.http`). :mod:`.handler` runs that pipeline.
"""

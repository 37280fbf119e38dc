"""Outcomes back to their tickets: the notify function, fed by an EventBridge rule on the outcome bus.

Each outcome of a change that came through the ticket webhook (``changeSource`` ``ticketing/<sender>``,
``correlationId`` the ticket key) is posted to the sender's targets (:mod:`.config`): a Jira comment through
its REST API (:mod:`.jira`), or a callback URL receiving the outcome signed with Standard Webhooks
(:mod:`.callback`). Posts retry on 5xx/429 with backoff, honouring Retry-After (:mod:`.post`); each post is
remembered in the idempotency store, so an outcome delivered twice is posted once (:mod:`.handler`).
"""

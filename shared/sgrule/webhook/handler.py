"""The ticket webhook's handler: one HTTP request in, one documented JSON answer out, never a traceback.

Pipeline (each step's failure is its own answer): sender from the path (404) -> POST only (405) -> body at
most 256 KB (413) -> JSON content type (415) -> the sender's scheme verifies the raw body (401) -> the
delivery id is claimed: a replay gets the first answer (:mod:`.memory`) -> body to changes, each place
(native, comment, description) judged by the sender's ``authorize`` (:mod:`.authorize`; 403 when nothing
found is authorized; 400, 413 over 100) -> every change validated (400, nothing sent) -> enqueued with the MNS SDK (503 if the queue cannot be
reached; nothing remembered, so the sender's retry succeeds later) -> 202 ``{"accepted", "queue"}``.

``functions/ticket_webhook/index.py`` is a thin shim over :func:`handle`. The MNS SDK, jmespath and the CEL
library (``authorize``) load on the first request that needs them; a sender waits 5 s at most.
"""
from __future__ import annotations

import hashlib
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from ..runtime import instance as fc_instance
from ..runtime.log import Logger
from . import http
from .config import Sender, WebhookSettings, describe_error
from .http import MAX_BODY_BYTES, MAX_CHANGES, BadRequest, HttpRequest, answer, respond
from .schemes import Unauthorized, verify

if TYPE_CHECKING:
    from ..store import Claims

_NAME = "ticket_webhook"
STORE_CALLS_PER_BUDGET = 4  # a hung store costs a request at most this many calls' timeouts


class _Instance:
    """What one FC instance builds once: settings, store, logger; the queue client on first use."""

    def __init__(self, settings: WebhookSettings | None = None) -> None:
        from ..store import open_store

        self.settings = settings or WebhookSettings()
        s = self.settings
        self.log = Logger()
        if not s.webhook_senders:
            self.log.warning("no senders configured (SGRULE_WEBHOOK_SENDERS): every request answers 404")
        # A request makes a few store calls in turn (claim, release): each must fit well inside the budget.
        self.store: Claims = open_store(s.idempotency_url, namespace=f"{s.idempotency_namespace}.webhook",
                                        retention_s=max(s.webhook_change_ttl_s, s.completed_ttl_s),
                                        timeout_s=min(5.0, s.webhook_budget_ms / 1000 / STORE_CALLS_PER_BUDGET))
        self._queue: Any = None
        self._lock = threading.Lock()
        from .authorize import Policies

        self.policies = Policies()
        self.guardrails: Any = None  # the apply function's guardrails policy, compiled once (Policy | PolicyInvalid)
        if s.guardrails_file:
            from ..guardrails import configured

            self.guardrails = configured(s.guardrails_file, self.log)

    @property
    def queue(self) -> Any:
        with self._lock:
            if self._queue is None:
                from ..clients.mns import ChangeQueue

                self._queue = ChangeQueue(self.settings)
            return self._queue

    def close(self) -> None:
        self.store.close()


def instance(settings: WebhookSettings | None = None) -> _Instance:
    return fc_instance.shared(_NAME, lambda: _Instance(settings), _Instance)


def warm() -> None:
    """Build the instance ahead of the first request; a failure is logged (the request then answers 503)."""
    try:
        instance()
    except Exception as exc:
        Logger().error("webhook misconfigured", error=describe_error(exc))


def reset() -> None:
    """Forget this function's instance (tests, `sgrule local invoke` with a new environment)."""
    fc_instance.reset(_NAME)


def handle(event: Any, context: Any) -> dict[str, Any]:
    """The FC 3.0 HTTP trigger response for one request."""
    try:
        request = http.parse_event(event)
    except BadRequest as exc:
        return answer(exc.code, exc.message)
    try:
        inst = instance()
    except Exception as exc:  # settings or store URL invalid: say so in the log, never the values
        Logger().error("webhook misconfigured", requestId=request.request_id, error=describe_error(exc))
        return answer("Webhook.Misconfigured")
    log = inst.log.bind(requestId=request.request_id or getattr(context, "request_id", None),
                        sender=request.sender_name[:64])
    try:
        response = _Request(inst, request, context, log).run()
    except Exception as exc:  # a bug: the sender gets a clean 500 and retries; operators get the type
        log.error("unexpected error", errorType=type(exc).__name__)
        response = answer("Webhook.InternalError")
    log.info("answered", status=response["statusCode"])
    return response


class _Request:
    def __init__(self, inst: _Instance, request: HttpRequest, context: Any, log: Logger) -> None:
        self.inst = inst
        self.s = inst.settings
        self.request = request
        self.log = log
        self.started = time.monotonic()
        fc_deadline = fc_instance.deadline_for(context, self.s.default_timeout_s, self.s.time_reserve_ms / 1000)
        self.deadline = min(self.started + self.s.webhook_budget_ms / 1000, fc_deadline)
        # A crashed request's claim blocks retries only until FC would have stopped it anyway.
        self.lease_s = max(1.0, fc_deadline - self.started + self.s.time_reserve_ms / 1000)

    def run(self) -> dict[str, Any]:
        req = self.request
        sender = self.s.sender(req.sender_name)
        if sender is None:
            return answer("Webhook.UnknownSender")
        if req.method != "POST":
            return answer("Webhook.MethodNotAllowed", headers={"Allow": "POST"})
        if len(req.body) > MAX_BODY_BYTES:
            return answer("Webhook.PayloadTooLarge")
        if not req.is_json():
            return answer("Webhook.UnsupportedMediaType")
        try:
            delivery = verify(sender, req.headers, req.body, time.time())
        except Unauthorized as exc:
            self.log.warning("unauthenticated", reason=exc.reason)  # the reason stays here, never in the answer
            return answer("Webhook.Unauthorized")
        return self._once(sender, delivery)

    def _once(self, sender: Sender, delivery: str) -> dict[str, Any]:
        from .memory import Memory

        digest = hashlib.sha256(self.request.body).hexdigest()
        # A scheme that signs no delivery id nor time cannot tell a retry from a replay with a fresh id: the
        # body is the delivery, remembered as long as a ticket's changes are.
        signed = sender.signs_delivery
        memory = Memory(self.inst.store, owner=f"{self.request.request_id}:{uuid.uuid4().hex}",
                        lease_s=self.lease_s,
                        delivery_ttl_s=self.s.completed_ttl_s if signed else max(self.s.completed_ttl_s,
                                                                                 self.s.webhook_change_ttl_s),
                        change_ttl_s=self.s.webhook_change_ttl_s)
        key = memory.delivery_key(sender.name, delivery if signed else f"sha256:{digest}")
        try:
            claim = memory.claim_delivery(key, digest, self.deadline)
        except Exception as exc:
            self.log.error("store unavailable", errorType=type(exc).__name__)
            return answer("Webhook.StoreUnavailable")
        if claim.status == "replay" and claim.response:
            self.log.info("replayed delivery", delivery=delivery)
            replay = dict(claim.response)
            replay["headers"] = {**replay.get("headers", {}), "Sgrule-Replayed": "true"}
            return replay
        if claim.status == "busy":
            return answer("Webhook.DeliveryInProgress", headers={"Retry-After": "5"})
        if claim.status == "mismatch":
            return respond(400, {"errors": [{
                "index": None, "code": "IdempotentParameterMismatch",
                "message": "This delivery id was already received with a different body.", "field": "delivery"}]})
        remember = False
        try:
            response, remember = self._work(sender, memory)
        finally:
            try:
                if remember:
                    memory.finish_delivery(key, response)
                else:
                    memory.release(key)
            except Exception as exc:  # LeaseLost or the store gone: the work itself is done (or undone)
                self.log.warning("delivery not recorded", errorType=type(exc).__name__)
        return response

    def _work(self, sender: Sender, memory: Any) -> tuple[dict[str, Any], bool]:
        """The answer, and whether it is final for this delivery (remembered) or must be retried."""
        from .admit import admit
        from .authorize import PolicyError
        from .memory import Busy
        from .tickets import BodyError, NotAuthorized, extract, loads

        try:
            doc = loads(self.request.body)
        except ValueError as exc:
            return _errors([{"index": None, "code": "InvalidEvent.Malformed",
                             "message": f"The body is not JSON: {exc}", "field": None}]), True
        try:
            found = extract(doc, sender, self.inst.policies.judge(sender, doc, self.request.headers))
        except BodyError as exc:
            return _errors(exc.errors), True
        except NotAuthorized as exc:
            self.log.warning("not authorized", refused=exc.refused)
            return answer("Webhook.NotAuthorized", "No change in this request is authorized by the policy "
                                                   f"(authorize) of sender {sender.name!r}; refused: "
                                                   f"{', '.join(exc.refused)}. Nothing was accepted."), True
        except PolicyError as exc:  # fail closed; fixed by the operator, so the sender's retry may succeed
            self.log.error("authorize does not compile", error=str(exc))
            return answer("Webhook.Misconfigured", headers={"Retry-After": "60"}), False
        events = found.events
        if len(events) > MAX_CHANGES:
            return answer("Webhook.TooManyChanges", f"The request carries {len(events)} changes; at most "
                                                    f"{MAX_CHANGES} are accepted at once."), True
        if not events:
            return respond(202, {"accepted": [], "queue": self.s.change_queue, "note": found.note}), True
        errors = admit(events, sender, self.s, time.time(), self.s.webhook_max_skew_s, self.inst.guardrails)
        if errors:
            self.log.info("rejected", errors=len(errors), codes=sorted({e["code"] for e in errors}))
            return _errors(errors), True
        # A native event names its ticket itself: only one of the sender's projects keeps it (the outcome is
        # posted there); any other is dropped, so the bot comments only where the sender may.
        dropped = [e["id"] for e in events if found.native and "correlationid" in e
                   and not sender.owns(str(e["correlationid"]))]
        for e in events:
            if e["id"] in dropped:
                del e["correlationid"]
        claims: list[Any] = []
        send = events
        if not found.native:
            try:
                claims = memory.claim_changes(sender.name, [(e["id"], e["time"]) for e in events],
                                              self.started + (self.deadline - self.started) / 2)
            except Busy:
                return answer("Webhook.DeliveryInProgress", "A change of this ticket is being enqueued by "
                                                            "another request; retry later.",
                              headers={"Retry-After": "5"}), False
            except Exception as exc:
                self.log.error("store unavailable", errorType=type(exc).__name__)
                return answer("Webhook.StoreUnavailable"), False
            for event, claim in zip(events, claims):
                event["time"] = claim.time  # the time the change was first given
            send = [e for e, c in zip(events, claims) if c.fresh]
        if send:
            try:
                self.inst.queue.send(send, deadline=self.deadline)
            except Exception as exc:  # EnqueueError, or the SDK failing in a way it should not
                memory.release_changes(sender.name, claims)
                self.log.error("enqueue failed", errorType=type(exc).__name__, error=str(exc)[:300])
                return answer("Webhook.QueueUnavailable", headers={"Retry-After": "10"}), False
        try:
            memory.finish_changes(sender.name, claims)
        except Exception as exc:  # sent already: a later copy of the ticket re-sends identical events
            self.log.warning("changes not recorded", errorType=type(exc).__name__)
        body: dict[str, Any] = {"accepted": [e["id"] for e in events], "queue": self.s.change_queue}
        repeated = [e["id"] for e, c in zip(events, claims) if not c.fresh]
        if repeated:
            body["alreadyQueued"] = repeated
        if dropped:
            body["correlationDropped"] = dropped
        if found.refused:  # places whose blocks the sender's policy refused (the accepted ones came from elsewhere)
            body["notAuthorized"] = found.refused
        self.log.info("accepted", changes=len(events), sent=len(send), ticket=found.ticket)
        return respond(202, body), True


def _errors(errors: list[dict[str, Any]]) -> dict[str, Any]:
    return respond(400, {"errors": errors})

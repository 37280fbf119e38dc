"""Who may ask: a sender's ``authorize`` policy, a CEL expression judged per place a change comes from.

A valid signature proves which *system* sent the webhook, not that a *person* with authority asked: anyone
who can comment on a ticket can write a block. So every place (``native``, ``comment``, ``description``)
is judged by the sender's policy over::

    payload  the parsed body          headers  the request's headers (lower-case names)
    sender   the sender's name        block    {"from": "native" | "comment" | "description",
                                                "author": {"id", "name", "roles"}}

and only ``true`` accepts (:func:`sgrule.cel.is_true`: an error or any other value refuses). A sender
without ``authorize`` accepts native rule-change events only (an automation holding its secret), never a
ticket's text. Programs compile on the first request that needs one (so the CEL library stays off the
cold path of native traffic) and are kept per instance; a policy that does not compile refuses too
(:class:`PolicyError`: the webhook answers 503 and logs where the expression is wrong).
"""
from __future__ import annotations

import threading
from typing import Any, Mapping

from .config import Sender
from .tickets import Judge

VARIABLES = frozenset({"payload", "headers", "sender", "block"})


class PolicyError(Exception):
    """The sender's ``authorize`` does not compile; ``str()`` says where (never the request's content)."""


class Policies:
    """The compiled ``authorize`` of each sender, built on first use (one per FC instance)."""

    def __init__(self) -> None:
        self._programs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def program(self, sender: Sender) -> Any:
        if sender.authorize is None:
            return None
        with self._lock:
            if sender.name not in self._programs:
                from .. import cel

                try:
                    self._programs[sender.name] = cel.compile(sender.authorize, VARIABLES)
                except cel.CompileError as exc:
                    self._programs[sender.name] = PolicyError(f"authorize of sender {sender.name!r}: {exc}")
            found = self._programs[sender.name]
        if isinstance(found, PolicyError):
            raise found
        return found

    def judge(self, sender: Sender, payload: Any, headers: Mapping[str, str]) -> Judge:
        """The judge of one request: (from, author) -> accepted."""

        def judge(origin: str, author: dict[str, Any]) -> bool:
            program = self.program(sender)
            if program is None:  # no policy: an automation's native events only
                return origin == "native"
            from .. import cel

            return cel.is_true(program, {"payload": payload, "headers": dict(headers), "sender": sender.name,
                                         "block": {"from": origin, "author": author}})

        return judge

"""A client's first request goes alone (the SDK builds an endpoint's session and SSL context on it, without a
lock); the requests that waited for it, and every later one, go at once."""
from __future__ import annotations

import threading
import time
from typing import Any

from sgrule.clients.base import first_request_alone
from sgrule.clients.ecs import describe_egress, make_client
from sgrule.clients.retry import Retrier
from sgrule.runtime.config import CommonSettings


class Client:
    """Stands for an SDK client: the gate only needs an object to key on."""


def test_requests_arriving_during_the_first_wait_for_it_then_go() -> None:
    client, retrier = Client(), Retrier(deadline=time.monotonic() + 60)
    in_first = threading.Event()
    overlapped = threading.Event()  # set by any request that starts while the first is still running
    first_running = threading.Lock()
    count_lock = threading.Lock()
    started: list[str] = []

    def attempt(runtime: Any) -> str:
        name = threading.current_thread().name
        with count_lock:
            first = not started
            started.append(name)
        if first:
            with first_running:
                in_first.set()
                # Long enough for the others to reach the gate; they must not start meanwhile.
                overlapped.wait(timeout=0.5)
            return name
        if first_running.locked():
            overlapped.set()
        return name

    results: list[str] = []
    gate = threading.Barrier(4)

    def request() -> None:
        gate.wait()
        results.append(retrier.call(first_request_alone(client, retrier, attempt)))

    threads = [threading.Thread(target=request, name=f"t{i}") for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert in_first.is_set() and not overlapped.is_set()
    assert sorted(results) == ["t0", "t1", "t2", "t3"] and len(started) == 4


def test_after_the_first_request_nothing_waits() -> None:
    client, retrier = Client(), Retrier(deadline=time.monotonic() + 60)
    retrier.call(first_request_alone(client, retrier, lambda rt: "first"))
    other_done = threading.Event()
    seen: list[bool] = []

    def slow(runtime: Any) -> str:
        seen.append(other_done.wait(timeout=10))  # only returns True if a request can pass meanwhile
        return "slow"

    t = threading.Thread(target=lambda: retrier.call(first_request_alone(client, retrier, slow)))
    t.start()
    assert retrier.call(first_request_alone(client, retrier, lambda rt: "quick")) == "quick"
    other_done.set()
    t.join()
    assert seen == [True]


def test_a_failed_first_request_opens_the_gate_too() -> None:
    client, retrier = Client(), Retrier(deadline=time.monotonic() + 60, max_attempts=1)
    calls: list[int] = []

    def fails(runtime: Any) -> None:
        calls.append(1)
        raise ValueError("not an SDK error: final")

    try:
        retrier.call(first_request_alone(client, retrier, fails))
    except ValueError:
        pass
    assert retrier.call(first_request_alone(client, retrier, lambda rt: "next")) == "next"
    assert calls == [1]


def test_the_first_reads_of_many_groups_at_once_all_succeed(localcloud: Any, ecs_seed: Any,
                                                           monkeypatch: Any) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", localcloud.access_key_id)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", localcloud.access_key_secret)
    monkeypatch.setenv("SGRULE_ECS_ENDPOINT", localcloud.endpoint)
    groups = [ecs_seed.group(name=f"g{i}") for i in range(6)]
    rules = {g: ecs_seed.egress(g) for g in groups}
    client = make_client(CommonSettings(), "cn-hangzhou")  # new: its first request is still to come
    retrier = Retrier(deadline=time.monotonic() + 60)
    start = threading.Barrier(len(groups))
    found: dict[str, list[str]] = {}

    def read(group: str) -> None:
        start.wait()
        found[group] = list(describe_egress(client, "cn-hangzhou", group, retrier))

    threads = [threading.Thread(target=read, args=(g,)) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert found == {g: [rules[g]] for g in groups}

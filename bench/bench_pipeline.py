"""Benchmark the whole pipeline from template.yml against the apply function called directly (a script, not
a test). Both run in this process's localcloud (``localcloud.app.LocalApp``: MNS queue -> eventbridge
trigger -> apply in a worker process -> outcomes on the bus):

1. **latency**: one rule change sent with ``sgrule.clients.mns.ChangeQueue`` (the MNS SDK) until its outcome
   event is on the outcome bus, with ``BatchWindowSeconds=0`` and ``BatchSize=1``; median and spread of
   ``--latency-runs`` changes sent one at a time. Reference: one change through one direct
   invocation of the handler.
2. **throughput**: 1,000 changes (50 groups x 20 rules, one new Description each, sent in group order as a
   queue fed group by group would hold them) from the first SendMessage to the last outcome on the bus, with
   ``BatchSize=100``, ``BatchWindowSeconds=1`` ÷ the same 1,000 changes through one direct invocation of
   the warm handler -- target >= 0.7. Medians of ``--reps`` rounds, interleaved.

"Direct" is the handler called in a process of its own (``_pipeline_direct_child.py``, as the pipeline's
worker is one), against the same emulator and bus, with no queue, trigger or worker protocol: calling it
in this process would put it under one GIL with the emulator and flatter the pipeline.

Every change must end ``applied`` (checked). Exits 0 whatever the figures (it is a report).

    .venv/bin/python bench/bench_pipeline.py [--reps N] [--latency-runs N]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_apply import change, ecs_state, spread  # noqa: E402

GROUPS, RULES = 50, 20
APPLY = "sgrule-apply-egress-rule"
BUS = "sgrule-outcomes"


class Outcomes:
    """Waits for outcome events (by change id) as they land on the bus (an EventBridge listener)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.seen: dict[str, tuple[float, str]] = {}

    def __call__(self, bus: str, entries: list[dict[str, Any]], _at: str) -> None:
        now = time.perf_counter()
        with self._cond:
            for e in entries:
                data = e.get("Data") or e.get("data") or {}
                self.seen[str(data.get("changeId"))] = (now, str(data.get("status")))
            self._cond.notify_all()

    def wait(self, ids: list[str], timeout: float = 120) -> list[tuple[float, str]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not all(i in self.seen for i in ids):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [i for i in ids if i not in self.seen]
                    raise RuntimeError(f"{len(missing)} outcome(s) missing, e.g. {missing[:3]}")
                self._cond.wait(left)
            return [self.seen[i] for i in ids]


def changes(tag: str) -> list[dict[str, Any]]:
    return [change(f"{tag}-{g}-{r}", 10, g, r, Description=f"{tag}-g{g}-r{r}")
            for g in range(GROUPS) for r in range(RULES)]


def start_app(store: str, batch: int, window: int) -> tuple[Any, Outcomes]:
    from localcloud.app import LocalApp

    params = {"CodeBucket": "local", "AllowedSecurityGroups": "sg-bench*", "RedisUrl": f"sqlite:///{store}",
              "BatchSize": str(batch), "BatchWindowSeconds": str(window)}
    app = LocalApp(ROOT / "template.yml", params, state={"ecs": ecs_state(GROUPS, RULES)}, max_instances=1)
    outcomes = Outcomes()
    app.eventbridge.backend.listeners.append(outcomes)
    app.start()
    return app, outcomes


def change_queue(app: Any) -> Any:
    from localcloud.invoke import patched_environ
    from sgrule.clients.mns import ChangeQueue
    from sgrule.runtime.config import CommonSettings

    with patched_environ({**app.environment(), "SGRULE_MNS_ENDPOINT": app.endpoint,
                          "SGRULE_CHANGE_QUEUE": "sgrule-changes"}):
        return ChangeQueue(CommonSettings())


class Direct:
    """The apply handler called directly (no queue, trigger or worker protocol) in a process of its own, as
    the pipeline's instance is, against the app's emulator and bus; warm after the first call."""

    def __init__(self, app: Any, store: str) -> None:
        import subprocess

        spec = app.fc.get(APPLY)
        env = {**os.environ, **spec.environment, **app.environment(), "SGRULE_IDEMPOTENCY_URL": f"sqlite:///{store}"}
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve().parent / "_pipeline_direct_child.py"),
                                      str(spec.code_dir), APPLY, str(int(spec.timeout_s))], env=env, cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)

    def invoke(self, events: list[dict[str, Any]]) -> float:
        """Handler seconds; raises unless every change was applied."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(events) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the direct invocation process died")
        result = json.loads(line)
        if result["applied"] != len(events):
            raise RuntimeError(f"the direct invocation applied {result['applied']} of {len(events)} changes")
        return float(result["seconds"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


def check_applied(results: list[tuple[float, str]]) -> None:
    bad = [s for _, s in results if s != "applied"]
    if bad:
        raise RuntimeError(f"{len(bad)} change(s) did not end applied: {sorted(set(bad))}")


def latency(runs: int, tmp: Path) -> tuple[list[float], list[float]]:
    app, outcomes = start_app(str(tmp / "latency.sqlite3"), batch=1, window=0)
    try:
        queue = change_queue(app)
        queue.send(changes("warm")[:2])  # cold start of the instance, first connections
        outcomes.wait(["warm-0-0", "warm-0-1"])
        piped = []
        for i in range(runs):
            event = change(f"lat{i}", 10, i % GROUPS, 2 + i // GROUPS, Description=f"lat-{i}")
            t0 = time.perf_counter()
            queue.send([event])
            [(t1, status)] = outcomes.wait([event["id"]])
            check_applied([(t1, status)])
            piped.append(t1 - t0)
        direct = Direct(app, str(tmp / "latency.sqlite3"))
        inproc = []
        try:
            direct.invoke([change("dwarm", 10, 0, 19, Description="dwarm")])
            for i in range(runs):
                event = change(f"dlat{i}", 10, i % GROUPS, 12 + i // GROUPS, Description=f"dlat-{i}")
                inproc.append(direct.invoke([event]))
        finally:
            direct.close()
        return piped, inproc
    finally:
        app.stop()


def throughput(reps: int, tmp: Path) -> tuple[list[float], list[float]]:
    app, outcomes = start_app(str(tmp / "throughput.sqlite3"), batch=100, window=1)
    piped, direct_times = [], []
    try:
        queue = change_queue(app)
        warm = changes("warm")[:100]
        queue.send(warm)
        outcomes.wait([e["id"] for e in warm])
        direct = Direct(app, str(tmp / "direct.sqlite3"))
        direct.invoke(changes("dwarm")[:100])
        try:
            rounds(reps, queue, outcomes, app, direct, piped, direct_times)
        finally:
            direct.close()
        print(f"  pipeline invocations: {len(app.fc.invocations.list(function=APPLY))} "
              f"(batches: {app.pollers[f'{APPLY}/mns-changes'].batches[-10:]} ...)", file=sys.stderr)
        return piped, direct_times
    finally:
        app.stop()


def rounds(reps: int, queue: Any, outcomes: Outcomes, app: Any, direct: Direct, piped: list[float],
           direct_times: list[float]) -> None:
    for rep in range(reps):
        batch = changes(f"p{rep}")
        t0 = time.perf_counter()
        queue.send(batch)
        results = outcomes.wait([e["id"] for e in batch])
        piped.append(max(t for t, _ in results) - t0)
        check_applied(results)
        app.wait_idle(10)
        direct_times.append(direct.invoke(changes(f"d{rep}")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3, help="throughput rounds (default: 3)")
    parser.add_argument("--latency-runs", type=int, default=30, help="changes timed one by one (default: 30)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        print("latency (window 0) ...", file=sys.stderr)
        lat, lat_direct = latency(args.latency_runs, tmp)
        print("throughput (1,000 changes) ...", file=sys.stderr)
        piped, direct = throughput(args.reps, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = GROUPS * RULES
    ratios = [n / p / (n / d) for p, d in zip(piped, direct)]
    ratio = (n / statistics.median(piped)) / (n / statistics.median(direct))
    print()
    print(f"{'figure':<52} {'value':<38} baseline")
    print(f"{'latency SendMessage -> outcome on the bus (window 0)':<52} {spread(lat, 'ms', 1000, '.1f'):<38} "
          f"direct invocation of 1 change: {spread(lat_direct, 'ms', 1000, '.1f')}")
    print(f"{'throughput, 1,000 changes through the pipeline':<52} "
          f"{f'{n / statistics.median(piped):.0f} changes/s':<38} "
          f"one direct invocation: {n / statistics.median(direct):.0f} changes/s")
    print(f"{'  time':<52} {spread(piped):<38} {spread(direct)}")
    verdict = "PASS" if ratio >= 0.7 else "MISS"
    print(f"{'  ratio pipeline / direct (target >= 0.7)':<52} {ratio:.2f} "
          f"[{min(ratios):.2f}-{max(ratios):.2f}] per round  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Cold start of every function against the bare SDK import, measured in the same run (a script, not a test).

A cold FC instance is a fresh process that imports the function, runs its ``initialize`` and answers one
invocation. For each function this bench starts exactly that (``bench/_coldstart_child.py``): the handler
loaded from ``functions/<name>/index.py``, ``initialize``, one invocation with the function's sample event from
``events/``, against localcloud (and a local Jira), with the clients and the idempotency store the template
deploys it with (Redis), its outputs checked:

====================== =========================================== =============================================
function               sample event                                what the one invocation must have done
====================== =========================================== =============================================
apply_egress_rule      events/apply/mns-batch.json (9 changes)     4 applied, 1 unchanged, 3 rejected, 1
                                                                   superseded; 9 outcomes published on the bus
ticket_webhook         events/http/jira-issue.json (signed)        202; the change is on the queue
ticket_notify          events/notify/outcome-applied.json          one comment posted on the local Jira issue
normalise_descriptions events/timer/nightly.json, with dryRun      the 7 description changes enqueued, its report
                       false (the template's nightly payload)      published on the bus
====================== =========================================== =============================================

With the apply function, ``apply_egress_rule+guardrails`` is the same cold start with the example guardrails
policy configured (``SGRULE_GUARDRAILS_FILE=guardrails/example.yml``, read and compiled in ``initialize``, each
change judged by its four guardrails); its target is the apply function's own ratio + 0.05.

Baseline: a fresh ``python -c "import pydantic, alibabacloud_ecs20140526.client"`` (what any of these functions
would pay just to import pydantic and an official Alibaba client). Runs are interleaved, the order rotated
every round; each function's figure is its median wall time over the baseline's median (target <= 0.7),
with the spread and the per-round ratios printed, and the child's CPU time (``RUSAGE_CHILDREN``) as a
steadier second figure. Exits 0 whatever the figures (it is a report); non-zero only when something failed to
run or a function did not do its work.

    .venv/bin/python bench/bench_coldstart.py [--rounds N] [--functions a,b] [--store auto|redis|sqlite]
    .venv/bin/python bench/bench_coldstart.py --importtime FUNCTION   # where one cold start's imports go
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from _localcloud import BASELINE_IMPORT, BenchError, LocalCloudProcess  # a sibling of this script

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).resolve().parent / "_coldstart_child.py"
EVENTS = ROOT / "events"
PY = sys.executable
TARGET = 0.7
REDIS_URL = "redis://127.0.0.1:6379/0"
JIRA_USER, JIRA_TOKEN = "sgrule-bot@example.com", "bench-jira-api-token-0123456789"
FUNCTIONS = ("apply_egress_rule", "ticket_webhook", "ticket_notify", "normalise_descriptions")
GUARDED = "apply_egress_rule+guardrails"  # the apply case with the example guardrails policy
GUARDRAILS_ADDS = 0.05  # its target: at most this over the apply function's own ratio


def redis_reachable(url: str = REDIS_URL) -> bool:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0).ping()
        return True
    except Exception:  # noqa: BLE001 - refused, timeout, auth: no Redis to measure with
        return False


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def spread(xs: list[float], unit: str = " s", fmt: str = ".3f") -> str:
    return f"{med(xs):{fmt}}{unit} [{min(xs):{fmt}}-{max(xs):{fmt}}]"


# ---------------------------------------------------------------------------------------------- the world

class World(LocalCloudProcess):
    """localcloud (ECS, EventBridge, MNS on one port) and a local Jira, started for the run."""

    def __init__(self, store: str, tmp: Path) -> None:
        self.store, self.tmp, self.n = store, tmp, 0
        super().__init__()
        from localcloud.jira import LocalJira

        self.jira = LocalJira(users={JIRA_USER: JIRA_TOKEN}, issues=["SEC-1042"]).start()
        self.namespaces: list[str] = []
        if store == "redis":
            import redis

            if not redis_reachable():
                self.stop()
                raise BenchError(f"no Redis at {REDIS_URL} (the store the template deploys): start redis-server, "
                                 "or run with --store sqlite")
            self.redis = redis.Redis.from_url(REDIS_URL)

    def store_env(self) -> dict[str, str]:
        """A store no earlier run has used: a fresh namespace on Redis, or a fresh SQLite file."""
        self.n += 1
        namespace = f"bench-coldstart-{os.getpid()}-{self.n}"
        self.namespaces.append(namespace)
        url = REDIS_URL if self.store == "redis" else f"sqlite:///{self.tmp}/store-{self.n}.sqlite3"
        return {"SGRULE_IDEMPOTENCY_URL": url, "SGRULE_IDEMPOTENCY_NAMESPACE": namespace}

    def env(self, **extra: str) -> dict[str, str]:
        """What FC gives a function: its role's keys (here localcloud's) and the template's variables."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SGRULE_", "ALIBABA_CLOUD_"))}
        env.update(ALIBABA_CLOUD_ACCESS_KEY_ID=self.info["accessKeyId"],
                   ALIBABA_CLOUD_ACCESS_KEY_SECRET=self.info["accessKeySecret"],
                   ALIBABA_CLOUD_ECS_METADATA_DISABLED="true", SGRULE_REGION="cn-hangzhou")
        env.update(extra)
        return env

    def stop(self) -> None:
        self.jira.stop()
        if self.store == "redis" and hasattr(self, "redis"):
            for namespace in self.namespaces:
                keys = list(self.redis.scan_iter(match=f"{namespace}:*", count=1000))
                if keys:
                    self.redis.delete(*keys)
        super().stop()


# ---------------------------------------------------------------------------------------------- the functions

@dataclass
class Case:
    """One function's cold start: its event, its environment, the world reset before each run, the check."""

    name: str
    event: Path
    env: Callable[[], dict[str, str]]
    prepare: Callable[[], None]
    check: Callable[[Any], None]
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    inner: list[dict[str, Any]] = field(default_factory=list)


def cases(world: World, tmp: Path) -> dict[str, Case]:
    c, ep = world.control, world.endpoint
    apply_state = json.loads((EVENTS / "apply" / "state.json").read_text())
    normalise_state = json.loads((EVENTS / "normalise" / "state.json").read_text())
    queue = "sgrule-changes"

    def fresh_queue() -> None:
        if any(q["name"] == queue for q in c.queues()):
            c.delete_queue(queue)
        c.create_queue(queue)

    # apply: the MNS trigger's batch of the nine sample changes (events/README.md says what each must end as).
    def apply_prepare() -> None:
        c.load_state(apply_state)  # the rules as the sample expects them; the bus emptied

    def apply_check(outcomes: Any) -> None:
        statuses = [o["data"]["status"] for o in outcomes]
        want = ["applied", "unchanged", "rejected", "rejected", "rejected", "applied", "superseded", "applied",
                "applied"]
        if statuses != want:
            raise BenchError(f"apply_egress_rule: statuses {statuses}, expected {want}")
        published = len(c.events(bus="default"))
        if published != len(want):
            raise BenchError(f"apply_egress_rule: {published} outcomes on the bus, expected {len(want)}")

    # webhook: a signed Jira webhook; its change must be on the queue.
    senders = (EVENTS / "http" / "senders.json").read_text()

    def webhook_check(answer: Any) -> None:
        if answer.get("statusCode") != 202:
            raise BenchError(f"ticket_webhook: answered {answer.get('statusCode')}: {answer.get('body')}")
        waiting = c.queue(queue)["counts"]["visible"]
        if waiting != 1:
            raise BenchError(f"ticket_webhook: {waiting} messages on the queue, expected 1")

    # notify: the outcome of that change, as the EventBridge rule delivers it; one comment on the ticket.
    comments_before: list[int] = []

    def notify_prepare() -> None:
        comments_before[:] = [len(world.jira.comments("SEC-1042"))]

    def notify_check(summary: Any) -> None:
        added = len(world.jira.comments("SEC-1042")) - comments_before[0]
        if summary.get("posted") != 1 or added != 1:
            raise BenchError(f"ticket_notify: summary {summary}, {added} comment(s) added, expected 1 posted")

    targets = json.dumps([{"sender": "jira", "kind": "jira", "url": world.jira.url, "user": JIRA_USER,
                           "token": JIRA_TOKEN}])

    # normalise: the nightly timer, a real run (the template's payload): 7 changes enqueued, report published.
    timer = json.loads((EVENTS / "timer" / "nightly.json").read_text())
    timer["payload"] = json.dumps({**json.loads(timer["payload"]), "dryRun": False})
    nightly = tmp / "nightly-real.json"
    nightly.write_text(json.dumps(timer))

    def normalise_prepare() -> None:
        c.load_state({**normalise_state, "eventbridge": apply_state["eventbridge"]})
        fresh_queue()

    def normalise_check(report: Any) -> None:
        counts = report.get("counts", {})
        waiting = c.queue(queue)["counts"]["visible"]
        if not report.get("complete") or counts.get("enqueued") != 7 or waiting != 7:
            raise BenchError(f"normalise_descriptions: counts {counts}, {waiting} on the queue, expected 7 enqueued")
        if len(c.events(bus="default")) != 1:
            raise BenchError("normalise_descriptions: its report was not published on the bus")

    common = {"SGRULE_ALLOWED_REGIONS": "cn-hangzhou", "SGRULE_ALLOWED_SECURITY_GROUPS": "sg-bp1*"}

    def apply_env(**extra: str) -> Callable[[], dict[str, str]]:
        return lambda: world.env(**common, **world.store_env(), SGRULE_ECS_ENDPOINT=ep,
                                 SGRULE_EVENTBRIDGE_ENDPOINT=ep, SGRULE_OUTCOME_BUS="default", **extra)

    return {
        "apply_egress_rule": Case("apply_egress_rule", EVENTS / "apply" / "mns-batch.json", apply_env(),
                                  apply_prepare, apply_check),
        GUARDED: Case("apply_egress_rule", EVENTS / "apply" / "mns-batch.json",
                      apply_env(SGRULE_GUARDRAILS_FILE=str(ROOT / "guardrails" / "example.yml")),
                      apply_prepare, apply_check),
        "ticket_webhook": Case(
            "ticket_webhook", EVENTS / "http" / "jira-issue.json",
            lambda: world.env(**common, **world.store_env(), SGRULE_MNS_ENDPOINT=ep, SGRULE_CHANGE_QUEUE=queue,
                              SGRULE_WEBHOOK_SENDERS=senders, SGRULE_WEBHOOK_BUDGET_MS="4000"),
            fresh_queue, webhook_check),
        "ticket_notify": Case(
            "ticket_notify", EVENTS / "notify" / "outcome-applied.json",
            lambda: world.env(**world.store_env(), SGRULE_NOTIFY_TARGETS=targets),
            notify_prepare, notify_check),
        "normalise_descriptions": Case(
            "normalise_descriptions", nightly,
            lambda: world.env(**common, **world.store_env(), SGRULE_ECS_ENDPOINT=ep, SGRULE_EVENTBRIDGE_ENDPOINT=ep,
                              SGRULE_OUTCOME_BUS="default", SGRULE_MNS_ENDPOINT=ep, SGRULE_CHANGE_QUEUE=queue,
                              SGRULE_NORMALISE_REGIONS="cn-hangzhou"),
            normalise_prepare, normalise_check),
    }


# ---------------------------------------------------------------------------------------------- running

def run_child(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """A fresh process: (wall seconds, its CPU seconds, stdout). Raises BenchError when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(args[1:4])} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def run_case(case: Case, extra: list[str] | None = None) -> dict[str, Any]:
    case.prepare()
    wall, cpu, out = run_child([PY, *(extra or []), str(CHILD), case.name, str(case.event)], case.env())
    info = json.loads(out.strip().splitlines()[-1])
    case.check(info["result"])
    info.update(wall=wall, cpu=cpu)
    return info


def measure(world: World, chosen: dict[str, Case], rounds: int) -> tuple[list[float], list[float]]:
    base_walls: list[float] = []
    base_cpus: list[float] = []
    names = ["baseline", *chosen]
    for case in chosen.values():  # one run each first: page cache and .pyc files, and a check of the setup
        run_case(case)
    run_child([PY, "-c", BASELINE_IMPORT], world.env())
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            if name == "baseline":
                wall, cpu, _ = run_child([PY, "-c", BASELINE_IMPORT], world.env())
                base_walls.append(wall)
                base_cpus.append(cpu)
            else:
                info = run_case(chosen[name])
                chosen[name].walls.append(info["wall"])
                chosen[name].cpus.append(info["cpu"])
                chosen[name].inner.append(info)
        print(f"  round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    return base_walls, base_cpus


def importtime(case: Case, top: int) -> None:
    """One cold start under ``python -X importtime``: the imports that cost most (cumulative, top level)."""
    case.prepare()
    env = case.env()
    proc = subprocess.run([PY, "-X", "importtime", str(CHILD), case.name, str(case.event)], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"{case.name} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    rows = []  # (cumulative us, own us, name indented by depth)
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or line.endswith("imported package"):
            continue
        own, cum, name = line[len("import time:"):].split("|")
        rows.append((int(cum), int(own), name.rstrip()[1:]))
    total = sum(cum for cum, _, name in rows if not name.startswith(" "))
    print(f"{case.name}: {len(rows)} modules imported, {total / 1e6:.3f} s in top-level imports "
          f"(-X importtime inflates them); the {top} costliest, cumulative:")
    for cum, own, name in sorted(rows, reverse=True)[:top]:
        print(f"  {cum / 1e6:7.3f} s  (own {own / 1e6:.3f})  {name}")


def report(chosen: dict[str, Case], base_walls: list[float], base_cpus: list[float]) -> None:
    base, base_cpu = med(base_walls), med(base_cpus)
    print(f"\nbaseline `python -c \"{BASELINE_IMPORT}\"`: wall {spread(base_walls)}, CPU {spread(base_cpus)} "
          f"(n={len(base_walls)})")
    print("each function: fresh process, import index.py, initialize, one invocation with its sample event")
    rows = []
    ratios: dict[str, float] = {}
    for key, case in chosen.items():
        per_round = [w / b for w, b in zip(case.walls, base_walls)]
        split = {k: med([x[k] for x in case.inner]) for k in ("import_s", "initialize_s", "invoke_s")}
        modules = med([x["modules"] for x in case.inner])
        ratio, cpu_ratio = med(case.walls) / base, med(case.cpus) / base_cpu
        ratios[key] = ratio
        print(f"  {key:<23} wall {spread(case.walls)} = {ratio:.2f} of baseline (per round "
              f"{spread(per_round, '', '.2f')}); CPU {spread(case.cpus)} = {cpu_ratio:.2f}; in-process: import "
              f"{split['import_s']:.3f} s, initialize {split['initialize_s']:.3f} s, invocation "
              f"{split['invoke_s']:.3f} s; {modules:.0f} modules")
        target = TARGET
        if key == GUARDED and "apply_egress_rule" in ratios:
            target = round(ratios["apply_egress_rule"] + GUARDRAILS_ADDS, 2)
            added = [(g - a) / b for g, a, b in zip(case.walls, chosen["apply_egress_rule"].walls, base_walls)]
            print(f"  {'':<23} the guardrails policy adds {ratio - ratios['apply_egress_rule']:+.3f} of the baseline "
                  f"(per round {spread(added, '', '+.3f')}); CPU "
                  f"{cpu_ratio - med(chosen['apply_egress_rule'].cpus) / base_cpu:+.3f}")
        rows.append((key, f"{med(case.walls):.3f} s", f"{base:.3f} s", f"{ratio:.2f}",
                     f"{med(per_round):.2f} ({min(per_round):.2f}-{max(per_round):.2f})", f"{cpu_ratio:.2f}",
                     f"<= {target}", "PASS" if ratio <= target else "MISS"))
    widths = [28, 9, 9, 6, 17, 10, 7, 4]
    heads = ("function", "cold", "baseline", "ratio", "per round", "CPU ratio", "target", "")
    print()
    print("  ".join(h.ljust(w) for h, w in zip(heads, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds (each: baseline + every function)")
    ap.add_argument("--functions", default=",".join(FUNCTIONS), help="comma-separated (default: all four)")
    ap.add_argument("--store", choices=("auto", "redis", "sqlite"), default="auto",
                    help="idempotency store: redis (as deployed; 127.0.0.1:6379, a fresh namespace per run), sqlite, "
                         "or auto: redis when it answers, else sqlite (default)")
    ap.add_argument("--importtime", metavar="FUNCTION", help="instead: one cold start under -X importtime")
    ap.add_argument("--top", type=int, default=25, help="rows of --importtime (default 25)")
    args = ap.parse_args()
    names = [n.strip() for n in (args.importtime or args.functions).split(",") if n.strip()]
    unknown = sorted(set(names) - set(FUNCTIONS))
    if unknown:
        ap.error(f"unknown function(s) {unknown}; choose from {', '.join(FUNCTIONS)}")

    t_start = time.perf_counter()
    store = args.store if args.store != "auto" else "redis" if redis_reachable() else "sqlite"
    if store != args.store and store == "sqlite":
        print(f"no Redis at {REDIS_URL}: measuring with the SQLite store (the template deploys Redis)",
              file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="bench-coldstart-"))
    world = World(store, tmp)
    try:
        chosen = {n: c for n, c in cases(world, tmp).items()
                  if n in names or (n == GUARDED and "apply_egress_rule" in names and not args.importtime)}
        if args.importtime:
            importtime(chosen[args.importtime], args.top)
            return 0
        print(f"cold-start bench: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load "
              f"{os.getloadavg()[0]:.1f}, store {store}, {args.rounds} rounds, localcloud {world.endpoint}")
        base_walls, base_cpus = measure(world, chosen, args.rounds)
    finally:
        world.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    report(chosen, base_walls, base_cpus)
    print(f"(total {time.perf_counter() - t_start:.0f} s; load {os.getloadavg()[0]:.1f}; medians of "
          f"{args.rounds} interleaved rounds, [min-max])")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench_coldstart: failed to run: {exc}", file=sys.stderr)
        sys.exit(2)

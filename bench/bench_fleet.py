"""Benchmark a fleet of apply instances against one ECS quota (a script, not a test).

localcloud runs the application from template.yml (``localcloud.app.LocalApp``, in this process) with an ECS
rate quota on ``ModifySecurityGroupEgressRule`` (``--quota``, default 40 calls a second, localcloud's fixed
one-second windows: a call over it is answered 400 ``Throttling.User``, as ECS answers). 2,000 changes over
400 rules in 40 groups (five new Descriptions per rule, oldest first) are sent at once with the MNS SDK, as
after a normaliser scan, and the local FC runs apply on up to ``--instances`` (8) instances at once. Printed,
each relative to the quota or the run's own calls:

- **sustained Modify rate ÷ quota**: Modify calls that went through, over the time from the first to the last;
- **throttled ÷ Modify calls**: answers over the quota among all Modify calls;
- **changes not applied/unchanged** (``superseded``: a newer change to the rule was there first -- correct,
  but counted), and **failed or lost** (an outcome of ``failed``/``rejected``, or none within the timeout);
- **drain time ÷ floor**: first SendMessage to the last outcome on the bus, over changes ÷ quota.

Runs, each ``--rounds`` times (the figures are the median, with the lowest and highest in brackets):
**without budget** (the template's ``EcsRate`` empty: every instance retries on its own) and **with budget**
(``EcsRate`` = ``ModifySecurityGroupEgressRule=<--budget>``: every apply instance takes each ECS call from the
fleet's budget in the store, a throttled answer pausing them all). ``--budget-alone`` adds **the budget
alone**: ``--instances`` processes (``_fleet_child.py``) make the same Modify calls through the official SDK,
each call taken from the budget (no queue, no apply); its drain starts when the processes are told to go.

The fleet is the template's: its trigger is asynchronous (batches of ``BatchSize`` handed to FC at once, run
on up to ``ApplyMaxInstances`` instances, the template's ``ALIYUN::FC3::ConcurrencyConfig``; here
``--instances``); ``--trigger sync`` switches it to synchronous in this script's copy, where the event stream
waits for each batch: one instance. The figures are a report; the script exits 0 whatever they are.

    .venv/bin/python bench/bench_fleet.py [--quota 40] [--budget 38] [--instances 8] [--changes 2000]
                                          [--rounds 3] [--trigger async|sync] [--store URL] [--budget-alone]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_apply import change, ecs_state  # noqa: E402
from bench_pipeline import Outcomes  # noqa: E402

APPLY, MODIFY, QUEUE = "sgrule-apply-egress-rule", "ModifySecurityGroupEgressRule", "sgrule-changes"
GROUPS, RULES = 40, 10
DONE = ("applied", "unchanged")


def changes(n: int) -> list[dict[str, Any]]:
    """``n`` changes over GROUPS x RULES rules, each a new Description, the older ones of a rule first."""
    per_rule = max(1, -(-n // (GROUPS * RULES)))
    out = [change(f"fleet-{g}-{r}-{k}", 10 + k, g, r, Description=f"fleet g{g} r{r} v{k}")
           for k in range(per_rule) for g in range(GROUPS) for r in range(RULES)]
    return out[:n]


def template(trigger: str, params: dict[str, str]) -> Any:
    from localcloud.template import load_template

    t = load_template(ROOT / "template.yml", params)
    for res in t.of_type("ALIYUN::FC3::Trigger"):
        if res.properties.get("TriggerType") == "eventbridge":
            res.properties["TriggerConfig"]["asyncInvocationType"] = trigger == "async"
    return t


def run(label: str, args: argparse.Namespace, store: str, env: dict[str, str], rate: str) -> dict[str, Any]:
    from localcloud.app import LocalApp
    from localcloud.control_client import ControlClient
    from localcloud.invoke import patched_environ
    from sgrule.clients.mns import ChangeQueue
    from sgrule.runtime.config import CommonSettings

    params = {"CodeBucket": "local", "AllowedSecurityGroups": "sg-bench*", "RedisUrl": store,
              "BatchSize": str(args.batch), "BatchWindowSeconds": str(args.window), "EcsRate": rate,
              "ApplyMaxInstances": str(args.instances)}
    app = LocalApp(template(args.trigger, params), state={"ecs": ecs_state(GROUPS, RULES)},
                   max_instances=args.instances, env=env, retry_base_s=0.2)
    outcomes = Outcomes()
    app.eventbridge.backend.listeners.append(outcomes)
    app.start()
    try:
        control = ControlClient(app.endpoint)
        control.set_ecs_quotas({MODIFY: {"calls": args.quota, "seconds": 1, "retryAfter": args.retry_after}})
        with patched_environ({**app.environment(), "SGRULE_MNS_ENDPOINT": app.endpoint,
                              "SGRULE_CHANGE_QUEUE": QUEUE}):
            queue = ChangeQueue(CommonSettings())
        events = changes(args.changes)
        t0 = time.perf_counter()  # the clock Outcomes stamps arrivals with
        queue.send(events)
        try:
            outcomes.wait([e["id"] for e in events], args.timeout)
        except RuntimeError as exc:  # some never came: counted as lost below
            print(f"  {label}: {exc}", file=sys.stderr)
        calls = control.calls(MODIFY)
        invocations = control.request("GET", "invocations", query={"function": APPLY})["invocations"]
    finally:
        app.stop()
    ok = sorted(c["time"] for c in calls if c["status"] == 200)
    throttled = sum(1 for c in calls if c.get("code") == "Throttling.User")
    statuses = Counter(outcomes.seen[e["id"]][1] if e["id"] in outcomes.seen else "lost" for e in events)
    last = max((outcomes.seen[e["id"]][0] for e in events if e["id"] in outcomes.seen), default=t0)
    span = ok[-1] - ok[0] if len(ok) > 1 else float("nan")
    return {"label": label, "modify": len(calls), "modify_ok": len(ok), "throttled": throttled,
            "rate": (len(ok) - 1) / span if len(ok) > 1 else float("nan"), "statuses": statuses,
            "drain": last - t0, "instances": len({i["instanceId"] for i in invocations}),
            "peak": peak(invocations), "invocations": len(invocations)}


def peak(invocations: list[dict[str, Any]]) -> int:
    """The most invocations running at once."""
    edges = sorted([(i["start"], 1) for i in invocations] + [(i["start"] + i["durationMs"] / 1000, -1)
                                                              for i in invocations])
    running = best = 0
    for _, step in edges:
        running += step
        best = max(best, running)
    return best


def budget_alone(args: argparse.Namespace, store: str, namespace: str) -> dict[str, Any]:
    """The same Modify calls from ``--instances`` processes, each call taken from the fleet budget."""
    import json
    import subprocess

    from localcloud.control_client import ControlClient
    from localcloud.server import LocalCloud

    from bench_apply import gid, rid

    with LocalCloud(state={"ecs": ecs_state(GROUPS, RULES)}) as cloud:
        control = ControlClient(cloud.endpoint)
        control.set_ecs_quotas({MODIFY: {"calls": args.quota, "seconds": 1, "retryAfter": args.retry_after}})
        work = [(gid(e_g), rid(e_g, e_r), e["data"]["Description"]) for e in changes(args.changes)
                for e_g, e_r in [(int(e["id"].split("-")[1]), int(e["id"].split("-")[2]))]]
        child = Path(__file__).resolve().parent / "_fleet_child.py"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "shared"), str(ROOT)])}
        procs = [subprocess.Popen([sys.executable, str(child)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, env=env, cwd=ROOT) for _ in range(args.instances)]
        for i, proc in enumerate(procs):
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"endpoint": cloud.endpoint, "key": control.access_key_id,
                                         "secret": control.access_key_secret, "store": store, "namespace": namespace,
                                         "rate": f"{args.budget:g}", "calls": work[i::args.instances]}) + "\n")
            proc.stdin.flush()
        for proc in procs:  # every child has imported the SDK and opened the store
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("a budget child did not start")
        t0 = time.time()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [json.loads(proc.communicate(timeout=args.timeout)[0]) for proc in procs]
        calls = control.calls(MODIFY)
    ok = sorted(c["time"] for c in calls if c["status"] == 200)
    throttled = sum(1 for c in calls if c.get("code") == "Throttling.User")
    assert throttled == sum(r["throttled"] for r in results)
    return {"label": f"the budget alone ({args.budget:g}/s, no apply)", "modify": len(calls), "modify_ok": len(ok),
            "throttled": throttled, "rate": (len(ok) - 1) / (ok[-1] - ok[0]) if len(ok) > 1 else float("nan"),
            "statuses": Counter({"applied": len(ok)}), "drain": (ok[-1] - t0) if ok else float("nan"),
            "instances": args.instances, "peak": args.instances, "invocations": 0}


def figures(r: dict[str, Any], args: argparse.Namespace) -> dict[str, float]:
    """One run's figures, each relative to the quota, the run's own calls, or the floor."""
    s = r["statuses"]
    return {"rate": r["rate"] / args.quota, "throttled": r["throttled"] / max(1, r["modify"]),
            "not_done": sum(n for status, n in s.items() if status not in DONE),
            "failed": sum(n for status, n in s.items() if status in ("failed", "rejected", "lost")),
            "drain": r["drain"] / (args.changes / args.quota)}


def spread(values: list[float], fmt: str) -> str:
    """The median, and [lowest, highest] when there is more than one."""
    ordered = sorted(values)
    text = format(statistics.median(ordered), fmt)
    return f"{text:>7}" + (f"  [{format(ordered[0], fmt)} - {format(ordered[-1], fmt)}]" if len(ordered) > 1 else "")


def report(rs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    floor = args.changes / args.quota
    fs = [figures(r, args) for r in rs]
    last = rs[-1]
    print(f"{last['label']} ({len(rs)} round(s): median [lowest - highest]):")
    print(f"  sustained Modify rate / quota      {spread([f['rate'] for f in fs], '.2f')}   "
          f"(last: {last['rate']:.1f}/s of {args.quota}/s)")
    print(f"  throttled / Modify calls           {spread([f['throttled'] for f in fs], '.1%')}   "
          f"(last: {last['throttled']} of {last['modify']}; {last['modify_ok']} went through)")
    print(f"  changes not applied/unchanged      {spread([f['not_done'] for f in fs], '.0f')}   "
          f"(failed or lost: {spread([f['failed'] for f in fs], '.0f').strip()}; last: "
          + ", ".join(f"{k} {v}" for k, v in sorted(last["statuses"].items())) + ")")
    print(f"  drain time / floor                 {spread([f['drain'] for f in fs], '.2f')}   "
          f"(last: {last['drain']:.1f} s; floor {args.changes} changes / {args.quota}/s = {floor:.1f} s)")
    print(f"  instances, most at once            {last['peak']:7d}   (last: {last['instances']} started, "
          f"{last['invocations']} apply invocations)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quota", type=int, default=40, help="localcloud's Modify quota, calls a second")
    p.add_argument("--budget", type=float, default=None,
                   help="SGRULE_ECS_RATE for Modify in the budget runs (default: 0.95 of the quota)")
    p.add_argument("--instances", type=int, default=8, help="most apply instances at once")
    p.add_argument("--changes", type=int, default=2000, help="changes sent at once")
    p.add_argument("--batch", type=int, default=20, help="the trigger's CountBasedWindow (BatchSize)")
    p.add_argument("--rounds", type=int, default=3, help="runs of each kind (the figures' spread)")
    p.add_argument("--window", type=int, default=1, help="the trigger's TimeBasedWindow (BatchWindowSeconds)")
    p.add_argument("--trigger", choices=("async", "sync"), default="async",
                   help="invocation type of the queue trigger (async: the template's; sync: one batch at a time)")
    p.add_argument("--retry-after", action="store_true", help="localcloud sends x-acs-retry-after when throttling")
    p.add_argument("--store", default=None, help="store URL (default: a SQLite file in a temp dir)")
    p.add_argument("--timeout", type=float, default=600, help="give up waiting for outcomes after this long")
    p.add_argument("--without", choices=("run", "skip"), default="run", help="the run without the budget")
    p.add_argument("--budget-alone", action="store_true", help="also the budget alone, without apply")
    args = p.parse_args(argv)
    if args.budget is None:
        args.budget = round(0.95 * args.quota, 2)
    with tempfile.TemporaryDirectory(prefix="sgrule-bench-fleet-") as tmp:
        runs = [("with budget", f"{MODIFY}={args.budget:g}")]
        if args.without == "run":
            runs.insert(0, ("without budget", ""))
        print(f"bench_fleet: {args.changes} changes over {GROUPS * RULES} rules in {GROUPS} groups, Modify quota "
              f"{args.quota}/s, up to {args.instances} apply instances, trigger {args.trigger}, batches of "
              f"{args.batch} (window {args.window} s)")
        n = 0
        for label, rate in runs:
            results = []
            for _ in range(args.rounds):
                n += 1
                store = args.store or f"sqlite:///{tmp}/store-{n}.sqlite3"
                env = {"SGRULE_IDEMPOTENCY_NAMESPACE": f"bench-fleet-{os.getpid()}-{n}"}  # a store of its own
                results.append(run(label, args, store, env, rate))
            report(results, args)
        if args.budget_alone:
            report([budget_alone(args, args.store or f"sqlite:///{tmp}/budget-alone.sqlite3",
                                 f"bench-fleet-{os.getpid()}-alone")], args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

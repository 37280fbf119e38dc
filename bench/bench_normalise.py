"""Benchmark the description normaliser's scan against baselines measured in the same run (a script, not a test).

Starts localcloud (``python -m localcloud start --port 0``, its own process), loads 500 security groups of
20 egress rules each (10,000 rules; about half with descriptions the default policy changes) and measures:

1. API calls of one real pass (the FC function's code path, resume cursor in a SQLite store, changes onto
   localcloud's MNS queue), from GET /_emulator/calls, against the floor: ceil(500/100) DescribeSecurityGroups
   pages, one DescribeSecurityGroupAttribute per group (one page each), one message per rule that changes
   (and ceil(changes/16) BatchSendMessage calls), one PutEvents for the report -- target = floor;
2. scan time of a dry-run pass (list, read every group, run the policy on every rule, build the report) ÷ a raw
   serial loop of the same Describe calls with the official SDK client (DescribeSecurityGroups pages, then
   DescribeSecurityGroupAttribute egress per group), interleaved rounds, medians -- target <= 1.2; and the
   client CPU of both (the scan's extra work, which its concurrency hides in wall time).

Prints a table (figure, value, baseline, ratio, target). Exits 0 whatever the figures (it is a report);
non-zero only when something failed to run. Timings vary from run to run: medians of several rounds, spread
printed.

    .venv/bin/python bench/bench_normalise.py [--rounds N] [--groups N] [--rules N]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")

from _localcloud import LocalCloudProcess  # noqa: E402  (a sibling of this script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))
sys.path.insert(0, str(ROOT))
REGION = "cn-hangzhou"
ACCOUNT = "1234567890123456"
QUEUE = "sgrule-changes"
MESSY = ["  egress to {n} CHG-1{n}  ", "egress\tto {n}\tCHG-2{n}", "", "cafe\u0301 {n} CHG-3{n}",
         "{n} zero\u200bwidth CHG-4{n}", "clean rule {n} CHG-5{n}", "no ticket {n}", "already fine {n} CHG-6{n}"]


def spread(xs: list[float], fmt: str = ".3f", unit: str = "") -> str:
    return f"{statistics.median(xs):{fmt}}{unit} [{min(xs):{fmt}}-{max(xs):{fmt}}] (n={len(xs)})"


def estate(groups: int, rules: int) -> dict[str, Any]:
    sgs = []
    for g in range(groups):
        rs = []
        for r in range(rules):
            n = g * rules + r
            rs.append({"SecurityGroupRuleId": f"sgr-bench{g:05d}r{r:03d}", "IpProtocol": "TCP",
                       "PortRange": f"{1000 + r}/{1000 + r}", "DestCidrIp": f"10.{g % 250}.{r}.0/24",
                       "Policy": "accept", "Priority": 1, "NicType": "intranet",
                       "Description": MESSY[n % len(MESSY)].format(n=n)})
        sgs.append({"SecurityGroupId": f"sg-bench{g:05d}", "SecurityGroupName": f"g{g}", "VpcId": "vpc-bench",
                    "rules": rs})
    return {"ecs": {"accounts": {ACCOUNT: {REGION: {"security_groups": sgs}}}}}


class Cloud(LocalCloudProcess):
    @property
    def key(self) -> str:
        return str(self.info["accessKeyId"])

    @property
    def secret(self) -> str:
        return str(self.info["accessKeySecret"])


def settings_env(cloud: Cloud, store: str) -> dict[str, str]:
    return {"ALIBABA_CLOUD_ACCESS_KEY_ID": cloud.key, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": cloud.secret,
            "SGRULE_ECS_ENDPOINT": cloud.endpoint, "SGRULE_EVENTBRIDGE_ENDPOINT": cloud.endpoint,
            "SGRULE_MNS_ENDPOINT": cloud.endpoint, "SGRULE_CHANGE_QUEUE": QUEUE, "SGRULE_OUTCOME_BUS": "default",
            "SGRULE_IDEMPOTENCY_URL": f"sqlite:///{store}", "SGRULE_ALLOWED_REGIONS": REGION,
            "SGRULE_ALLOWED_SECURITY_GROUPS": "*", "SGRULE_NORMALISE_CALLS_PER_SECOND": "10000"}


def fig_calls(cloud: Cloud, groups: int) -> tuple[list[tuple[str, ...]], int]:
    """One real pass through the FC handler: its API calls against the floor."""
    import importlib.util
    from types import SimpleNamespace

    from sgrule.runtime import instance

    instance.reset()
    spec = importlib.util.spec_from_file_location("fn", ROOT / "functions" / "normalise_descriptions" / "index.py")
    fn = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(fn)  # type: ignore[union-attr]
    ctx = SimpleNamespace(request_id="bench", function=SimpleNamespace(timeout=600))
    fn.initialize(ctx)
    cloud.control.clear_calls()
    report = json.loads(fn.handler(b'{"dryRun": false}', ctx))
    instance.reset()
    calls: dict[str, int] = {}
    for c in cloud.control.calls():
        calls[c["action"]] = calls.get(c["action"], 0) + 1
    changes = report["counts"]["toChange"]
    messages = len(cloud.control.queue(QUEUE)["messages"])
    floor = {"DescribeSecurityGroups": math.ceil(groups / 100), "DescribeSecurityGroupAttribute": groups,
             "BatchSendMessage": math.ceil(changes / 16), "PutEvents": 1}
    rows = [(f"calls: {a}", str(calls.get(a, 0)), f"{n} (floor)", f"{calls.get(a, 0) / n:.2f}", "= floor")
            for a, n in floor.items()]
    rows.append(("messages (rules that change)", str(messages), f"{changes} (floor)", f"{messages / max(1, changes):.2f}",
                 "= floor"))
    other = sorted(set(calls) - set(floor))
    if other:
        rows.append(("other calls", ", ".join(f"{a} x{calls[a]}" for a in other), "0", "-", "none"))
    assert report["complete"], "the pass did not complete"
    return rows, changes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds of scan and baseline (default: 5)")
    ap.add_argument("--groups", type=int, default=500, help="security groups in the estate (default: 500)")
    ap.add_argument("--rules", type=int, default=20, help="egress rules per group (default: 20)")
    args = ap.parse_args()
    cloud = Cloud()
    tmp = tempfile.TemporaryDirectory()
    try:
        os.environ.update(settings_env(cloud, f"{tmp.name}/store.sqlite3"))
        cloud.control.load_state(estate(args.groups, args.rules))
        cloud.control.create_queue(QUEUE)
        print(f"localcloud at {cloud.endpoint}: {args.groups} groups x {args.rules} rules", file=sys.stderr)

        from alibabacloud_ecs20140526 import models
        from alibabacloud_ecs20140526.client import Client
        from alibabacloud_tea_openapi.utils_models import Config

        from sgrule.clients.eventbridge import NullPublisher
        from sgrule.normalise.config import NormaliseSettings
        from sgrule.normalise.policy import load
        from sgrule.normalise.run import Pass, PassDeps
        from sgrule.normalise.scope import NormaliseRequest
        from sgrule.clients.ecs import make_client
        from sgrule.runtime.log import Logger

        calls_rows, changes = fig_calls(cloud, args.groups)

        settings = NormaliseSettings()
        client = make_client(settings, REGION)
        raw_client = Client(Config(access_key_id=cloud.key, access_key_secret=cloud.secret,
                                   endpoint=cloud.endpoint.split("://")[1], protocol="http", region_id=REGION))
        policy = load()

        def scan() -> dict[str, Any]:
            with ThreadPoolExecutor(settings.normalise_concurrency) as pool:
                deps = PassDeps(settings=settings, ecs=lambda region: client, pool=pool, policy=policy,
                                publisher=NullPublisher(), log=Logger(level="error"))
                return Pass(deps, NormaliseRequest(dryRun=True), time.monotonic() + 3600).run()

        def raw() -> int:
            n, token = 0, None
            while True:
                page = raw_client.describe_security_groups(models.DescribeSecurityGroupsRequest(
                    region_id=REGION, max_results=100, next_token=token)).body
                for g in page.security_groups.security_group:
                    body = raw_client.describe_security_group_attribute(models.DescribeSecurityGroupAttributeRequest(
                        region_id=REGION, security_group_id=g.security_group_id, direction="egress",
                        max_results=1000)).body
                    n += len(body.permissions.permission)
                token = page.next_token
                if not token:
                    return n

        scan(), raw()  # warm both (connections, lazily loaded SDK models)
        scan_s, raw_s, ratios, cpu = [], [], [], {"scan": [], "raw": []}
        for i in range(args.rounds):
            order = (scan, raw) if i % 2 == 0 else (raw, scan)
            took = {}
            for f in order:
                t, c = time.perf_counter(), time.process_time()
                out = f()
                took[f.__name__] = time.perf_counter() - t
                cpu[f.__name__].append(time.process_time() - c)
                if f is scan:
                    assert out["counts"]["rules"] == args.groups * args.rules and out["counts"]["toChange"] == changes
                else:
                    assert out == args.groups * args.rules
            scan_s.append(took["scan"])
            raw_s.append(took["raw"])
            ratios.append(took["scan"] / took["raw"])
            print(f"round {i + 1}: scan {took['scan']:.2f} s, raw loop {took['raw']:.2f} s", file=sys.stderr)

        rows = calls_rows + [
            ("scan time, dry run (concurrency "
             f"{settings.normalise_concurrency})", spread(scan_s, ".2f", " s"),
             f"raw serial Describe loop: {spread(raw_s, '.2f', ' s')}",
             f"{statistics.median(scan_s) / statistics.median(raw_s):.2f} (per round {spread(ratios, '.2f')})",
             "<= 1.2"),
            ("client CPU of that scan (all threads)", spread(cpu["scan"], ".2f", " s"),
             f"raw loop: {spread(cpu['raw'], '.2f', ' s')}",
             f"{statistics.median(cpu['scan']) / statistics.median(cpu['raw']):.2f}", "-"),
        ]
        widths = [max(len(r[i]) for r in rows + [("figure", "value", "baseline", "ratio", "target")])
                  for i in range(5)]
        print("  ".join(h.ljust(w) for h, w in zip(("figure", "value", "baseline", "ratio", "target"), widths)))
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        return 0
    finally:
        cloud.stop()
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())

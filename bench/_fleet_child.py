"""Child of bench_fleet.py's "budget alone" run: one instance of a fleet calling Modify through the official ECS
SDK, each call taken from the fleet budget (sgrule.clients.budget.FleetBudget) and a throttled answer pausing
the whole fleet, then retried. Reads its calls as one JSON line on stdin
``{"endpoint", "key", "secret", "store", "namespace", "rate", "calls": [[group, rule, description], ...]}``,
says "ready", waits for a line "go", answers one JSON line ``{"throttled": n, "calls": n}``."""
from __future__ import annotations

import json
import sys
import time


def main() -> int:
    from alibabacloud_ecs20140526 import models
    from alibabacloud_ecs20140526.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    from sgrule.clients.budget import FleetBudget, is_throttling
    from sgrule.store import open_budget
    from sgrule.store.budget import parse_rates

    job = json.loads(sys.stdin.readline())
    host = job["endpoint"].removeprefix("http://")
    client = Client(Config(access_key_id=job["key"], access_key_secret=job["secret"], endpoint=host, protocol="http",
                           region_id="cn-hangzhou"))
    api = "ModifySecurityGroupEgressRule"
    fleet = FleetBudget(open_budget(job["store"], namespace=job["namespace"]), parse_rates(f"{api}={job['rate']}"))
    print("ready", flush=True)
    sys.stdin.readline()  # "go": every instance starts together
    throttled = calls = 0
    for group, rule, description in job["calls"]:
        while True:
            fleet.take("cn-hangzhou", api, time.monotonic() + 60)
            calls += 1
            try:
                client.modify_security_group_egress_rule(models.ModifySecurityGroupEgressRuleRequest(
                    region_id="cn-hangzhou", security_group_id=group, security_group_rule_id=rule,
                    description=description))
                break
            except Exception as exc:  # noqa: BLE001 - only throttling is expected here
                if not is_throttling(exc):
                    raise
                throttled += 1
                fleet.throttled("cn-hangzhou", api, exc)
    fleet.store.close()
    print(json.dumps({"throttled": throttled, "calls": calls}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

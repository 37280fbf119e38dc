"""Benchmark localcloud with the official SDK client (a script, not a test).

Starts ``python -m localcloud start --port 0`` in a subprocess, then measures serial and threaded calls/s
and the CPU each side spends per request: server from /proc/PID/stat (utime+stime), client from
``time.process_time()``. Uses ECS DescribeSecurityGroups when the ECS emulator is present, else PutEvents.

    .venv/bin/python bench/bench_localcloud.py [--serial 1000] [--threaded 2000] [--threads 4]
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Any, Callable

os.environ.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")

from _localcloud import LocalCloudProcess  # noqa: E402  (a sibling of this script)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()  # after "(comm)"; utime/stime are fields 14/15 overall
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def make_call(info: dict[str, Any]) -> tuple[str, Callable[[], Any]]:
    from alibabacloud_tea_openapi.utils_models import Config

    cfg = Config(access_key_id=info["accessKeyId"], access_key_secret=info["accessKeySecret"],
                 endpoint=info["endpoint"].removeprefix("http://"), protocol="http", region_id="cn-hangzhou")
    if "ecs" in info.get("services", {}):
        from alibabacloud_ecs20140526 import models as ecs
        from alibabacloud_ecs20140526.client import Client as Ecs

        client = Ecs(cfg)
        sg = client.create_security_group(ecs.CreateSecurityGroupRequest(region_id="cn-hangzhou", vpc_id="vpc-1"))
        req = ecs.DescribeSecurityGroupsRequest(region_id="cn-hangzhou",
                                                security_group_id=sg.body.security_group_id)
        return "ECS DescribeSecurityGroups", lambda: client.describe_security_groups(req)
    from alibabacloud_eventbridge20200401 import models as eb
    from alibabacloud_eventbridge20200401.client import Client as Eb

    client = Eb(cfg)
    req = eb.PutEventsRequest(event_bus_name="default",
                              event_list=[eb.PutEventsRequestEventList(id="bench-1", source="bench", type="t")])
    return "EventBridge PutEvents", lambda: client.put_events(req)


def measure(pid: int, n_threads: int, total: int, call: Callable[[], Any]) -> dict[str, float]:
    per_thread = total // n_threads
    barrier = threading.Barrier(n_threads + 1)

    def worker() -> None:
        barrier.wait()
        for _ in range(per_thread):
            call()

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in threads:
        t.start()
    s0, c0 = proc_cpu_seconds(pid), time.process_time()
    t0 = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    n = per_thread * n_threads
    server_cpu = (proc_cpu_seconds(pid) - s0) / n
    client_cpu = (time.process_time() - c0) / n
    return {"calls": n, "calls_per_s": n / wall, "server_ms": server_cpu * 1e3, "client_ms": client_cpu * 1e3,
            "ratio": server_cpu / client_cpu if client_cpu else float("nan")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serial", type=int, default=1000, help="calls in the serial run")
    ap.add_argument("--threaded", type=int, default=2000, help="calls in the threaded run (split over threads)")
    ap.add_argument("--threads", type=int, default=4, help="client threads of the threaded run (default: 4)")
    args = ap.parse_args()

    cloud = LocalCloudProcess()
    proc, info = cloud.proc, cloud.info
    try:
        name, call = make_call(info)
        for _ in range(200):  # warm up: connections, code paths
            call()
        rows = [("serial (1 thread)", measure(proc.pid, 1, args.serial, call)),
                (f"threaded ({args.threads} threads)", measure(proc.pid, args.threads, args.threaded, call))]
    finally:
        cloud.stop()

    print(f"localcloud bench: {name}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"{'run':<22}{'calls':>7}{'calls/s':>10}{'server CPU ms/call':>20}{'client CPU ms/call':>20}"
          f"{'server/client':>15}")
    for label, r in rows:
        print(f"{label:<22}{r['calls']:>7}{r['calls_per_s']:>10.0f}{r['server_ms']:>20.3f}{r['client_ms']:>20.3f}"
              f"{r['ratio']:>15.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

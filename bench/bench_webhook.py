"""Benchmark the ticket webhook against baselines measured in the same run (a script, not a test).

Starts localcloud (``python -m localcloud start --port 0``, its MNS holds the change queue) and measures:

1. per-request latency (p50, p99) of the whole webhook -- parse the HTTP event, verify the Jira signature,
   claim the delivery, map the ticket and its sgrule block to a change, validate it, remember it, enqueue it
   with the MNS SDK, record the answer -- against enqueueing the same change alone (``ChangeQueue.send``,
   the same SDK and connection); requests and baseline sends interleaved, all warm, in this process;
2. cold start: a fresh process imports the function, initializes it and answers one signed request (202,
   the change on the queue), ÷ a fresh ``python -c "import pydantic"`` (interleaved runs; medians).

Prints both figures with their spread. Exits 0 whatever the figures (it is a report); non-zero only when
something failed to run.

    .venv/bin/python bench/bench_webhook.py [--requests N] [--cold-runs N]
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import importlib.util
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")

from _localcloud import BenchError, LocalCloudProcess  # noqa: E402  (a sibling of this script)

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "functions" / "ticket_webhook" / "index.py"
CHILD = Path(__file__).resolve().parent / "_webhook_child.py"
PY = sys.executable
QUEUE = "bench-changes"
SECRET = "bench-jira-secret-0123456789"


def pct(xs: list[float], p: float) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def spread(xs: list[float], scale: float = 1.0, unit: str = "s", fmt: str = ".3f") -> str:
    return f"{statistics.median(xs) * scale:{fmt}} {unit} [{min(xs) * scale:{fmt}}-{max(xs) * scale:{fmt}}] (n={len(xs)})"


class Cloud(LocalCloudProcess):
    def __init__(self) -> None:
        super().__init__()
        self.control.create_queue(QUEUE)


def environment(cloud: Cloud, store: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SGRULE_")}
    env.update(ALIBABA_CLOUD_ACCESS_KEY_ID=cloud.info["accessKeyId"],
               ALIBABA_CLOUD_ACCESS_KEY_SECRET=cloud.info["accessKeySecret"],
               ALIBABA_CLOUD_ECS_METADATA_DISABLED="true", SGRULE_MNS_ENDPOINT=cloud.info["endpoint"],
               SGRULE_CHANGE_QUEUE=QUEUE, SGRULE_IDEMPOTENCY_URL=f"sqlite:///{store}",
               SGRULE_ALLOWED_REGIONS="cn-hangzhou", SGRULE_ALLOWED_SECURITY_GROUPS="sg-bench*",
               SGRULE_WEBHOOK_SENDERS=json.dumps([{"name": "jira", "scheme": "jira", "secrets": [SECRET],
                                                   "authorize": AUTHORIZE}]),
               PYTHONPATH=str(ROOT / "shared"))
    return env


# The README's Jira policy: every request below is judged by it (the CEL evaluation is part of the figure).
AUTHORIZE = ('block.from == "native" || (block.from == "description" '
             '&& payload.issue.fields.status.name == "Approved")')


def data(i: int) -> dict[str, Any]:
    return {"RegionId": "cn-hangzhou", "SecurityGroupId": f"sg-bench{i % 50:04d}",
            "SecurityGroupRuleId": f"sgr-bench{i:06d}", "PortRange": "443/443", "DestCidrIp": f"10.{i % 250}.0.0/16",
            "Description": f"vendor egress for CHG-{i}"}


def jira_event(tag: str, i: int) -> bytes:
    """The FC HTTP trigger event of a signed Jira issue webhook whose description holds one sgrule block."""
    body = json.dumps({"timestamp": 1795770900000, "webhookEvent": "jira:issue_updated",
                       "issue": {"id": str(10000 + i), "key": f"{tag}-{i}", "fields": {
                           "summary": "vendor egress", "updated": "2026-11-27T09:15:00.000+0000",
                           "status": {"name": "Approved"},
                           "description": "Please apply:\n```sgrule\n" + json.dumps(data(i)) + "\n```"}}}).encode()
    headers = {"Content-Type": "application/json", "X-Atlassian-Webhook-Identifier": f"{tag}-dlv-{i}",
               "X-Hub-Signature": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}
    return json.dumps({"version": "v1", "rawPath": "/jira", "body": body.decode(), "isBase64Encoded": False,
                       "headers": headers, "queryParameters": {},
                       "requestContext": {"http": {"method": "POST", "path": "/jira"}, "requestId": f"{tag}-{i}"}}
                      ).encode()


def native(tag: str, i: int) -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"{tag}-{i}", "source": "ticketing/jira", "type": "sgrule.egress.modify",
            "time": "2026-11-27T09:15:00.000000Z", "correlationid": f"{tag}-{i}", "data": data(i)}


class Context:
    request_id = "bench"

    class function:  # noqa: N801 - FC's attribute name
        name = "ticket_webhook"
        timeout = 10


def latency(cloud: Cloud, tmp: Path, n: int) -> dict[str, list[float]]:
    os.environ.clear()
    os.environ.update(environment(cloud, str(tmp / "inproc.sqlite3")))
    spec = importlib.util.spec_from_file_location("ticket_webhook_index", INDEX)
    assert spec is not None and spec.loader is not None
    index = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(index)
    from sgrule.clients.mns import ChangeQueue
    from sgrule.webhook import handler as runtime
    from sgrule.webhook.config import WebhookSettings

    runtime.reset()
    index.initialize(Context())
    queue = ChangeQueue(WebhookSettings())
    times: dict[str, list[float]] = {"webhook": [], "enqueue": []}
    for i in range(-20, n):  # 20 warm-up rounds, not counted
        event = jira_event("LAT", i + 20)
        with contextlib.redirect_stderr(io.StringIO()):
            t0 = time.perf_counter()
            answer = index.handler(event, Context())
            t1 = time.perf_counter()
        if answer["statusCode"] != 202:
            raise BenchError(f"webhook answered {answer['statusCode']}: {answer['body'][:300]}")
        t2 = time.perf_counter()
        queue.send([native("BASE", i + 20)], deadline=time.monotonic() + 5)
        t3 = time.perf_counter()
        if i >= 0:
            times["webhook"].append(t1 - t0)
            times["enqueue"].append(t3 - t2)
    runtime.reset()
    return times


def cold(cloud: Cloud, tmp: Path, runs: int) -> dict[str, Any]:
    walls: dict[str, list[float]] = {"function": [], "pydantic": []}
    parts: list[dict[str, Any]] = []
    for r in range(runs):  # interleaved: drift during the run hits both alike
        env = environment(cloud, str(tmp / f"cold-{r}.sqlite3"))
        event_file = tmp / f"event-{r}.json"
        event_file.write_bytes(jira_event(f"COLD{r}", r))
        t0 = time.perf_counter()
        proc = subprocess.run([PY, str(CHILD), str(event_file)], env=env, cwd=ROOT, capture_output=True, text=True)
        walls["function"].append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise BenchError(f"cold child failed ({proc.returncode}): {proc.stdout[-500:]} {proc.stderr[-2000:]}")
        parts.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        t0 = time.perf_counter()
        subprocess.run([PY, "-c", "import pydantic"], env=env, cwd=ROOT, check=True)
        walls["pydantic"].append(time.perf_counter() - t0)
    return {"walls": walls, "parts": parts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="measured requests (and baseline sends)")
    parser.add_argument("--cold-runs", type=int, default=9, help="fresh processes of each kind")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "shared"))
    cloud = Cloud()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp_name:
            tmp = Path(tmp_name)
            print(f"bench_webhook: {args.requests} requests, {args.cold_runs} cold runs of each kind", file=sys.stderr)
            lat = latency(cloud, tmp, args.requests)
            c = cold(cloud, tmp, args.cold_runs)
    except BenchError as exc:
        print(f"bench_webhook: {exc}", file=sys.stderr)
        return 2
    finally:
        cloud.stop()
    w, e = lat["webhook"], lat["enqueue"]
    fn, base = c["walls"]["function"], c["walls"]["pydantic"]
    ratios = [a / b for a, b in zip(fn, base)]
    print("\nper-request latency (warm, in process; one change per request)")
    print(f"  {'':34} {'p50':>9} {'p99':>9}")
    print(f"  {'webhook: verify+map+validate+enqueue':34} {pct(w, 50) * 1000:7.2f}ms {pct(w, 99) * 1000:7.2f}ms")
    print(f"  {'baseline: ChangeQueue.send alone':34} {pct(e, 50) * 1000:7.2f}ms {pct(e, 99) * 1000:7.2f}ms")
    print(f"  {'ratio':34} {pct(w, 50) / pct(e, 50):8.2f}x {pct(w, 99) / pct(e, 99):8.2f}x")
    print(f"  overhead over enqueueing, p50: {(pct(w, 50) - pct(e, 50)) * 1000:.2f} ms")
    print("\ncold start (fresh process: import, initialize, answer one signed request with 202)")
    print(f"  function:                 {spread(fn)}")
    print(f"  python -c 'import pydantic': {spread(base)}")
    print(f"  ratio (median of pairs):  {statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]")
    print(f"  ratio of medians:         {statistics.median(fn) / statistics.median(base):.2f}")
    for key in ("import_s", "initialize_s", "request_s"):
        print(f"    inside the function, {key[:-2]:10}: {spread([p[key] for p in c['parts']], 1000, 'ms', '.1f')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

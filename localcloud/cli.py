"""``python -m localcloud start|invoke`` (also ``sgrule local ...``).

``start`` runs the emulator until SIGINT/SIGTERM; ``invoke`` runs one function in-process against an
embedded emulator (``localcloud/invoke.py``).

The first line on stdout is one JSON object describing the running server, so a parent process can read it
and connect: ``{"endpoint", "ecs", "eventbridge", "mns", "accessKeyId", "accessKeySecret", "accountId", "pid", ...}``.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any

from localcloud.signing import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_ACCOUNT_ID, Credential


def build_parser(prog: str = "localcloud") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Local emulator of the Alibaba Cloud APIs sgrule uses (ECS 2014-05-26 subset, EventBridge "
        "2020-04-01 PutEvents). The official SDK clients talk to it over HTTP with endpoint=HOST:PORT, "
        "protocol='http'.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    start = sub.add_parser(
        "start",
        help="serve until SIGINT/SIGTERM",
        description="Start the emulator and serve until SIGINT/SIGTERM. The first stdout line is a JSON object "
        "with endpoint, ecs, eventbridge, mns, accessKeyId, accessKeySecret, accountId, pid. Control API (unsigned "
        "JSON): /_emulator/{health,reset,calls,state,faults,events,buses,queues,clock}.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    start.add_argument("--host", default="127.0.0.1", help="address to bind")
    start.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    start.add_argument("--access-key-id", default=DEFAULT_ACCESS_KEY_ID, help="access key id clients must sign with")
    start.add_argument("--access-key-secret", default=DEFAULT_ACCESS_KEY_SECRET, help="its secret")
    start.add_argument("--account-id", default=DEFAULT_ACCOUNT_ID, help="account the key belongs to")
    start.add_argument("--security-token", default=None,
                       help="if set, the key is an STS key: requests must carry exactly this token")
    start.add_argument("--state", metavar="FILE", default=None,
                       help="JSON state {\"ecs\": ..., \"eventbridge\": ...} to load at start (and on reset)")
    start.add_argument("--bus", metavar="NAME", action="append", default=[],
                       help="create an EventBridge bus besides 'default' (repeatable)")
    start.add_argument("--fault-seed", type=int, default=None, help="seed for probabilistic fault rules")

    from localcloud.invoke import add_parser as add_invoke  # stdlib-only module: --help stays instant

    add_invoke(sub)
    return parser


def main(argv: list[str] | None = None, prog: str = "localcloud") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.command == "invoke":
        from localcloud.invoke import run

        return run(args)
    if args.command != "start":
        parser.print_help()
        return 2
    return _start(args)


def _start(args: argparse.Namespace) -> int:
    from localcloud.server import LocalCloud  # after argument parsing, so --help stays instant

    state: dict[str, Any] | None = None
    if args.state:
        try:
            with open(args.state, encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, ValueError) as e:
            print(f"localcloud: cannot read --state {args.state}: {e}", file=sys.stderr)
            return 2
    cred = Credential(args.access_key_id, args.access_key_secret, args.account_id, args.security_token)
    try:
        cloud = LocalCloud(host=args.host, port=args.port, credentials={args.access_key_id: cred}, state=state,
                           buses=args.bus, fault_seed=args.fault_seed)
        cloud.start()
    except (OSError, ValueError) as e:
        print(f"localcloud: cannot start: {e}", file=sys.stderr)
        return 1

    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    info = {
        "endpoint": cloud.endpoint,
        "ecs": cloud.endpoint,  # one server for every product; the SDK picks by x-acs-version
        "eventbridge": cloud.endpoint,
        "mns": cloud.endpoint,  # the MNS SDK's host (Account(host, ...)); routed by its path and signature
        "hostPort": f"{cloud.endpoint.removeprefix('http://')}",
        "accessKeyId": args.access_key_id,
        "accessKeySecret": args.access_key_secret,
        "accountId": args.account_id,
        "regionId": "cn-hangzhou",
        "services": {name: svc.version for name, svc in cloud.services.items()},
        "pid": os.getpid(),
    }
    print(json.dumps(info), flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        cloud.stop()
    print("localcloud: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

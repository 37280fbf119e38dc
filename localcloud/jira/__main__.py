"""``python -m localcloud.jira``: run the local Jira until interrupted; the first stdout line is its URL (JSON)."""
from __future__ import annotations

import argparse
import json
import signal
import threading

from localcloud.jira.server import LocalJira


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m localcloud.jira",
                                     description="A local Jira Cloud (REST API v3: issue comments) for sgrule's "
                                                 "notify function.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--user", action="append", default=[], metavar="EMAIL:TOKEN",
                        help="an account and its API token (repeatable)")
    parser.add_argument("--issue", action="append", default=[], metavar="KEY", help="an issue (repeatable)")
    args = parser.parse_args()
    users = dict(u.split(":", 1) for u in args.user if ":" in u)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalJira(users=users, issues=args.issue, port=args.port) as jira:
        print(json.dumps({"url": jira.url, "issues": args.issue, "users": sorted(users)}), flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

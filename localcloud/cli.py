"""``python -m localcloud start|invoke|trigger|generate-event`` (also ``sgrule local ...``).

``start`` runs the emulator until SIGINT/SIGTERM -- with ``--template``, the whole application the template
declares (``localcloud/app.py``); ``invoke`` runs one function in-process against an embedded emulator
(``localcloud/invoke.py``); ``trigger`` fires a timer of a running application now; ``generate-event`` prints
a trigger's event envelope (``localcloud/events.py``).

The first line on stdout of ``start`` is one JSON object describing the running server, so a parent process
can read it and connect: ``{"endpoint", "ecs", "eventbridge", "mns", "fc", "http", "accessKeyId",
"accessKeySecret", "accountId", "pid", ...}``.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any, Callable

from localcloud import wirejson
from localcloud.signing import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_ACCOUNT_ID, Credential


# name -> (add its sub-parser, run it): commands a host program adds (sgrule adds `pipeline`).
Extensions = dict[str, tuple[Callable[[Any], Any], Callable[[argparse.Namespace], int]]]
# A host program's readable form of a function's result (doc, colour) -> text, or None when it does not know
# the shape (then the result is printed as JSON). sgrule passes its renderer of outcomes, reports, responses.
Render = Callable[[Any, bool], "str | None"]


def build_parser(prog: str = "localcloud", extensions: Extensions | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Local emulator of the Alibaba Cloud APIs an FC 3.0 application uses (ECS 2014-05-26 "
        "subset, EventBridge 2020-04-01, MNS queues, Function Compute 2023-03-30) and of the application "
        "itself from its ROS template. The official SDK clients talk to it over HTTP with "
        "endpoint=HOST:PORT, protocol='http'.",
    )
    from localcloud.invoke import positive_int, positive_seconds  # stdlib-only module: --help stays instant

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    start = sub.add_parser(
        "start",
        help="serve until SIGINT/SIGTERM",
        description="Start the emulator and serve until SIGINT/SIGTERM. With --template, start everything "
        "the ROS template declares: MNS queues, EventBridge buses and rules, FC functions (worker processes "
        "that behave like FC instances) and their http, timer and eventbridge (MNS) triggers; each invocation "
        "is logged on stderr (function, trigger, duration, result). The first stdout line is a JSON object "
        "with endpoint (control), ecs, eventbridge, mns, fc, http (function -> URL), accessKeyId, "
        "accessKeySecret, accountId, pid. Control API (unsigned JSON): /_emulator/{health,reset,calls,state,"
        "faults,events,buses,queues,clock} and with --template also {invocations,triggers/FUNCTION,rules,app,"
        "idle}.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    start.add_argument("--template", metavar="FILE", default=None,
                       help="ROS template to run (functions come from functions/<zip name> next to it)")
    start.add_argument("--param", metavar="K=V", action="append", default=[],
                       help="template parameter (repeatable); parameters without a Default must be given")
    start.add_argument("--instances", type=positive_int, default=2, metavar="N",
                       help="most instances (worker processes) per function")
    start.add_argument("--retry-base-ms", type=positive_seconds, default=500, metavar="MS",
                       help="first retry interval of async invocations and triggers (doubles each time)")
    start.add_argument("--env", metavar="K=V", action="append", default=[],
                       help="environment variable for every function, over the template's (repeatable)")
    start.add_argument("--quiet-functions", action="store_true",
                       help="do not echo the functions' own output on stderr (invocations are still logged)")
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
    start.add_argument("--ecs-quota", metavar="ACTION=CALLS_PER_SECOND", action="append", default=[],
                       help="ECS API rate quota per account and region (repeatable): a call over it is refused "
                            "with 400 Throttling.User until the next window; CALLS/SECONDS sets a longer window "
                            "(e.g. ModifySecurityGroupEgressRule=40, DescribeSecurityGroups=2400/60)")

    from localcloud.events import add_parser as add_generate
    from localcloud.invoke import add_parser as add_invoke  # stdlib-only module: --help stays instant

    add_invoke(sub)
    trigger = sub.add_parser(
        "trigger", help="fire a timer trigger of a running application now",
        description="Fire FUNCTION's timer trigger once, now, in the application started with `start "
        "--template` (its handler gets the timer event with the trigger's payload). Prints "
        '{"function", "trigger", "requestId", "ok", "result", "error", "errorType"} as JSON when piped, the '
        "handler's result readable on a terminal; exit 0 the handler returned, 1 it raised, 2 no such timer "
        "or no application.")
    trigger.add_argument("function", metavar="FUNCTION", help="the function's name (FunctionName)")
    trigger.add_argument("--trigger", default=None, metavar="NAME", help="which timer, if it has several")
    trigger.add_argument("--endpoint", default=os.environ.get("LOCALCLOUD_ENDPOINT"),
                         help="the application's endpoint (the 'endpoint' start printed; default: "
                              "$LOCALCLOUD_ENDPOINT)")
    trigger.add_argument("--format", choices=("table", "json"), default=None,
                         help="the handler's result: readable on a terminal, JSON when piped (default)")
    add_generate(sub)
    for add, _run in (extensions or {}).values():
        add(sub)
    return parser


def main(argv: list[str] | None = None, prog: str = "localcloud", extensions: Extensions | None = None,
         render: Render | None = None, reset: Callable[[], None] | None = None) -> int:
    """``render``: the host's readable form of a result; ``reset``: its hook that forgets a function's cached
    per-instance state (``invoke`` runs it before and after the call)."""
    parser = build_parser(prog, extensions)
    args = parser.parse_args(argv)
    if args.command == "invoke":
        from localcloud.invoke import run

        return run(args, render, reset)
    if args.command == "generate-event":
        from localcloud.events import run as run_generate

        return run_generate(args)
    if args.command == "trigger":
        return _trigger(args, render)
    if args.command in (extensions or {}):
        return (extensions or {})[args.command][1](args)
    if args.command != "start":
        parser.print_help(sys.stderr)
        return 2
    return _start(args)


def _port_hint(exc: BaseException) -> str:
    import errno

    in_use = isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE
    return " (the port is taken: give another --port, or --port 0 for a free one)" if in_use else ""


def _trigger(args: argparse.Namespace, render: Render | None = None) -> int:
    from localcloud.control_client import ControlClient, ControlError
    from localcloud.invoke import as_json, pick_format, print_result

    if not args.endpoint:
        print("trigger: give --endpoint (the 'endpoint' that `start --template` printed) or set "
              "LOCALCLOUD_ENDPOINT", file=sys.stderr)
        return 2
    route = f"triggers/{args.function}"
    try:
        result = ControlClient(args.endpoint).request("POST", route, None,
                                                      query={"trigger": args.trigger} if args.trigger else None)
    except (ControlError, OSError) as exc:
        print(f"trigger: {exc} (is the application still running at {args.endpoint}? `start --template` "
              "prints its endpoint)", file=sys.stderr)
        return 2
    if result.get("ok") and pick_format(args.format) == "table":  # the handler's result, as `invoke` shows it
        print(f"trigger: {result.get('function')} timer {result.get('trigger')!r}, request "
              f"{result.get('requestId')}", file=sys.stderr)
        print_result(as_json(result.get("result")), "table", render)
    else:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if result.get("ok") else 1


def _ecs_quotas(args: argparse.Namespace) -> dict[str, Any] | None:
    """The --ecs-quota values, or None after printing what is wrong with them."""
    from localcloud.ecs.quotas import parse_quota_args

    try:
        return parse_quota_args(args.ecs_quota)
    except ValueError as exc:
        print(f"localcloud: {exc}", file=sys.stderr)
        return None


def set_ecs_quotas(cloud: Any, quotas: dict[str, Any]) -> None:
    """Make ``quotas`` the ECS quotas of ``cloud`` from its start (and after every reset)."""
    ecs = cloud.services.get("ecs")
    if ecs is not None and quotas:
        ecs.quotas.defaults = dict(quotas)
        ecs.quotas.reset()


def _start(args: argparse.Namespace) -> int:
    from localcloud.server import LocalCloud  # after argument parsing, so --help stays instant

    if _ecs_quotas(args) is None:
        return 2
    if args.template:
        return _start_app(args)

    state: dict[str, Any] | None = None
    if args.state:
        try:
            with open(args.state, encoding="utf-8") as f:
                state = wirejson.loads(f.read())
        except (OSError, ValueError) as e:
            print(f"localcloud: cannot read --state {args.state}: {e}", file=sys.stderr)
            return 2
    cred = Credential(args.access_key_id, args.access_key_secret, args.account_id, args.security_token)
    try:
        cloud = LocalCloud(host=args.host, port=args.port, credentials={args.access_key_id: cred}, state=state,
                           buses=args.bus, fault_seed=args.fault_seed)
        set_ecs_quotas(cloud, _ecs_quotas(args) or {})
        cloud.start()
    except (OSError, ValueError) as e:
        print(f"localcloud: cannot start: {e}{_port_hint(e)}", file=sys.stderr)
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


def _start_app(args: argparse.Namespace) -> int:
    import time

    from localcloud.app import LocalApp, describe, rfc3339
    from localcloud.ros.check import refuse_unless_valid
    from localcloud.template import TemplateError, parse_params

    def err(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def log(message: str) -> None:  # the application's own log lines carry their time, as invocations do
        err(f"{rfc3339(time.time())}  localcloud: {message}")

    try:
        state = wirejson.loads(open(args.state, encoding="utf-8").read()) if args.state else None
    except (OSError, ValueError) as exc:
        err(f"localcloud: cannot read --state {args.state}: {exc}")
        return 2
    cred = Credential(args.access_key_id, args.access_key_secret, args.account_id, args.security_token)
    output = None if args.quiet_functions else (lambda fn, inst, line: err(f"  {fn} | {line}"))
    try:
        refuse_unless_valid(args.template)  # a local start rehearses the deploy: what ROS refuses, refused here
        app = LocalApp(args.template, parse_params(args.param), state=state, host=args.host, port=args.port,
                       credentials={args.access_key_id: cred}, account_id=args.account_id,
                       max_instances=args.instances, retry_base_s=args.retry_base_ms / 1000,
                       env=parse_params(args.env),
                       function_output=output, log=log)
        app.fc.invocations.add_listener(lambda inv: err(describe(inv)))
        set_ecs_quotas(app.cloud, _ecs_quotas(args) or {})
        app.start()
    except TemplateError as exc:
        err(f"localcloud: {exc}")
        return 2
    except (OSError, ValueError) as exc:
        err(f"localcloud: cannot start: {exc}{_port_hint(exc)}")
        return 1
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    print(json.dumps(app.info()), flush=True)
    log(f"{len(app.fc.functions)} function(s), {len(app.trigger_specs)} trigger(s), "
        f"{len(app.rule_specs)} rule(s) from {args.template}; Ctrl-C stops")
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        app.stop()
    err("localcloud: stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

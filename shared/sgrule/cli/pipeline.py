"""``sgrule local pipeline``: the whole application on one machine, end to end.

Starts everything ``template.yml`` declares on an embedded localcloud (seeded with ``--state``), sends the
rule changes of ``--changes`` to the change queue with the official MNS SDK (``sgrule.clients.mns``), waits
until each has its outcome event on the outcome bus, prints a summary (counts per status, one line per
change; JSON when stdout is not a terminal or with ``--format json``), and stops everything. Invocations are
logged on stderr as they happen.

Parameters the local run fills in unless given with ``--param``: ``CodeBucket=local`` (code comes from
``functions/``), ``AllowedSecurityGroups=*``, ``RedisUrl`` = a fresh SQLite file (one store shared by the
instances, deleted afterwards), ``BatchWindowSeconds=1``. Exit 0 every change has its outcome, 1 some did
not within ``--timeout``, 2 bad input.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

LOCAL_DEFAULTS = {"CodeBucket": "local", "AllowedSecurityGroups": "*", "BatchWindowSeconds": "1"}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from localcloud.invoke import positive_seconds  # the `local` commands are localcloud's (stdlib-only module)

    p = sub.add_parser("pipeline", help="send sample changes through the whole application and summarise",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--template", default="template.yml", help="ROS template (default: %(default)s)")
    p.add_argument("--state", default="events/apply/state.json",
                   help="localcloud state to start from (default: %(default)s)")
    p.add_argument("--changes", default="events/apply/mns-batch.json",
                   help="rule changes: one event, a JSON array, JSON lines, or an MNS trigger batch whose message "
                        "bodies are the changes (default: %(default)s)")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="template parameter (repeatable)")
    p.add_argument("--timeout", type=positive_seconds, default=120, metavar="S",
                   help="longest wait for the outcomes (default: %(default)s)")
    p.add_argument("--format", choices=("table", "json"), default=None,
                   help="the summary: readable on a terminal, JSON when piped (default)")
    p.add_argument("--json", action="store_const", const="json", dest="format",
                   help="the same as --format json")
    return p


def _read_state(path: str) -> Any:
    from ..contract.safe import NotJson, loads

    try:
        return loads(Path(path).read_bytes())
    except NotJson as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from None


def read_changes(path: str) -> list[dict[str, Any]]:
    """The rule changes of a file as ``sgrule validate`` reads it (raises ValueError with line and column)."""
    from ..contract.envelope import unwrap
    from .validate import read_documents

    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    docs = read_documents(data.decode("utf-8-sig"))
    items = [d for doc in docs for d in unwrap(doc if isinstance(doc, list) else [doc])]
    changes = [d.raw for d in items if isinstance(d.raw, dict)]
    if not changes:
        raise ValueError(f"{path}: no rule changes found; give --changes one rule-change event, an array of them, "
                         "JSON lines or an MNS trigger batch (events/apply/mns-batch.json is one)")
    return changes


def _send(app: Any, queue: str, changes: list[dict[str, Any]]) -> list[str]:
    from localcloud.invoke import patched_environ

    from ..clients.mns import ChangeQueue
    from ..runtime.config import CommonSettings

    env = {**app.environment(), "SGRULE_MNS_ENDPOINT": app.endpoint, "SGRULE_CHANGE_QUEUE": queue}
    with patched_environ(env, ("ALIBABA_CLOUD_SECURITY_TOKEN",)):
        settings = CommonSettings()
        return ChangeQueue(settings).send(changes, deadline=time.monotonic() + 30)


def run(args: argparse.Namespace) -> int:
    from localcloud.app import LocalApp, describe, rfc3339
    from localcloud.ros.check import refuse_unless_valid
    from localcloud.template import TemplateError, declared_parameters, parse_params

    def err(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def log(message: str) -> None:  # the application's own log lines carry their time, as invocations do
        err(f"{rfc3339(time.time())}  localcloud: {message}")

    tmp = tempfile.mkdtemp(prefix="sgrule-pipeline-")
    app = None
    try:
        declared = declared_parameters(args.template)
        params = {k: v for k, v in LOCAL_DEFAULTS.items() if k in declared}
        if "RedisUrl" in declared:
            params["RedisUrl"] = f"sqlite:///{tmp}/idempotency.sqlite3"
        params.update(parse_params(args.param))
        state = _read_state(args.state) if args.state else None
        changes = read_changes(args.changes)
        refuse_unless_valid(args.template)  # what ROS would refuse never runs here either
        app = LocalApp(args.template, params, state=state, retry_base_s=0.2, log=log)
        app.fc.invocations.add_listener(lambda inv: err(describe(inv)))
        app.start()
    except (OSError, ValueError, TemplateError) as exc:
        err(f"pipeline: {exc}")
        if app is not None:
            app.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        return 2
    try:
        pollers = list(app.pollers.values())
        if not pollers:
            err("pipeline: the template has no eventbridge trigger on an MNS queue to send changes to")
            return 2
        buses = {spec.environment.get("SGRULE_OUTCOME_BUS") or "" for spec in app.fc.functions.values()} - {""}
        bus = next(iter(sorted(buses)), "default")
        err(f"pipeline: application up at {app.endpoint}; sending {len(changes)} change(s) to queue "
            f"{pollers[0].queue!r}, outcomes expected on bus {bus!r}")
        started = time.monotonic()
        ids = _send(app, pollers[0].queue, changes)
        wanted = [(str(c.get("source")), str(c.get("id"))) for c in changes]
        deadline = started + args.timeout
        got: dict[tuple[str, str], dict[str, Any]] = {}
        while time.monotonic() < deadline:
            for e in app.eventbridge.events(bus):
                data = e["event"].get("Data") or e["event"].get("data") or {}
                key = (str(data.get("changeSource")), str(data.get("changeId")))
                if key in wanted:
                    got[key] = {"type": e["event"].get("Type") or e["event"].get("type"), **data}
            if len(got) == len(set(wanted)):
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        app.wait_idle(5)
        summary = _summary(changes, ids, wanted, got, elapsed, app)
    finally:
        app.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    from .output import pick_format, use_colour

    if pick_format(args.format) == "json":
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        _print_readable(summary, use_colour())
    return 0 if not summary["missing"] else 1


def _summary(changes: list[dict[str, Any]], ids: list[str], wanted: list[tuple[str, str]],
             got: dict[tuple[str, str], dict[str, Any]], elapsed: float, app: Any) -> dict[str, Any]:
    lines = []
    for change, message_id, key in zip(changes, ids, wanted):
        out = got.get(key)
        data: dict[str, Any] = change["data"] if isinstance(change.get("data"), dict) else {}
        lines.append({"changeId": key[1], "source": key[0], "messageId": message_id,
                      "status": out["status"] if out else None,
                      "securityGroupId": data.get("SecurityGroupId"),
                      "securityGroupRuleId": (out or {}).get("securityGroupRuleId") or data.get("SecurityGroupRuleId"),
                      "error": (out or {}).get("error")})
    invocations = app.fc.invocations.list()
    return {"changes": len(changes), "seconds": round(elapsed, 3),
            "counts": dict(Counter(line["status"] or "missing" for line in lines)),
            "missing": [line["changeId"] for line in lines if line["status"] is None],
            "invocations": len(invocations), "failedInvocations": sum(1 for i in invocations if i.error_type),
            "outcomes": lines}


def _print_readable(s: dict[str, Any], colour: bool = False) -> None:
    from .output import table

    counts = ", ".join(f"{n} {status}" for status, n in sorted(s["counts"].items()))
    rows = []
    for line in s["outcomes"]:
        where = "/".join(x for x in (line["securityGroupId"], line["securityGroupRuleId"]) if x)
        err = line["error"]
        rows.append([line["status"] or "missing", line["changeId"], where,
                     f"{err['code']}: {err['message']}" if err else ""])
    sys.stdout.write(table(["status", "change", "rule", "error"], rows, widths=(11, 32, 40, None),
                           status_column=0, colour=colour))
    print(f"\n{s['changes']} change(s) -> {counts}  ({s['seconds']:.2f} s, {s['invocations']} invocation(s), "
          f"{s['failedInvocations']} failed)")
    if s["missing"]:
        print(f"no outcome within the timeout for: {', '.join(s['missing'])}; try a longer --timeout, and see "
              "the invocation log above for failures")

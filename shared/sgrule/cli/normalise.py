"""``sgrule normalise``: the normaliser's pass from a terminal, with a progress bar and a readable diff.

Runs the same pass as the FC function (``sgrule.normalise.run``) in one go -- no time budget, no resume
cursor -- with the same settings (``SGRULE_*`` environment variables). Output: a diff per rule on a
terminal, JSON when piped, or ``--format table|markdown|csv|json``. Exit 0 when the pass is complete and
error-free, 1 when some group or rule could not be read or judged, 2 for a bad policy or setting.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from typing import Any, TextIO

FORMATS = ("table", "markdown", "csv", "json")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "normalise", help="bring rule descriptions into line with the policy (see --dry-run)",
        description="Scan the egress rules in scope (SGRULE_ALLOWED_REGIONS / SGRULE_ALLOWED_SECURITY_GROUPS, "
        "narrowed by --region / --security-group) and normalise their descriptions with the policy "
        "(SGRULE_NORMALISE_POLICY, or the default shipped with sgrule). A real run enqueues one rule-change "
        "event per rule that changes, for the apply function (needs SGRULE_MNS_ENDPOINT); --dry-run only "
        "reports. Exit 0 complete, 1 errors in the report, 2 bad policy or settings.")
    p.add_argument("--dry-run", action="store_true", help="report what would change; enqueue nothing")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="output format (default: table on a terminal, json when piped)")
    p.add_argument("--region", action="append", metavar="REGION",
                   help="region id or glob to scan (repeatable; default SGRULE_NORMALISE_REGIONS or the allow-list)")
    p.add_argument("--security-group", action="append", metavar="GLOB",
                   help="security-group id or glob (repeatable; default: every allowed group)")
    p.add_argument("--policy", metavar="FILE", help="policy file (default: SGRULE_NORMALISE_POLICY or the default)")
    p.set_defaults(func=cmd_normalise)


def cmd_normalise(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from ..normalise.config import NormaliseSettings
    from ..normalise.policy import PolicyError
    from ..normalise.scope import NormaliseRequest, NothingToScan

    try:
        settings = NormaliseSettings()
        if args.policy:
            settings = settings.model_copy(update={"normalise_policy": args.policy})
        request = NormaliseRequest(dryRun=args.dry_run, regions=args.region, securityGroups=args.security_group)
    except (ValidationError, ValueError) as exc:
        return _fail(f"bad setting or argument: {exc}")
    if not args.dry_run and not settings.mns_endpoint:
        return _fail("a real run enqueues changes on the change queue: set SGRULE_MNS_ENDPOINT (and "
                     "SGRULE_CHANGE_QUEUE), or use --dry-run")
    try:
        report = run(settings, request, Bar(sys.stderr) if sys.stderr.isatty() else None)
    except PolicyError as exc:
        return _fail(f"invalid policy: {exc}")
    except NothingToScan as exc:
        return _fail(str(exc))
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    sys.stdout.write(render(report, fmt, color=fmt == "table" and sys.stdout.isatty()
                            and not os.environ.get("NO_COLOR")))
    return 0 if report["complete"] and not report["errors"] else 1


def run(settings: Any, request: Any, progress: Any = None) -> dict[str, Any]:
    """One whole pass with the settings' clients (what the command does, without the printing)."""
    from concurrent.futures import ThreadPoolExecutor

    from ..clients.ecs import RegionalClients
    from ..clients.eventbridge import make_publisher
    from ..runtime.log import Logger
    from ..normalise.policy import load
    from ..normalise.run import Pass, PassDeps

    policy = load(settings.normalise_policy)
    ecs = RegionalClients(settings)

    queue = None
    if not request.dryRun:
        from ..clients.mns import ChangeQueue
        queue = ChangeQueue(settings)
    with ThreadPoolExecutor(max_workers=settings.normalise_concurrency) as pool:
        deps = PassDeps(settings=settings, ecs=ecs, pool=pool, policy=policy, publisher=make_publisher(settings),
                        log=Logger(level="warning"), store=None, queue=queue)
        report = Pass(deps, request, time.monotonic() + 365 * 24 * 3600, progress).run()
    if progress:
        progress.close()
    return report


def _fail(message: str) -> int:
    print(f"sgrule normalise: {message}", file=sys.stderr)
    return 2


class Bar:
    """A one-line progress bar on a terminal (stderr), redrawn at most ten times a second."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream, self.width, self._last, self._drawn = stream, width, 0.0, False

    def __call__(self, done: int, listed: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and done < listed:
            return
        self._last = now
        filled = int(self.width * done / listed) if listed else 0
        self.stream.write(f"\rscanning [{'#' * filled}{'.' * (self.width - filled)}] {done}/{listed} groups")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


# ------------------------------------------------------------------ rendering


def _csv_text(value: str) -> str:
    """A cell as written: NUL as the six characters ``\\u0000`` (spreadsheets stop at a NUL, and Python's csv
    module before 3.11 can neither write nor read one); everything else as it is."""
    return value.replace("\x00", "\\u0000")


def _text(value: str) -> str:
    """A description shown unambiguously: quoted, control and invisible characters escaped."""
    return json.dumps(value, ensure_ascii=False).replace("\u200b", "\\u200b").replace("\u00a0", "\\u00a0")


def summary(report: dict[str, Any]) -> str:
    c = report["counts"]
    steps = ", ".join(f"{name} {n}" for name, n in sorted(c["byStep"].items(), key=lambda kv: -kv[1]))
    lines = [f"{c['groups']} groups, {c['rules']} rules: {c['toChange']} to change"
             + (f" ({steps})" if steps else "") + f", {c['unchanged']} unchanged"]
    for name, n in sorted(c["findings"].items()):
        lines.append(f"{n} rules: {name.replace('-', ' ')}")
    if c["unstable"]:
        lines.append(f"{c['unstable']} rules on which the policy does not settle (left unchanged)")
    if c["errors"]:
        lines.append(f"{c['errors']} errors")
    lines.append("dry run: nothing enqueued" if report["dryRun"] else f"{c['enqueued']} changes enqueued")
    if not report["complete"]:
        lines.append(f"incomplete: {c['pendingGroups']} groups not read")
    omitted = report.get("omitted") or {}
    if omitted.get("changes"):
        lines.append(f"({omitted['changes']} more changes not listed)")
    return "\n".join(lines) + "\n"


def render(report: dict[str, Any], fmt: str, color: bool = False) -> str:
    if fmt == "json":
        return json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["regionId", "securityGroupId", "securityGroupRuleId", "steps", "before", "after"])
        for ch in report["changes"]:
            writer.writerow([ch["regionId"], ch["securityGroupId"], ch["securityGroupRuleId"],
                             " ".join(ch["steps"]), _csv_text(ch["before"]), _csv_text(ch["after"])])
        return out.getvalue()
    if fmt == "markdown":
        rows = ["| security group | rule | steps | before | after |", "|---|---|---|---|---|"]
        for ch in report["changes"]:
            cells = [ch["securityGroupId"], ch["securityGroupRuleId"], ", ".join(ch["steps"]),
                     _text(ch["before"]), _text(ch["after"])]
            rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        errors = [f"- {e['securityGroupId'] or e['regionId']} {e.get('securityGroupRuleId') or ''}: "
                  f"{e['code']}: {e['message']}".replace("  ", " ") for e in report["errors"]]
        return "\n".join(rows + ([""] + errors if errors else []) + ["", summary(report)])
    red, green, dim, off = ("\x1b[31m", "\x1b[32m", "\x1b[2m", "\x1b[0m") if color else ("", "", "", "")
    lines = []
    for ch in report["changes"]:
        lines.append(f"{ch['securityGroupId']} {ch['securityGroupRuleId']}  {dim}{', '.join(ch['steps'])}{off}")
        lines.append(f"  {red}- {_text(ch['before'])}{off}")
        lines.append(f"  {green}+ {_text(ch['after'])}{off}")
    for e in report["errors"]:
        where = " ".join(x for x in (e.get("regionId"), e.get("securityGroupId"), e.get("securityGroupRuleId")) if x)
        lines.append(f"error {where}: {e['code']}: {e['message']}")
    return ("\n".join(lines) + "\n\n" if lines else "") + summary(report)

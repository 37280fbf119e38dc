"""``sgrule guardrails check FILE`` and ``sgrule guardrails test FILE CASES``: a security team's loop for
its policy, before it is deployed (README, Guardrails).

``check`` reads and compiles the policy as the functions do, and lists every problem with its place
(``file:line:column: guardrail 'name': what``); exit 0 if the policy can be used, 1 if not, 2 if the file
cannot be read as text (as ``test`` and ``validate`` answer).

``test`` runs the cases of CASES (``rule``/``before``/``change``/``group`` -> ``expect``: guardrail ->
allow|deny) against the policy, in the style of ``opa test``: one line per expectation, failures with the
evaluation error if there was one; exit 0 when every expectation holds, 1 when one fails, 2 when the policy
or the cases cannot be read.

Output: a table on a terminal, JSON when piped (``--format``).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .output import FORMATS, pick_format, table, use_colour


def add_parser(sub: Any) -> None:
    p = sub.add_parser("guardrails", help="check a guardrails policy, or run its test cases",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    inner = p.add_subparsers(dest="guardrails_command", metavar="COMMAND")
    c = inner.add_parser("check", help="read and compile a policy; every problem with its place",
                         description="Read and compile a guardrails policy as the functions do; list every "
                         "problem (file:line:column, guardrail). Exit 0 if it can be used, 1 if not.")
    c.add_argument("file", metavar="FILE", help="the policy (YAML)")
    c.add_argument("--format", choices=FORMATS, default=None, help="table on a terminal, json when piped")
    c.set_defaults(func=cmd_check)
    t = inner.add_parser("test", help="run test cases against a policy (like `opa test`)",
                         description="Run the cases of CASES against the policy in FILE. Exit 0 when every "
                         "expectation holds, 1 when one fails, 2 when the policy or the cases cannot be read.",
                         epilog="example:\n  sgrule guardrails test guardrails/example.yml guardrails/example.cases.yml",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("file", metavar="FILE", help="the policy (YAML)")
    t.add_argument("cases", metavar="CASES", help="the cases (YAML or JSON: `cases:`, see README)")
    t.add_argument("--format", choices=FORMATS, default=None, help="table on a terminal, json when piped")
    t.set_defaults(func=cmd_test)
    p.set_defaults(func=lambda _args: (p.print_help(sys.stderr), 2)[1])


def load_or_say(path: str, prog: str) -> Any:
    """The policy in ``path``, or None after saying every problem on stderr (for commands that use one)."""
    from ..guardrails import PolicyInvalid, load

    try:
        return load(path)
    except PolicyInvalid as exc:
        for problem in exc.problems:
            print(f"{prog}: {problem}", file=sys.stderr)
        print(f"{prog}: the guardrails policy is invalid (`sgrule guardrails check {path}` lists its problems)",
              file=sys.stderr)
        return None


def cmd_check(args: argparse.Namespace) -> int:
    from ..guardrails import PolicyInvalid, load

    fmt = pick_format(args.format)
    try:
        policy = load(args.file)
    except PolicyInvalid as exc:
        if fmt == "json":
            print(json.dumps({"file": args.file, "valid": False, "problems": [p.to_dict() for p in exc.problems]},
                             ensure_ascii=False))
        else:
            for problem in exc.problems:
                print(problem)
            print(f"{len(exc.problems)} problem(s): the functions would reject every change with this policy "
                  "(Forbidden.GuardrailPolicyInvalid). Fix them and check again.")
        return 2 if exc.unreadable else 1
    if fmt == "json":
        print(json.dumps({"file": args.file, "valid": True, "guardrails": [
            {"name": g.name, "action": g.action, "line": g.line} for g in policy.guardrails]}, ensure_ascii=False))
    else:
        rows = [[g.name, g.action, g.line, g.message] for g in policy.guardrails]
        print(table(["guardrail", "action", "line", "message"], rows, widths=(32, 6, 5, None)))
        print(f"{args.file}: {len(policy.guardrails)} guardrail(s), all compiled")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from ..guardrails.cases import CasesInvalid, read_cases, run

    fmt = pick_format(args.format)
    policy = load_or_say(args.file, "sgrule guardrails test")
    if policy is None:
        return 2
    try:
        cases = read_cases(args.cases)
    except CasesInvalid as exc:
        print(f"sgrule guardrails test: {exc}", file=sys.stderr)
        return 2
    report = run(policy, cases)
    if fmt == "json":
        for check in report.checks:
            print(json.dumps(check.to_dict(), ensure_ascii=False))
    else:
        colour = use_colour()
        rows = [["ok" if c.passed else "failed", c.case, c.guardrail, c.expected, c.actual, c.error or ""]
                for c in report.checks]
        print(table(["status", "case", "guardrail", "expected", "actual", "error"], rows,
                    widths=(6, 40, 28, 8, 8, None), status_column=0, colour=colour))
        failed = len(report.failed)
        print(f"{len(report.checks)} expectation(s) in {len(cases)} case(s): {len(report.checks) - failed} passed, "
              f"{failed} failed")
    return 1 if report.failed else 0

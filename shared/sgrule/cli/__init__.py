"""The ``sgrule`` command: validate events, export schemas, normalise descriptions, run the local cloud.

Tooling only: the deployed functions never import this module.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

SCHEMA_DIR = Path("schemas")


def version() -> str:
    """The installed distribution's version (what pip installed), else the package's own."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("sgrule")
    except PackageNotFoundError:  # run from a source tree that was never installed
        from .. import __version__

        return __version__


def schemas() -> dict[str, dict[str, Any]]:
    """Every published JSON Schema, by file name, generated from the models."""
    from ..contract.schemas import all_schemas

    return all_schemas()


def cmd_schemas(args: argparse.Namespace) -> int:
    out = Path(args.dir)
    missing, stale = [], []
    for name, schema in schemas().items():
        text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
        target = out / name
        if args.write:
            out.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
        elif not target.exists():
            missing.append(str(target))
        elif target.read_text(encoding="utf-8") != text:
            stale.append(str(target))
    if missing:
        print("missing: " + ", ".join(missing), file=sys.stderr)
    if stale:
        print("stale (they differ from the models): " + ", ".join(stale), file=sys.stderr)
    if missing or stale:
        where = "" if out == SCHEMA_DIR else f" --dir {args.dir}"
        print(f"run `sgrule schemas --write{where}` (or `make schemas`) and commit the result", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgrule",
        description="Change Alibaba Cloud security-group egress rules from events. Each command has --help.",
        epilog="Output is a readable table on a terminal and JSON when piped (--format forces either).",
    )
    parser.add_argument("--version", action="version", version=f"sgrule {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    from .validate import add_parser as add_validate

    add_validate(sub)

    from .guardrails import add_parser as add_guardrails

    add_guardrails(sub)

    p = sub.add_parser("schemas", help="check (or --write) the JSON Schemas in schemas/",
                       description="Compare the committed JSON Schemas with the models. Exit 0 when they "
                       "match, 1 when a file is missing or stale (run with --write to regenerate them).")
    p.add_argument("--write", action="store_true", help="regenerate the files")
    p.add_argument("--dir", default=str(SCHEMA_DIR), help="schema folder (default: schemas)")
    p.set_defaults(func=cmd_schemas)

    from .normalise import add_parser as add_normalise

    add_normalise(sub)

    from . import lock, package, sdevs

    lock.add_parser(sub)
    package.add_parser(sub)
    sdevs.add_parser(sub)

    p = sub.add_parser("local", help="the local cloud: start | invoke | trigger | generate-event | pipeline "
                       "(see `sgrule local --help`)",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_local)
    return parser


def cmd_local(args: argparse.Namespace) -> int:
    from localcloud.cli import main as local_main

    from . import pipeline
    from .output import render_result

    return local_main(args.rest, prog="sgrule local", extensions={"pipeline": (pipeline.add_parser, pipeline.run)},
                      render=render_result, reset=_forget_instances)


def _forget_instances() -> None:
    """Every function's per-instance state, so `local invoke` builds it from the environment it sets."""
    from ..runtime import instance

    instance.reset()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["local"]:  # everything after `local` is localcloud's, --help included
        return cmd_local(argparse.Namespace(rest=argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):  # no command: say what there is
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

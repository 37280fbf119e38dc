"""The ``sgrule`` command: validate events, export schemas, normalise descriptions, run the local cloud.

Tooling only: the deployed functions never import this module.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

SCHEMA_DIR = Path("schemas")


def read_events(text: str) -> list[Any]:
    """One JSON event, a JSON array of events, or JSON lines; raises ValueError if none of these."""
    text = text.strip()
    if not text:
        raise ValueError("no events in the input")
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"not JSON, a JSON array or JSON lines: {type(exc).__name__}") from None
    return doc if isinstance(doc, list) else [doc]


def validate_lines(events: list[Any]) -> Iterator[tuple[bool, dict[str, Any]]]:
    from ..contract import safe
    from ..contract.errors import SgruleError
    from ..contract.event import parse_event

    for raw in events:
        ident = safe.optional(raw.get("id")) if isinstance(raw, dict) else None  # what a sender wrote, made safe
        try:
            parse_event(raw)
            yield True, {"id": ident, "valid": True, "error": None}
        except SgruleError as exc:
            yield False, {"id": ident, "valid": False, "error": exc.to_dict()}


def cmd_validate(args: argparse.Namespace) -> int:
    paths = args.files or ["-"]
    events: list[Any] = []
    for path in paths:
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
            events.extend(read_events(text))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            print(f"sgrule validate: cannot read {path}: {exc}", file=sys.stderr)
            return 2
    all_valid = True
    for ok, line in validate_lines(events):
        all_valid &= ok
        print(json.dumps(line, ensure_ascii=False, allow_nan=False))  # strict JSON (RFC 8259), always
    return 0 if all_valid else 1


def schemas() -> dict[str, dict[str, Any]]:
    """Every published JSON Schema, by file name, generated from the models."""
    from ..contract.schemas import all_schemas

    return all_schemas()


def cmd_schemas(args: argparse.Namespace) -> int:
    out = Path(args.dir)
    stale = []
    for name, schema in schemas().items():
        text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
        target = out / name
        if args.write:
            out.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
        elif not target.exists() or target.read_text(encoding="utf-8") != text:
            stale.append(str(target))
    if stale:
        print("stale (run `sgrule schemas --write`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgrule",
        description="Change Alibaba Cloud security-group egress rules from events.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check rule-change events against the API's documented constraints",
                       description="Validate rule-change events. Input: one JSON event, a JSON array of "
                       "events, or JSON lines. Prints one JSON line per event: "
                       '{"id", "valid", "error": {"code", "message", "field"} | null}. '
                       "Exit 0 all valid, 1 any invalid, 2 unreadable input.")
    p.add_argument("files", nargs="*", metavar="FILE", help="files to read; - or nothing for stdin")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schemas", help="check (or --write) the JSON Schemas in schemas/",
                       description="Compare the committed JSON Schemas with the models; exit 1 if stale.")
    p.add_argument("--write", action="store_true", help="regenerate the files")
    p.add_argument("--dir", default=str(SCHEMA_DIR), help="schema folder (default: schemas)")
    p.set_defaults(func=cmd_schemas)

    from .normalise import add_parser as add_normalise

    add_normalise(sub)

    p = sub.add_parser("local", help="the local cloud: start | invoke | trigger | generate-event | pipeline "
                       "(see `sgrule local --help`)",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_local)
    return parser


def cmd_local(args: argparse.Namespace) -> int:
    from localcloud.cli import main as local_main

    from . import pipeline

    return local_main(args.rest, prog="sgrule local", extensions={"pipeline": (pipeline.add_parser, pipeline.run)})


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["local"]:  # everything after `local` is localcloud's, --help included
        return cmd_local(argparse.Namespace(rest=argv[1:]))
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""`--help` everywhere: every command and sub-command of `sgrule` (the `local` ones included), `python -m
localcloud`, the local Jira and every benchmark script says what it does, and every option says what it is."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]


def walk(parser: argparse.ArgumentParser, path: str, summary: str | None = None
         ) -> Iterator[tuple[str, argparse.ArgumentParser, str | None]]:
    yield path, parser, summary
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield from walk(sub, f"{path} {name}", helps.get(name))


def parsers() -> list[tuple[str, argparse.ArgumentParser, str | None]]:
    from localcloud.cli import build_parser as local_parser
    from sgrule.cli import build_parser, pipeline

    # `sgrule local ...` is handed on whole to the local cloud's parser: that one is walked instead.
    found = [f for f in walk(build_parser(), "sgrule") if f[0] != "sgrule local"]
    found += walk(local_parser("sgrule local", {"pipeline": (pipeline.add_parser, pipeline.run)}), "sgrule local")
    return found


@pytest.mark.parametrize("path", [p for p, _, _ in parsers()])
def test_every_command_and_option_is_described(path: str) -> None:
    parser, summary = next((p, s) for name, p, s in parsers() if name == path)
    assert parser.description or summary, f"{path}: no description"
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
            continue
        assert action.help and action.help != argparse.SUPPRESS, f"{path}: {action.option_strings or action.dest}"


def sgrule_commands() -> list[list[str]]:
    return [p.split()[1:] for p, _, _ in parsers() if p != "sgrule"]


@pytest.mark.parametrize("argv", sgrule_commands(), ids=" ".join)
def test_help_prints_usage_and_exits_0(argv: list[str]) -> None:
    res = subprocess.run([sys.executable, "-m", "sgrule.cli", *argv, "--help"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"usage: sgrule {' '.join(argv)}") and res.stderr == ""


SCRIPTS = [["-m", "localcloud"], ["-m", "localcloud.jira"]] + [[str(p.relative_to(ROOT))]
                                                                for p in sorted((ROOT / "bench").glob("bench_*.py"))]


@pytest.mark.parametrize("argv", SCRIPTS, ids=" ".join)
def test_scripts_answer_help_without_running(argv: list[str]) -> None:
    res = subprocess.run([sys.executable, *argv, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage:")
    text = res.stdout.split("\n\n", 1)[1] if "\n\n" in res.stdout else ""
    assert len(text.split()) > 5  # a description, not only the usage line
    lines = res.stdout.splitlines()
    options = [line for line in lines if line.startswith("  -")]
    for line in options:  # every option has its own help text, on its line or the next one
        i = lines.index(line)
        described = len(line.split("  ")) > 2 or (i + 1 < len(lines) and lines[i + 1].startswith(" " * 10))
        assert described, f"{argv}: {line.strip()} has no help"

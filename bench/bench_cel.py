"""What a CEL library costs a function, measured as FC runs it, against a baseline in the same run.

For each candidate importable from the given site folders (default: this interpreter's): the cold import
(a fresh ``python -B -I``, the packages copied to a read-only-like folder of their own, once from source
only and once with their bytecode compiled ahead, as a packaged zip has it), then the compile and evaluate
cost of the ``authorize`` expressions the webhook runs, and a set of conformance cases (string functions,
``has()``, the macros, int/uint, errors on absent fields, errors absorbed by ``||``). Figures are medians,
each import also as a ratio over the baseline ``import pydantic`` (the webhook's settings) measured in the
same run. ``sgrule.cel`` is measured too, as the functions use it: the seam over common-expression-language
loads the library's compiled module alone (not its package, which imports a command-line UI), and
evaluates the example guardrails policy (``guardrails/example.yml``, four guardrails) once per change.

    python bench/bench_cel.py [--site DIR ...] [--rounds N]
"""
from __future__ import annotations

import argparse
import compileall
import json
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any, Callable

CANDIDATES = {"cel-python": "celpy", "common-expression-language": "cel", "sgrule.cel (seam)": "sgrule.cel"}
ROOT = Path(__file__).resolve().parents[1]
BASELINE = "pydantic"

_CHILD = textwrap.dedent("""
    import sys, time
    sys.path[:0] = {path!r}
    t = time.perf_counter()
    import {module}
    {then}
    print(time.perf_counter() - t)
""")
# A fresh process's first authorize: import, the first compile (a parser built on first use is paid here)
# and one evaluation.
FIRST = {
    "celpy": "env = celpy.Environment(); p = env.program(env.compile({expr!r})); "
             "p.evaluate({{'sender': celpy.json_to_cel('jira')}})",
    "cel": "cel.compile({expr!r}).execute({{'sender': 'jira'}})",
    "sgrule.cel": "sgrule.cel.evaluate(sgrule.cel.compile({expr!r}, {{'sender'}}), {{'sender': 'jira'}})",
}


def cold_import(python: str, path: list[str], module: str, rounds: int, then: str = "pass") -> float:
    times = []
    for _ in range(rounds):
        out = subprocess.run([python, "-B", "-I", "-c", _CHILD.format(path=path, module=module, then=then)],
                             capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip()))
    return statistics.median(times)


def copy_sites(sites: list[Path], dest: Path, compiled: bool) -> list[str]:
    out = []
    for i, site in enumerate(sites):
        target = dest / f"site{i}"
        shutil.copytree(site, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        if compiled:
            compileall.compile_dir(target, quiet=1, workers=1)
        out.append(str(target))
    return out


# --------------------------------------------------------------------------- the two libraries' APIs

def celpy_api() -> tuple[Callable[[str], Any], Callable[[Any, dict[str, Any]], Any]]:
    import celpy

    env = celpy.Environment()

    def compile_(expr: str) -> Any:
        return env.program(env.compile(expr))

    def run(program: Any, activation: dict[str, Any]) -> Any:
        result = program.evaluate({k: celpy.json_to_cel(v) for k, v in activation.items()})
        if isinstance(result, celpy.CELEvalError):
            raise RuntimeError(str(result))
        return result

    return compile_, run


def cel_api() -> tuple[Callable[[str], Any], Callable[[Any, dict[str, Any]], Any]]:
    import cel

    return cel.compile, lambda program, activation: program.execute(activation)


def seam_api() -> tuple[Callable[[str], Any], Callable[[Any, dict[str, Any]], Any]]:
    from sgrule import cel

    return (lambda expr: cel.compile(expr, set(ACTIVATION)), cel.evaluate)


API = {"celpy": celpy_api, "cel": cel_api, "sgrule.cel": seam_api}

PAYLOAD = {"issue": {"key": "SEC-1", "fields": {"status": {"name": "Approved"}, "labels": ["sgrule-approved"]}},
           "comment": {"author": {"accountId": "5b10ac8d82e05b22cc7d4ef5"}}}
BLOCK = {"from": "description", "author": {"id": "5b10", "name": "ana", "roles": ["MEMBER"]}}
ACTIVATION = {"payload": PAYLOAD, "headers": {"x-github-event": "issues"}, "sender": "jira", "block": BLOCK}
AUTHORIZE = ('block.from == "description" && payload.issue.fields.status.name == "Approved" '
             '&& payload.issue.fields.labels.exists(l, l == "sgrule-approved")')

# (expression, expected value, or "error")
CASES: list[tuple[str, Any]] = [
    ('"abc".startsWith("a") && "abc".endsWith("c") && "abc".contains("b")', True),
    ('"abc".matches("^a.c$")', True),
    ('size("héllo") == 5', True),
    ('has(payload.issue.fields.status)', True),
    ('has(payload.issue.fields.nothing)', False),
    ('payload.issue.fields.nothing == "x"', "error"),
    ('payload.issue.fields.nothing == "x" || true', True),
    ('payload.issue.fields.nothing == "x" && false', False),
    ('[1, 2, 3].exists(x, x > 2)', True),
    ('[1, 2, 3].all(x, x > 0)', True),
    ('[1, 2, 3].exists_one(x, x > 1)', False),
    ('[1, 2, 3].filter(x, x > 1).map(x, x * 2) == [4, 6]', True),
    ('block.author.roles.exists(r, r in ["OWNER", "MEMBER"])', True),
    ('1u + 2u == 3u', True),
    ('1 + 1u == 2', "error"),
    ('9223372036854775807 + 1 > 0', "error"),
    ('1 / 0 == 0', "error"),
    ('int("12") == 12 && string(12) == "12"', True),
    ('"x" in {"x": 1}', True),
    ('sender == "jira" && headers["x-github-event"] == "issues"', True),
    ('headers["absent"] == "x"', "error"),
    ('1 == "1"', False),
]


def conformance(module: str) -> tuple[int, list[str]]:
    compile_, run = API[module]()
    wrong = []
    for expr, want in CASES:
        try:
            got: Any = run(compile_(expr), ACTIVATION)
            got = bool(got) if isinstance(got, bool) or type(got).__name__ == "BoolType" else got
        except Exception as exc:  # noqa: BLE001 - any failure of the library is an "error" result
            got = "error" if want == "error" else f"error: {type(exc).__name__}: {str(exc)[:80]}"
        if got != want:
            wrong.append(f"{expr}  -> {got!r} (want {want!r})")
    return len(CASES) - len(wrong), wrong


def speed(module: str, n: int) -> tuple[float, float]:
    compile_, run = API[module]()
    t = time.perf_counter()
    for _ in range(n):
        compile_(AUTHORIZE)
    compile_us = (time.perf_counter() - t) / n * 1e6
    program = compile_(AUTHORIZE)
    t = time.perf_counter()
    for _ in range(n):
        run(program, ACTIVATION)
    return compile_us, (time.perf_counter() - t) / n * 1e6


def guardrails_us(n: int) -> float:
    """One change's evaluation of the example policy (every guardrail, one activation), in microseconds."""
    from sgrule.guardrails import load

    policy = load(ROOT / "guardrails" / "example.yml")
    rule = {"Policy": "accept", "Priority": 1, "IpProtocol": "TCP", "PortRange": "1000/1000",
            "DestCidrIp": "10.0.0.0/24", "NicType": "intranet", "Description": "new"}
    activation = {"rule": rule, "before": {**rule, "Description": "old"}, "group": {"id": "sg-1", "regionId": "r"},
                  "change": {"specversion": "1.0", "id": "c", "source": "bench", "type": "sgrule.egress.modify",
                             "time": "2026-11-27T10:00:00Z", "data": {"Description": "new"}}}
    policy.evaluate(activation)
    t = time.perf_counter()
    for _ in range(n):
        policy.evaluate(activation)
    return (time.perf_counter() - t) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", action="append", type=Path, help="a site-packages folder to measure from "
                                                                     "(default: this interpreter's)")
    parser.add_argument("--rounds", type=int, default=9, help="cold imports per figure (median)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    sites = args.site or [Path(sysconfig.get_paths()["purelib"])]
    for s in sites:
        sys.path.insert(0, str(s))
    sites = sites + [ROOT / "shared"]  # sgrule.cel, the seam (copied like the rest)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cel-") as tmp:
        source = copy_sites(sites, Path(tmp) / "source", compiled=False)
        compiled = copy_sites(sites, Path(tmp) / "compiled", compiled=True)
        for label, path in (("source", source), ("bytecode", compiled)):
            base = cold_import(sys.executable, path, BASELINE, args.rounds)
            figures[f"baseline import {BASELINE} ({label})"] = {"s": round(base, 4)}
            for dist, module in CANDIDATES.items():
                try:
                    __import__(module)
                except ImportError:
                    continue
                t = cold_import(sys.executable, path, module, args.rounds)
                figures[f"{dist}: import {module} ({label})"] = {"s": round(t, 4), "x baseline": round(t / base, 2)}
                then = FIRST[module].format(expr='sender == "jira" && "a".startsWith("a")')
                t = cold_import(sys.executable, path, module, args.rounds, then)
                figures[f"{dist}: import + first compile + evaluate ({label})"] = {
                    "s": round(t, 4), "x baseline": round(t / base, 2)}
    for dist, module in CANDIDATES.items():
        if module not in sys.modules:
            figures[dist] = "not installed"
            continue
        c_us, e_us = speed(module, 200)
        passed, wrong = conformance(module)
        figures[f"{dist}: compile authorize (us)"] = round(c_us, 1)
        figures[f"{dist}: evaluate authorize (us)"] = round(e_us, 1)
        figures[f"{dist}: conformance"] = f"{passed}/{len(CASES)}"
        if wrong:
            figures[f"{dist}: wrong"] = wrong
    try:
        figures["sgrule.cel (seam): the example guardrails, one change (us)"] = round(guardrails_us(2000), 1)
    except ImportError:
        pass
    if args.json or not sys.stdout.isatty():
        print(json.dumps(figures, indent=2, ensure_ascii=False))
    else:
        for k, v in figures.items():
            print(f"{k:60} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

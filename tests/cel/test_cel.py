"""sgrule.cel: the one CEL seam the webhook's ``authorize`` and apply's guardrails share. What callers rely
on: compile errors with a position, undeclared names refused before any request, CEL's evaluation rules
(errors on absent fields, absorbed by ``||``), custom functions, and fail-closed ``is_true``."""
from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from sgrule import cel

VARS = {"payload", "headers", "sender", "block"}
ACT: dict[str, Any] = {
    "payload": {"issue": {"key": "SEC-1", "fields": {"status": {"name": "Approved"}, "labels": ["sgrule-approved"]}},
                "huge": 2 ** 70},
    "headers": {"x-github-event": "issues"}, "sender": "jira",
    "block": {"from": "description", "author": {"id": "5b10", "name": "ana", "roles": ["MEMBER"]}},
}


def value(expr: str) -> Any:
    return cel.evaluate(cel.compile(expr, VARS), ACT)


@pytest.mark.parametrize("expr, want", [
    ('"abc".startsWith("a") && "abc".endsWith("c") && "abc".contains("b")', True),
    ('"abc".matches("^a.c$")', True),
    ('size("héllo")', 5),
    ('has(payload.issue.fields.status)', True),
    ('has(payload.issue.fields.nothing)', False),
    ('payload.issue.fields.nothing == "x" || true', True),
    ('payload.issue.fields.nothing == "x" && false', False),
    ('[1, 2, 3].exists(x, x > 2) && [1, 2, 3].all(x, x > 0)', True),
    ('[1, 2, 3].exists_one(x, x > 1)', False),
    ('[1, 2, 3].filter(x, x > 1).map(x, x * 2)', [4, 6]),
    ('block.author.roles.exists(r, r in ["OWNER", "MEMBER"])', True),
    ('1u + 2u == 3u', True),
    ('int("12") == 12 && string(12) == "12"', True),
    ('headers["x-github-event"]', "issues"),
    ('payload.issue', {"key": "SEC-1", "fields": {"status": {"name": "Approved"}, "labels": ["sgrule-approved"]}}),
])
def test_cel_semantics(expr: str, want: Any) -> None:
    assert value(expr) == want


@pytest.mark.parametrize("expr", ['payload.issue.fields.nothing == "x"', 'headers["absent"] == "x"',
                                  '9223372036854775807 + 1 > 0', '1 / 0 == 0', 'payload.huge > 0'])
def test_evaluation_errors_raise_and_fail_closed(expr: str) -> None:
    program = cel.compile(expr, VARS)
    with pytest.raises(cel.EvaluationError):
        cel.evaluate(program, ACT)
    assert cel.is_true(program, ACT) is False


@pytest.mark.parametrize("expr, line, column, words", [
    ('payload.a ==', 1, 13, "not a CEL expression"),  # the end of the input, where an operand is missing
    ('a == == b', 1, 6, "not a CEL expression"),
    ('block.from == "description" &&\n  approver == "x"', 2, 3, "undeclared variable 'approver'"),
    ('frobnicate(payload)', 1, 1, "unknown function 'frobnicate'"),
])
def test_compile_errors_say_where(expr: str, line: int, column: int, words: str) -> None:
    with pytest.raises(cel.CompileError) as info:
        cel.compile(expr, VARS)
    assert (info.value.line, info.value.column) == (line, column) and words in str(info.value)


def test_macro_variables_are_not_free_and_empty_or_long_expressions_are_refused() -> None:
    assert cel.compile('payload.issue.fields.labels.all(l, l != "x")', {"payload"}).variables == {"payload"}
    for bad in ("", "   ", "true || " * 1000 + "true"):
        with pytest.raises(cel.CompileError):
            cel.compile(bad, VARS)


@pytest.mark.parametrize("expr", ["1", '"true"', "[true]", "null", 'payload.issue.key'])
def test_is_true_only_for_exactly_true(expr: str) -> None:
    assert cel.is_true(cel.compile(expr, VARS), ACT) is False
    assert cel.is_true(None, ACT) is False


def test_a_missing_variable_fails_closed() -> None:
    program = cel.compile('sender == "jira"', VARS)
    with pytest.raises(cel.EvaluationError):
        cel.evaluate(program, {"sender": "jira"})
    assert not cel.is_true(program, {"sender": "jira"})


def test_custom_functions_take_and_return_python_values_and_their_failures_are_cel_errors() -> None:
    cel.register("test_prefix_len", lambda cidr: int(cidr.rsplit("/", 1)[1]))
    cel.register("test_explodes", lambda x: 1 / 0)
    assert value('test_prefix_len("10.0.0.0/8") == 8 && "10.1.0.0/16".test_prefix_len() == 16') is True
    assert value('test_explodes(1) || true') is True
    with pytest.raises(cel.EvaluationError, match="test_explodes"):
        value('test_explodes(1)')


def test_deep_activation_values_are_an_error_not_a_crash() -> None:
    deep: Any = "x"
    for _ in range(500):
        deep = {"a": deep}
    program = cel.compile('has(payload.a)', {"payload"})
    assert cel.evaluate(program, {"payload": deep}) is True
    assert not cel.is_true(cel.compile('payload' + '.a' * 100 + ' == "x"', {"payload"}), {"payload": deep})


def test_importing_the_seam_does_not_load_the_library() -> None:
    code = "import sys, sgrule.cel; print('cel' in sys.modules or 'cel.cel' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_evaluate_all_gives_each_program_what_it_reads_and_an_error_each() -> None:
    act = {"rule": {"a": "1", "b": "2", "c": 3}, "other": {"x": "y"}}
    fields = cel.compile('has(rule.a) && !has(rule.z) && other.x == "y"', {"rule", "other"})
    whole = cel.compile('size(rule) == 3 && rule.all(k, k in ["a", "b", "c"])', {"rule"})
    indexed = cel.compile('rule["c"] == 3', {"rule"})
    broken = cel.compile('rule.z == 1', {"rule"})
    assert cel.evaluate_all([fields, broken], act)[0] is True
    assert cel.evaluate_all([fields], act) == [True]
    assert cel.evaluate_all([fields, whole, indexed], act) == [True, True, True]
    assert cel.evaluate_all([whole], {"rule": act["rule"]}) == [True]
    assert cel.evaluate_all([indexed], act) == [True]
    [error] = cel.evaluate_all([broken], act)
    assert isinstance(error, cel.EvaluationError) and "z" in error.message


def test_the_library_loads_alone_without_its_command_line_tool() -> None:
    """The package's own __init__ imports its command-line UI (typer, rich, prompt_toolkit): a cold start
    that compiles a policy loads the compiled module only."""
    code = ("import sys; from sgrule import cel; cel.evaluate(cel.compile('x + 1 == 2', {'x'}), {'x': 1}); "
            "print(sorted(m for m in ('cel', 'cel.cli', 'typer', 'rich', 'prompt_toolkit', 'pygments') "
            "if m in sys.modules), 'cel.cel' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] True"
